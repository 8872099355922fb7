"""The deadline-peak load script (MISSION.md R8.2): many simultaneous sessions of clerks saving and
submitting children and county reviewers approving them, bounded in count and time.

Two drivers (``driver=``, ``--driver``), neither of them the websocket:

- ``pages`` (``portal.benchmarks.load_pages``): each session is a Streamlit ``AppTest`` of the real
  entrypoint in its own thread, logged in through the login form, clicking 保存, 提交审核 and
  审核通过 on the real pages; latency is the page run after the click, outcomes are read from what
  the page shows.
- ``services``: the service layer, the same functions the pages call (``children.save_child``,
  ``children.submit_children``, ``workflow.queue``, ``workflow.decide``), from one thread per
  simulated session in this process, each with its own database connection.

Every reviewer of the county works the same queue and picks one of its first ten rows at random,
so reviewers race for the same requests on purpose (their losses are the ``conflict`` errors).

Afterwards it checks the database against what every call returned: each save that returned
success is there and each one that failed is not; each submit that returned success opened a
request and each failed one did not; no request was approved twice (one ``approve`` event per
approved request, as many as the approvals that returned success, each child approved); every
institution's progress counters equal a recount of its rows (no lost increment). It prints
throughput, p50/p95 latency per operation and the errors by kind: ``busy`` is SQLite's "数据库正忙，请稍后重试"
(``DatabaseBusyError``, nothing written), ``conflict`` a decision another reviewer made first,
``deadlock`` PostgreSQL's deadlock_detected, ``unique_violation`` a unique key two transactions
raced for (nothing written either way), anything else ``unexpected``.
"""

from __future__ import annotations

import math
import os
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlmodel import col, func, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.roles import Duty, Level
from portal.benchmarks.scratch import ensure_secrets, is_postgres, load_henan_regions, scratch_database, shown
from portal.data import counters, db, migrate
from portal.data.models import Child, Institution, InstitutionProgress, Request, RequestEvent, User
from portal.services import children, workflow
from portal.services.errors import DatabaseBusyError, ServiceError
from portal.services.identity import check_character
from portal.settings import reset_settings_cache

Echo = Callable[[str], None]

COUNTY = "410122"  # 中牟县: every institution of the load, one county's reviewers
PASSWORD = "Load#Peak2026x"
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ("子涵", "欣怡", "梓轩", "浩然", "一诺", "雨桐", "宇轩", "诗涵", "沐阳", "若汐", "思远", "嘉怡")
OPERATIONS = ("login", "save", "submit", "queue", "open", "approve")
WRITES = ("save", "submit", "approve")  # the operations the throughput counts
DRIVERS = ("services", "pages")
CONFLICT_MARKS = ("已被其他审核人处理", "已由其他审核人处理", "已处理")


@dataclass(frozen=True)
class Call:
    operation: str
    seconds: float
    outcome: str  # ok / busy / conflict / refused / deadlock / serialization / unique_violation / stale / unexpected


@dataclass
class Ledger:
    """What the sessions were told, to check against the database afterwards."""

    calls: list[Call] = field(default_factory=list)
    saved: list[str] = field(default_factory=list)  # id_hash of each save that returned success
    failed_saves: list[str] = field(default_factory=list)  # id_hash of each save that failed
    submitted: list[int] = field(default_factory=list)  # child ids submitted with success
    failed_submits: list[int] = field(default_factory=list)
    approved: list[int] = field(default_factory=list)  # request ids approved with success
    unexpected: list[str] = field(default_factory=list)  # the first messages of unexpected errors


@dataclass(frozen=True)
class OperationFigures:
    operation: str
    count: int
    ok: int
    p50_ms: float
    p95_ms: float
    errors: dict[str, int]


@dataclass(frozen=True)
class LoadReport:
    database: str
    sessions: int
    clerks: int
    reviewers: int
    seconds: float
    busy_timeout_ms: int | None
    operations: list[OperationFigures]
    lost_saves: int  # returned success, not in the database
    phantom_saves: int  # returned an error, yet in the database
    lost_submits: int
    phantom_submits: int
    double_approvals: int  # requests with more than one approve event
    approvals_unmatched: int  # approvals told success without exactly one event and an approved child
    counter_drift: int  # institutions whose progress counters differ from a recount
    deadlocks: int
    busy: int
    unexpected: list[str]
    driver: str = "services"

    @property
    def ok_operations(self) -> int:
        return sum(o.ok for o in self.operations if o.operation in WRITES)

    @property
    def consistent(self) -> bool:
        return not (
            self.lost_saves
            or self.phantom_saves
            or self.lost_submits
            or self.phantom_submits
            or self.double_approvals
            or self.approvals_unmatched
            or self.counter_drift
        )

    def lines(self) -> list[str]:
        out = [
            f"load: {self.sessions} simultaneous sessions ({self.clerks} clerks saving and submitting children, "
            f"{self.reviewers} county reviewers approving) for {self.seconds:.1f} s on {self.database}",
            f"  driver: {self.driver}: " + DRIVER_LINES[self.driver],
        ]
        if self.busy_timeout_ms is not None:
            out.append(f"  SQLite busy timeout: {self.busy_timeout_ms} ms")
        out.append(
            f"throughput: {self.ok_operations / self.seconds:.1f} successful writes/s "
            f"(saves, submits, approvals; {self.ok_operations} in all)"
        )
        out.append(f"{'operation':<10}{'calls':>7}{'ok':>7}{'p50 ms':>9}{'p95 ms':>9}  errors by kind")
        for o in self.operations:
            errors = ", ".join(f"{k} {v}" for k, v in sorted(o.errors.items())) or "-"
            out.append(f"{o.operation:<10}{o.count:>7}{o.ok:>7}{o.p50_ms:>9.1f}{o.p95_ms:>9.1f}  {errors}")
        out.append(
            f"check: lost saves {self.lost_saves}, phantom saves {self.phantom_saves}, lost submits "
            f"{self.lost_submits}, phantom submits {self.phantom_submits}, double approvals "
            f"{self.double_approvals}, approvals without exactly one event {self.approvals_unmatched}, "
            f"institutions whose progress counters differ from a recount {self.counter_drift}"
        )
        out.append(f"busy (数据库正忙，请稍后重试): {self.busy}; deadlocks: {self.deadlocks}")
        for message in self.unexpected[:5]:
            out.append(f"  unexpected: {message}")
        out.append("consistent: yes" if self.consistent else "consistent: NO")
        return out


DRIVER_LINES = {
    "services": "the service layer (the functions the pages call), one thread and one database connection "
    "per session in one process; not the websocket",
    "pages": "the pages, one streamlit AppTest of streamlit_app.py per session, each in its own thread in one "
    "process (sharing the GIL), logged in through the login form, clicking the real buttons; not the websocket",
}


def classify(exc: BaseException) -> str:
    """The kind of a failed call, for the error counts."""
    if isinstance(exc, DatabaseBusyError):
        return "busy"
    if isinstance(exc, ServiceError):
        return "conflict" if any(mark in str(exc) for mark in CONFLICT_MARKS) else "refused"
    if isinstance(exc, DBAPIError):
        state = getattr(exc.orig, "sqlstate", None)
        if state == "40P01":
            return "deadlock"
        if state == "40001":
            return "serialization"
        if state == "23505":
            return "unique_violation"
    return "unexpected"


def _resident_id(birth: date, sequence: int) -> str:
    body = f"{COUNTY}{birth:%Y%m%d}{sequence:03d}"
    return body + check_character(body)


class _Numbers:
    """Unique, valid ID numbers for the children the sessions save (thread-safe)."""

    def __init__(self, today: date) -> None:
        self.enrolment = date(today.year if today.month >= 9 else today.year - 1, 9, 1)
        self.first_birth = date(self.enrolment.year - 4, 1, 1)
        self.next = 0
        self.lock = threading.Lock()

    def form(self, class_name: str) -> tuple[dict[str, Any], str]:
        with self.lock:
            index = self.next
            self.next += 1
        birth = self.first_birth + timedelta(days=index // 999)
        sequence = index % 999 + 1
        number = _resident_id(birth, sequence)
        values = {
            "name": SURNAMES[index % len(SURNAMES)] + GIVEN[(index // len(SURNAMES)) % len(GIVEN)],
            "gender": "男" if sequence % 2 else "女",
            "birth_date": birth.isoformat(),
            "document_type": "居民身份证",
            "document_number": number,
            "nationality": "中国",
            "ethnicity": "汉族",
            "hukou_region": "河南省郑州市中牟县",
            "address": f"中牟县官渡镇 {index % 500} 号",
            "guardian1_relation": "母亲",
            "guardian1_name": "王芳",
            "guardian1_phone": f"139{index % 100_000_000:08d}",
            "enrolment_date": self.enrolment.isoformat(),
            "class_name": class_name,
            "flag_left_behind": False,
        }
        return values, children.document_hash("居民身份证", number)


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    reset_settings_cache()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        reset_settings_cache()


def _actor(username: str) -> Actor:
    from portal.services.login import build_actor

    with db.session_scope() as session:
        return build_actor(session, session.exec(select(User).where(User.username == username)).one())


def prepare(clerks: int, reviewers: int, backlog: int, numbers: _Numbers) -> tuple[list[Actor], list[Actor]]:
    """Regions, one institution with a class per clerk, the county's reviewers, and ``backlog``
    submitted children per institution so that the reviewers have work from the start."""
    from portal.services.accounts import NewUser, create_user
    from portal.services.institutions import InstitutionInput, register_institution

    load_henan_regions()
    clerk_actors, reviewer_actors = [], []
    for number in range(1, clerks + 1):
        code = f"{COUNTY}9{number:03d}"
        register_institution(
            SYSTEM_ACTOR,
            InstitutionInput(code, f"压力测试第{number}幼儿园", "独立设置幼儿园", "公办", True, "村庄", COUNTY),
        )
        username = f"load-clerk-{number}"
        create_user(
            SYSTEM_ACTOR,
            NewUser(username, "压力测试填报员", Level.INSTITUTION, Duty.ENTRY, PASSWORD, institution_code=code),
        )
        clerk = _actor(username)
        children.create_class(
            clerk, {"name": "1班", "grade": "混龄", "school_year": children.school_year_of(numbers.enrolment)}
        )
        ids = [children.save_child(clerk, numbers.form("1班")[0]).child_id for _ in range(backlog)]
        if ids:
            children.submit_children(clerk, ids)
        clerk_actors.append(clerk)
    for number in range(1, reviewers + 1):
        username = f"load-reviewer-{number}"
        create_user(
            SYSTEM_ACTOR, NewUser(username, "压力测试审核员", Level.COUNTY, Duty.REVIEWER, PASSWORD, region_code=COUNTY)
        )
        reviewer_actors.append(_actor(username))
    return clerk_actors, reviewer_actors


def _timed(ledger: Ledger, operation: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    started = time.perf_counter()
    try:
        result = call(*args, **kwargs)
    except Exception as exc:  # every failure is counted by kind; the session goes on
        kind = classify(exc)
        ledger.calls.append(Call(operation, time.perf_counter() - started, kind))
        if kind in ("unexpected", "unique_violation") and len(ledger.unexpected) < 20:
            message = " | ".join(str(exc).splitlines()[:2])[:240]
            ledger.unexpected.append(f"{operation}: {type(exc).__name__}: {message}")
        return False, exc
    ledger.calls.append(Call(operation, time.perf_counter() - started, "ok"))
    return True, result


def _clerk_session(clerk: Actor, numbers: _Numbers, ledger: Ledger, deadline: float, max_ops: int) -> None:
    for _ in range(max_ops):
        if time.perf_counter() >= deadline:
            return
        values, id_hash = numbers.form("1班")
        ok, result = _timed(ledger, "save", children.save_child, clerk, values)
        if not ok:
            ledger.failed_saves.append(id_hash)
            continue
        ledger.saved.append(id_hash)
        child_id = result.child_id
        ok, _ = _timed(ledger, "submit", children.submit_children, clerk, [child_id])
        (ledger.submitted if ok else ledger.failed_submits).append(child_id)


def _reviewer_session(reviewer: Actor, seed: int, ledger: Ledger, deadline: float, max_ops: int) -> None:
    pick = random.Random(seed)
    for _ in range(max_ops):
        if time.perf_counter() >= deadline:
            return
        ok, page = _timed(ledger, "queue", workflow.queue, reviewer, limit=10)
        if not ok:
            continue
        if not page.rows:
            time.sleep(0.02)
            continue
        request_id = pick.choice(page.rows).id
        ok, _ = _timed(ledger, "approve", workflow.decide, reviewer, request_id, "approve")
        if ok:
            ledger.approved.append(request_id)


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)] * 1000


def _figures(ledger: Ledger) -> list[OperationFigures]:
    found = []
    for operation in OPERATIONS:
        calls = [c for c in ledger.calls if c.operation == operation]
        if not calls:
            continue
        ok = [c.seconds for c in calls if c.outcome == "ok"]
        found.append(
            OperationFigures(
                operation,
                len(calls),
                len(ok),
                statistics.median(ok) * 1000 if ok else 0.0,
                _percentile(ok, 0.95),
                dict(Counter(c.outcome for c in calls if c.outcome != "ok")),
            )
        )
    return found


def _in_chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def verify(ledger: Ledger) -> dict[str, int]:
    """Compare what the sessions were told with what the database holds."""
    with db.session_scope() as session:
        present: set[str] = set()
        for chunk in _in_chunks(ledger.saved + ledger.failed_saves):
            present.update(session.exec(select(Child.id_hash).where(col(Child.id_hash).in_(chunk))).all())
        lost_saves = sum(1 for h in ledger.saved if h not in present)
        phantom_saves = sum(1 for h in ledger.failed_saves if h in present)
        requested: set[str] = set()
        for chunk in _in_chunks([str(i) for i in ledger.submitted + ledger.failed_submits]):
            requested.update(
                session.exec(
                    select(Request.subject_id).where(
                        Request.kind == children.KIND_CHILD, col(Request.subject_id).in_(chunk)
                    )
                ).all()
            )
        lost_submits = sum(1 for i in ledger.submitted if str(i) not in requested)
        phantom_submits = sum(1 for i in ledger.failed_submits if str(i) in requested)
        events = dict(
            session.exec(
                select(RequestEvent.request_id, func.count())
                .where(RequestEvent.action == "approve")
                .group_by(col(RequestEvent.request_id))
            ).all()
        )
        double = sum(1 for n in events.values() if n > 1)
        approved_rows = set(session.exec(select(Request.id).where(Request.state == "approved")).all())
        applied: set[int] = set()  # approved requests whose child was approved (numbered) or disputed
        for chunk in _in_chunks(list(approved_rows)):
            applied.update(
                session.exec(
                    select(Child.request_id).where(
                        col(Child.request_id).in_(chunk), col(Child.state).in_(("approved", "problem"))
                    )
                ).all()
            )
        drift = 0  # institutions whose progress counters differ from a recount of their rows
        for institution in session.exec(select(Institution)).all():
            fresh = counters.count_institution(session, institution)
            row = session.get(InstitutionProgress, institution.id)
            if row is None or any(getattr(row, name) != fresh[name] for name in counters.FIGURES):
                drift += 1
    told = Counter(ledger.approved)
    unmatched = sum(
        1 for i, n in told.items() if n != 1 or events.get(i) != 1 or i not in approved_rows or i not in applied
    )
    unmatched += sum(1 for i in events if i not in told)  # an approval written but reported failed
    return {
        "lost_saves": lost_saves,
        "phantom_saves": phantom_saves,
        "lost_submits": lost_submits,
        "phantom_submits": phantom_submits,
        "double_approvals": double,
        "approvals_unmatched": unmatched,
        "counter_drift": drift,
    }


def run_load(
    *,
    sessions: int = 20,
    seconds: float = 30.0,
    max_ops: int = 1000,
    database_url: str | None = None,
    busy_timeout_ms: int | None = None,
    backlog: int = 5,
    driver: str = "services",
    echo: Echo = print,
) -> LoadReport:
    """Run the load on a scratch database: a temporary SQLite file, or a new schema inside the
    PostgreSQL database ``database_url`` (dropped afterwards). Prints and returns the figures.

    ``driver`` is ``services`` (threads calling the service layer) or ``pages`` (an AppTest of the
    real entrypoint per session: ``portal.benchmarks.load_pages``; logins happen before the timed
    phase)."""
    if sessions < 2:
        raise ValueError("at least 2 sessions: one clerk and one reviewer")
    if driver not in DRIVERS:
        raise ValueError(f"driver must be one of {', '.join(DRIVERS)}")
    ensure_secrets()
    clerks = math.ceil(sessions / 2)
    reviewers = sessions - clerks
    environment = {
        # Cheap hashes for the scratch accounts: the services driver never logs in, the pages
        # driver does so once per session, before the timed phase.
        "PORTAL_BCRYPT_ROUNDS": "4",
        "PORTAL_DB_POOL_SIZE": str(sessions + 2),  # one connection per session (PostgreSQL)
        "PORTAL_DB_MAX_OVERFLOW": "4",
    }
    if busy_timeout_ms is not None:
        environment["PORTAL_SQLITE_BUSY_TIMEOUT_MS"] = str(busy_timeout_ms)
    postgres = is_postgres(database_url)
    with _environment(environment), scratch_database(database_url if postgres else None, "load") as url:
        engine = db.configure(url)
        try:
            migrate.upgrade(engine)
            numbers = _Numbers(workflow.local_today())
            echo(f"preparing {clerks} institutions and clerks, {reviewers} reviewers on {shown(url)} ...")
            clerk_actors, reviewer_actors = prepare(clerks, reviewers, backlog, numbers)
            ledger = Ledger()
            if driver == "pages":
                from portal.benchmarks.load_pages import run_sessions

                echo(f"logging {sessions} sessions in through the login form ...")
                elapsed = run_sessions(clerk_actors, reviewer_actors, numbers, ledger, seconds, max_ops)
            else:
                elapsed = _run_services(clerk_actors, reviewer_actors, numbers, ledger, seconds, max_ops)
            checks = verify(ledger)
        finally:
            db.dispose()
    kinds = Counter(c.outcome for c in ledger.calls)
    report = LoadReport(
        database="PostgreSQL" if postgres else "SQLite",
        sessions=sessions,
        clerks=clerks,
        reviewers=reviewers,
        seconds=elapsed,
        busy_timeout_ms=None if postgres else (busy_timeout_ms or _sqlite_timeout()),
        operations=_figures(ledger),
        deadlocks=kinds.get("deadlock", 0),
        busy=kinds.get("busy", 0),
        unexpected=ledger.unexpected,
        driver=driver,
        **checks,
    )
    for line in report.lines():
        echo(line)
    return report


def _run_services(
    clerk_actors: list[Actor],
    reviewer_actors: list[Actor],
    numbers: _Numbers,
    ledger: Ledger,
    seconds: float,
    max_ops: int,
) -> float:
    """The services driver: one thread per session calling the service layer; the seconds it took."""
    started = time.perf_counter()
    deadline = started + seconds
    threads = [
        threading.Thread(target=_clerk_session, args=(c, numbers, ledger, deadline, max_ops), daemon=True)
        for c in clerk_actors
    ] + [
        threading.Thread(target=_reviewer_session, args=(r, n, ledger, deadline, max_ops), daemon=True)
        for n, r in enumerate(reviewer_actors)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def _sqlite_timeout() -> int:
    from portal.settings import get_settings

    return get_settings().sqlite_busy_timeout_ms
