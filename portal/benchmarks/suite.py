"""``python -m portal bench all``: every benchmark, on SQLite and (given a URL) on PostgreSQL, in one
table of figures and ratios (issue 9, "The benchmark suite"). Figures only: nothing is asserted.

Per database it builds scratch databases (a temporary SQLite file; a new schema inside the given
PostgreSQL database, dropped afterwards) and measures:

- import: ``bench import`` at the suite's size (import rate against raw driver inserts);
- duplicate look-up: one child's province-wide duplicate query (``children.find_duplicate``) by
  document hash and by identity hash, in the import's table of children; database time, median;
- review-queue page: a backlog of PAGES pages of 50 pending requests for one county reviewer
  (bulk inserts, plus as many decided requests of another county), then ``workflow.queue`` for the
  first page and, keyset, for the last one: database time, median, and the last/first ratio;
- dashboard: the provincial page at two scales of the Henan province (``demo --scale``), served by
  a process of its own (``page_process``), page and database time and their ratio;
- memory: that process's peak resident memory (``ru_maxrss``): a process that logged in and served
  the dashboard page at both scales, and nothing else; and (unless ``browser=False``) the peak
  resident memory (VmHWM) of a real ``streamlit run`` server on the larger database while three
  headless Chromium sessions log in and open the dashboard five times each (``server_memory``; one
  session, two views under scale 0.5);
- month-end snapshot: ``snapshots.take_due`` for the province of the larger dashboard database.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import event, insert, text
from sqlmodel import col, func, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.roles import Duty, Level
from portal.benchmarks.load import _environment
from portal.benchmarks.scratch import ensure_secrets, is_postgres, scratch_database
from portal.data import db
from portal.data.models import Child, Institution, Request, User
from portal.services import children, snapshots, workflow

Echo = Callable[[str], None]

PAGE_SIZE = 50
PAGES = 2_500
CHILDREN = 1_000_000  # the import benchmark as issue 4 set it: 10,000 rows into a million children
IMPORT_ROWS = 10_000
DASHBOARD_LARGE = 0.1
DASHBOARD_SMALL = 0.01
QUEUE_COUNTY = "410122"  # the import bench's other institution is here
OTHER_COUNTY = "410102"
CHUNK = 10_000


@dataclass(frozen=True)
class Row:
    benchmark: str
    figure: str
    target: str


@dataclass
class Column:
    database: str
    figures: dict[str, str] = field(default_factory=dict)
    raw: dict[str, float] = field(default_factory=dict)


ROWS = (
    Row("import", "import / raw driver rows/s, ratio", ">= 0.25"),
    Row("import", "duplicates_among, ms", "< 100 ms (SQLite)"),
    Row("duplicate look-up", "by document hash, db ms", ""),
    Row("duplicate look-up", "by identity hash, db ms", ""),
    Row("review queue", "first page, db ms", "< 5 ms"),
    Row("review queue", "last page (keyset), db ms", "< 5 ms"),
    Row("review queue", "last / first", "< 2"),
    Row("review queue", "of which the count (capped at 1,000), last page, ms", ""),
    Row("dashboard", "large scale: page / db ms", "< 50 ms page (Henan)"),
    Row("dashboard", "small scale: page / db ms", ""),
    Row("dashboard", "page ratio large / small", "< 1.5"),
    Row("month-end snapshot", "take_due, ms", ""),
    Row("memory", "peak resident memory of the page process, MB", "< 300 MB"),
    Row("memory", "peak resident memory of a streamlit run server, MB", "< 300 MB"),
)


def _key(row: Row) -> str:
    return f"{row.benchmark}: {row.figure}"


def _scaled(value: int, scale: float, least: int) -> int:
    return max(least, int(value * scale))


@contextmanager
def _statement_timer() -> Iterator[list[tuple[str, float]]]:
    """(statement, seconds in the driver) for each statement on the process engine."""
    spent: list[tuple[str, float]] = []
    engine = db.get_engine()

    def before(conn: Any, _cursor: Any, _statement: Any, _parameters: Any, _context: Any, _many: Any) -> None:
        conn.info.setdefault("suite_started", []).append(time.perf_counter())

    def after(conn: Any, _cursor: Any, statement: Any, _parameters: Any, _context: Any, _many: Any) -> None:
        spent.append((str(statement), time.perf_counter() - conn.info["suite_started"].pop()))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield spent
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def _median_db_ms(call: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Median database time of ``call`` (all its statements) and of its COUNT statements, in ms."""
    call()  # warm: the connection, the query plan
    totals, counts = [], []
    for _ in range(runs):
        with _statement_timer() as spent:
            call()
        totals.append(sum(s for _, s in spent))
        counts.append(sum(s for statement, s in spent if "count(" in statement.lower()))
    return statistics.median(totals) * 1000, statistics.median(counts) * 1000


def duplicate_lookup(samples: int = 200) -> tuple[float, float, int]:
    """Median database time of ``find_duplicate`` by document hash and by identity hash."""
    with db.session_scope() as session:
        total = session.exec(select(Child.id).order_by(col(Child.id).desc())).first() or 0
        step = max(1, total // samples)
        found = session.exec(
            select(Child.id_hash, Child.identity_hash, Child.province_code)
            .where(col(Child.id) % step == 0, col(Child.id_hash).is_not(None))
            .limit(samples)
        ).all()
    probes = [
        (
            Child(id=-1, province_code=p, id_hash=h, identity_hash=i),
            Child(id=-1, province_code=p, id_hash=None, identity_hash=i),
        )
        for h, i, p in found
    ]
    by_document, by_identity = [], []
    with db.session_scope() as session:
        children.find_duplicate(session, probes[0][0])  # warm
        for document_probe, identity_probe in probes:
            with _statement_timer() as spent:
                children.find_duplicate(session, document_probe)
            by_document.append(sum(s for _, s in spent))
            with _statement_timer() as spent:
                children.find_duplicate(session, identity_probe)
            by_identity.append(sum(s for _, s in spent))
    return statistics.median(by_document) * 1000, statistics.median(by_identity) * 1000, total


def _reviewer() -> Actor:
    from portal.services.accounts import NewUser, create_user
    from portal.services.login import build_actor

    username = "bench-county-reviewer"
    create_user(
        SYSTEM_ACTOR,
        NewUser(username, "基准测试审核员", Level.COUNTY, Duty.REVIEWER, "Bench#Queue2026", region_code=QUEUE_COUNTY),
    )
    with db.session_scope() as session:
        return build_actor(session, session.exec(select(User).where(User.username == username)).one())


def build_backlog(pages: int, echo: Echo) -> Actor:
    """``pages`` x PAGE_SIZE pending child requests for one county reviewer, and as many decided
    requests of another county, with Core bulk inserts; returns the reviewer."""
    reviewer = _reviewer()
    engine = db.get_engine()
    with db.session_scope() as session:
        mine = session.exec(select(Institution).where(Institution.county_code == QUEUE_COUNTY)).first()
        other = session.exec(select(Institution).where(Institution.county_code == OTHER_COUNTY)).first()
    assert mine is not None and other is not None, "the import bench's institutions are expected"
    now = workflow.utcnow()
    due = workflow.local_today() + timedelta(days=14)
    pending = pages * PAGE_SIZE
    table = Request.__table__  # type: ignore[attr-defined]
    started = time.perf_counter()
    for index_start in range(0, 2 * pending, CHUNK):
        batch = []
        for index in range(index_start, min(index_start + CHUNK, 2 * pending)):
            place = mine if index % 2 == 0 else other  # interleaved: the backlog spreads over the table
            batch.append(
                {
                    "kind": children.KIND_CHILD,
                    "title": f"幼儿信息：基准{index}",
                    "subject_type": "child",
                    "subject_id": f"b{index}",
                    "payload": "{}",
                    "before": None,
                    "route": '["county_review"]',
                    "step": 0,
                    "step_level": "county" if place is mine else None,
                    "state": "pending" if place is mine else "approved",
                    "due_date": due if place is mine else None,
                    "version": 1,
                    "institution_id": place.id,
                    "province_code": place.province_code,
                    "city_code": place.city_code,
                    "county_code": place.county_code,
                    "township_code": None,
                    "submitted_by": reviewer.user_id,
                    "submitted_at": now,
                    "decided_at": None if place is mine else now,
                }
            )
        with engine.begin() as connection:
            connection.execute(insert(table), batch)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE request"))
    echo(f"  backlog of {pending:,} pending requests (+{pending:,} decided) in {time.perf_counter() - started:.1f} s")
    return reviewer


def queue_pages(reviewer: Actor, runs: int) -> tuple[float, float, float, int]:
    """(first page db ms, last page db ms, the last page's count ms, total) for the reviewer."""
    with db.session_scope() as session:  # the queue counts only up to its cap: count the backlog here
        total = session.exec(
            select(func.count()).where(Request.state == "pending", Request.county_code == QUEUE_COUNTY)
        ).one()
        after = session.exec(
            select(Request.id)
            .where(Request.state == "pending", Request.county_code == QUEUE_COUNTY)
            .order_by(col(Request.id))
            .offset(max(0, total - PAGE_SIZE - 1))
            .limit(1)
        ).one()
    last = workflow.queue(reviewer, after_id=after, limit=PAGE_SIZE)
    if len(last.rows) != min(PAGE_SIZE, total - 1) or last.next_after is not None:
        raise RuntimeError("the keyset page after the last-but-one page is not the last page")
    first_ms, _ = _median_db_ms(lambda: workflow.queue(reviewer, limit=PAGE_SIZE), runs)
    last_ms, count_ms = _median_db_ms(lambda: workflow.queue(reviewer, after_id=after, limit=PAGE_SIZE), runs)
    return first_ms, last_ms, count_ms, total


def snapshot_ms() -> tuple[float, int]:
    """``take_due`` for one month not yet taken; (ms, snapshot rows written)."""
    from portal.data.models import MonthEndSnapshot

    with db.session_scope() as session:
        last = snapshots.last_taken(session)
        before = len(session.exec(select(MonthEndSnapshot.id)).all())
    month = snapshots._next(last) if last else snapshots.latest_due_month(workflow.utcnow())
    now = snapshots.due_at(month) + timedelta(hours=1)
    started = time.perf_counter()
    taken = snapshots.take_due(now=now)
    seconds = time.perf_counter() - started
    with db.session_scope() as session:
        after = len(session.exec(select(MonthEndSnapshot.id)).all())
    if taken != [month]:
        raise RuntimeError(f"expected the snapshot of {month}, took {taken}")
    return seconds * 1000, after - before


def _province(url: str, scale: float, echo: Echo) -> None:
    echo(f"  loading the province at scale {scale:g} ...")
    env = {**os.environ, "DATABASE_URL": url, "PORTAL_BCRYPT_ROUNDS": "4"}
    for args in (["db", "upgrade"], ["demo", "--scale", f"{scale:g}"]):
        done = subprocess.run(
            [sys.executable, "-W", "ignore", "-m", "portal", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"python -m portal {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def _page_process(large: str, small: str, runs: int) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "portal.benchmarks.page_process", large, small, str(runs)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the page process failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_column(postgres_url: str | None, scale: float, runs: int, echo: Echo, browser: bool = True) -> Column:
    from portal.services.bench import run_import_bench

    column = Column("PostgreSQL" if postgres_url else "SQLite")
    echo(f"{column.database}:")
    quiet: Echo = lambda line: None  # noqa: E731
    with scratch_database(postgres_url, "benchall") as url:
        rows = _scaled(IMPORT_ROWS, scale, 20)
        imported = run_import_bench(
            children_count=_scaled(CHILDREN, scale, 200), rows=rows, database_url=url, echo=quiet
        )
        echo(f"  import: {imported.import_rate:,.0f} rows/s against {imported.raw_rate:,.0f} raw")
        column.figures["import: import / raw driver rows/s, ratio"] = (
            f"{imported.import_rate:,.0f} / {imported.raw_rate:,.0f} = {imported.ratio:.2f}"
        )
        column.raw["import_ratio"] = imported.ratio
        column.figures["import: duplicates_among, ms"] = f"{imported.duplicates_seconds * 1000:.1f} ({rows:,} hashes)"
        db.configure(url)
        try:
            document_ms, identity_ms, total = duplicate_lookup()
            column.figures["duplicate look-up: by document hash, db ms"] = f"{document_ms:.2f} ({total:,} children)"
            column.figures["duplicate look-up: by identity hash, db ms"] = f"{identity_ms:.2f}"
            pages = _scaled(PAGES, scale, 3)
            reviewer = build_backlog(pages, echo)
            first_ms, last_ms, count_ms, backlog = queue_pages(reviewer, runs)
            column.figures["review queue: first page, db ms"] = f"{first_ms:.2f} ({backlog:,} pending)"
            column.figures["review queue: last page (keyset), db ms"] = f"{last_ms:.2f}"
            column.figures["review queue: last / first"] = f"{last_ms / max(first_ms, 1e-6):.2f}"
            column.figures["review queue: of which the count (capped at 1,000), last page, ms"] = f"{count_ms:.2f}"
            column.raw.update(queue_first_ms=first_ms, queue_last_ms=last_ms, queue_count_ms=count_ms)
        finally:
            db.dispose()
    large_scale = max(0.001, DASHBOARD_LARGE * scale)
    small_scale = max(0.001, DASHBOARD_SMALL * scale)
    with scratch_database(postgres_url, "benchlarge") as large, scratch_database(postgres_url, "benchsmall") as small:
        _province(large, large_scale, echo)
        _province(small, small_scale, echo)
        page = _page_process(large, small, runs)
        column.figures["dashboard: large scale: page / db ms"] = (
            f"{page['large']['page_ms']:.1f} / {page['large']['database_ms']:.1f} "
            f"(scale {large_scale:g}: {page['large']['children']:,} children)"
        )
        column.figures["dashboard: small scale: page / db ms"] = (
            f"{page['small']['page_ms']:.1f} / {page['small']['database_ms']:.1f} (scale {small_scale:g})"
        )
        column.figures["dashboard: page ratio large / small"] = (
            f"{page['large']['page_ms'] / max(page['small']['page_ms'], 1e-6):.2f}"
        )
        column.figures["memory: peak resident memory of the page process, MB"] = f"{page['peak_mb']:.0f}"
        column.raw["peak_mb"] = page["peak_mb"]
        key = "memory: peak resident memory of a streamlit run server, MB"
        if browser:
            from portal.benchmarks.server_memory import measure_server

            echo("  serving the large database with streamlit run to headless Chromium ...")
            served = measure_server(large, sessions=3 if scale >= 0.5 else 1, views=5 if scale >= 0.5 else 2)
            column.figures[key] = (
                f"{served.peak_mb:.0f} ({served.sessions} browser sessions x {served.views} dashboard views)"
                if served.peak_mb is not None
                else f"not measured: {served.note}"
            )
        else:
            column.figures[key] = "not measured: --no-browser"
        db.configure(large)
        try:
            ms, written = snapshot_ms()
        finally:
            db.dispose()
        column.figures["month-end snapshot: take_due, ms"] = f"{ms:.1f} ({written:,} regions)"
    return column


def table_lines(columns: list[Column]) -> list[str]:
    headers = ["benchmark", *[c.database for c in columns], "target"]
    body = [[_key(row), *[c.figures.get(_key(row), "-") for c in columns], row.target] for row in ROWS]
    widths = [max(len(line[i]) for line in [headers, *body]) for i in range(len(headers))]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out.extend("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in body)
    return out


def run_all(
    *, postgres_url: str | None = None, scale: float = 1.0, runs: int = 15, browser: bool = True, echo: Echo = print
) -> list[Column]:
    """Every benchmark on SQLite and, given ``postgres_url``, on PostgreSQL; prints one table."""
    if postgres_url and not is_postgres(postgres_url):
        raise ValueError("--postgres-url must be a PostgreSQL URL")
    ensure_secrets()
    started = time.perf_counter()
    with _environment({"PORTAL_BCRYPT_ROUNDS": "4"}):  # the scratch accounts never log in
        columns = [run_column(None, scale, runs, echo, browser)]
        if postgres_url:
            columns.append(run_column(postgres_url, scale, runs, echo, browser))
    echo(
        f"bench all (scale {scale:g}, median of {runs}; database time measured in the driver; "
        f"{os.cpu_count()} CPUs) in {time.perf_counter() - started:.0f} s:"
    )
    for line in table_lines(columns):
        echo(line)
    return columns
