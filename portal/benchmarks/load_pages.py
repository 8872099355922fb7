"""The ``pages`` driver of the load script (MISSION.md R8.2): every simulated session is a
``streamlit.testing.v1.AppTest`` of the real entrypoint ``streamlit_app.py``, in its own thread.

A clerk logs in through the login form, opens 幼儿信息, types a new child into the form, clicks
保存, then ticks that child on the 提交审核 tab, ticks the confirmation and clicks 提交审核. A county
reviewer logs in (password, then the first-login enrolment of the second factor: it reads the
secret the page shows and types the current code, as a phone would), opens 审核队列, opens one of
the first requests of the list at random (so reviewers race for the same requests) and clicks
审核通过. Each page action is timed as the AppTest run after the click (the page's reruns
included); its outcome is read from what the page shows: the success message, an error message
("数据库正忙，请稍后重试" is ``busy``; "已被其他审核人处理" / "已处理" is ``conflict``; another refusal is
``refused``), an exception shown on the page (PostgreSQL's deadlock, serialization failure or
unique violation by name, otherwise ``unexpected``), or nothing at all (``stale``: the click no
longer matched what the page drew, e.g. the request left the queue; nothing was written).

The ledger that ``load.verify`` checks is filled from what the pages said: a save that showed
"已保存幼儿…" is known by the id_hash of the ID number the driver typed, any other by the same hash
as failed; the saved child's id is the one new entry of the page's 提交审核 choice list (each clerk
is alone in its kindergarten), read from the page; an approval is recorded by the request id the
page's message names ("申请 N 已审核通过。"), not by the one the reviewer opened, because the
审核通过 button has a fixed widget key: a click on a page redrawn for another request acts on the
request that page shows, as it would in a browser.

All sessions run in one process: the AppTest instances share the GIL, so the figures include the
Python work of rendering every page in one interpreter (what one Streamlit server process does
too) and are a lower bound on what several server processes would give.

AppTest keeps two things process-wide for the length of each run: it sets ``Runtime._instance``
to a fresh mock runtime and back to None afterwards, and it patches ``config.get_option`` (for
``global.appTest``) with ``unittest.mock.patch``. Runs overlapping in threads race on both: one
run ending sets the runtime to None under another one still drawing, whose forms then stop being
forms (``form_utils._current_form`` asks ``runtime.exists()``) or whose ``runtime.get_instance()``
raises; and nested patches restore each other's mocks in the wrong order, so widgets may miss the
test hooks (``save_for_app_testing``) AppTest reads back (a ``KeyError`` on the next click).
AppTest also compiles every script afresh in every run (a new ``ScriptCache`` per run), and
Streamlit's "magic" calls ``ast.parse`` to do so; on CPython 3.11 the AST constructor's recursion
counter is shared by the interpreter's threads, and parses overlapping in threads fail now and
then with "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905).
``concurrent_apptest`` makes this state constant for the whole load: one shared mock runtime,
``global.appTest`` on, and one script cache for every session (compiled once, under the cache's
lock, as a server's single runtime does), and gives AppTest's per-run assignments a harmless
target. The script runs themselves are not serialised: sessions draw their pages at the same time.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

from sqlmodel import select

from portal.auth.actor import Actor
from portal.benchmarks.load import CONFLICT_MARKS, PASSWORD, Call, Ledger, _Numbers
from portal.data import db
from portal.data.child_fields import CHILD
from portal.data.models import Child

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = str(ROOT / "streamlit_app.py")
CHILDREN_PAGE = str(ROOT / "portal" / "pages" / "kindergarten" / "children.py")
QUEUE_PAGE = str(ROOT / "portal" / "pages" / "common" / "review_queue.py")
RUN_TIMEOUT = 300.0  # seconds: far above any run, so a run is never abandoned half-way
LOGIN_TRIES = 5
LOGINS_AT_ONCE = 4  # sessions logging in at the same time, before the timed phase
BUSY_MARK = "数据库正忙"
SAVED_MARK = "已保存幼儿"
SUBMITTED_MARK = "已提交 1 名幼儿"
APPROVED = re.compile(r"申请 (\d+) 已审核通过")
EXCEPTION_KINDS = (
    ("deadlock detected", "deadlock"),
    ("DeadlockDetected", "deadlock"),
    ("could not serialize", "serialization"),
    ("SerializationFailure", "serialization"),
    ("UniqueViolation", "unique_violation"),
    ("duplicate key value", "unique_violation"),
)


@contextmanager
def concurrent_apptest() -> Iterator[None]:
    """Make AppTest's process-wide state constant while sessions run in threads (see above)."""
    from streamlit import config
    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.runtime import Runtime
    from streamlit.runtime.caching.storage.dummy_cache_storage import MemoryCacheStorageManager
    from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test, local_script_runner

    shared = MagicMock(spec=Runtime)
    shared.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    shared.dataframe_source_mgr = DataframeSourceManager()
    shared.cache_storage_manager = MemoryCacheStorageManager()
    components = BidiComponentManager()
    components.discover_and_register_components(start_file_watching=False)
    shared.bidi_component_registry = components

    original_get_option = config.get_option

    def get_option(name: str) -> Any:
        return True if name == "global.appTest" else original_get_option(name)

    class PerRunRuntime(Runtime):  # AppTest's per-run ``Runtime._instance = ...`` lands here
        pass

    # AppTest built outside a script run warns once per session that it has no ScriptRunContext.
    quiet = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    scripts = ScriptCache()  # one for all sessions, as a server's runtime has

    saved = (
        Runtime._instance,
        app_test.Runtime,
        app_test.patch_config_options,
        app_test.ScriptCache,
        local_script_runner.ScriptCache,
    )
    Runtime._instance = shared
    app_test.Runtime = PerRunRuntime  # type: ignore[misc]
    app_test.patch_config_options = lambda _overrides: nullcontext()  # type: ignore[assignment]
    app_test.ScriptCache = local_script_runner.ScriptCache = lambda: scripts  # type: ignore[assignment,misc]
    config.get_option = get_option
    try:
        yield
    finally:
        config.get_option = original_get_option
        quiet.setLevel(level)
        (
            Runtime._instance,
            app_test.Runtime,
            app_test.patch_config_options,
            app_test.ScriptCache,
            local_script_runner.ScriptCache,
        ) = saved  # type: ignore[misc]


def _texts(at: Any, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def page_outcome(at: Any, success: str | re.Pattern[str] | None) -> tuple[str, str]:
    """(kind, message) of a page action from what the page shows afterwards; with ``success``
    None, any run without an error or exception is ``ok`` (opening a page or a request)."""
    if at.exception:
        message = " | ".join(str(e.value) for e in at.exception)[:400]
        for mark, kind in EXCEPTION_KINDS:
            if mark in message:
                return kind, message
        return "unexpected", message
    for message in _texts(at, "error"):
        if BUSY_MARK in message:
            return "busy", message
        if any(mark in message for mark in CONFLICT_MARKS):
            return "conflict", message
        return "refused", message
    if success is None:
        return "ok", ""
    for message in _texts(at, "success"):
        if success.search(message) if isinstance(success, re.Pattern) else success in message:
            return "ok", message
    for message in _texts(at, "info"):  # the queue: "您刚才打开的申请 N 已由其他审核人处理……"
        if any(mark in message for mark in CONFLICT_MARKS):
            return "conflict", message
    return "stale", ""


class _Session:
    """One simulated browser tab: an AppTest, timed actions, the ledger's entries."""

    def __init__(self, username: str, ledger: Ledger, lock: threading.Lock) -> None:
        from streamlit.testing.v1 import AppTest

        self.username = username
        self.ledger = ledger
        self.lock = lock
        self.at = AppTest.from_file(ENTRYPOINT, default_timeout=RUN_TIMEOUT)
        self.secret = ""  # the second factor's, once enrolled

    def record(self, operation: str, seconds: float, kind: str, message: str = "") -> None:
        with self.lock:
            self.ledger.calls.append(Call(operation, seconds, kind))
            if kind in ("unexpected", "unique_violation", "refused") and len(self.ledger.unexpected) < 20:
                self.ledger.unexpected.append(f"{operation} ({self.username}): {kind}: {message[:240]}")

    def act(self, operation: str, action: Any, success: str | re.Pattern[str] | None) -> tuple[str, str]:
        """Run ``action`` (which ends with the AppTest run after a click) timed, and classify."""
        started = time.perf_counter()
        try:
            action()
        except Exception as exc:  # a click or a run that raised: counted, the page reloaded, on we go
            kind, message = "unexpected", f"{type(exc).__name__}: {exc}"
            try:
                self.at.run()
            except Exception:  # the next action will say so
                pass
        else:
            kind, message = page_outcome(self.at, success)
        self.record(operation, time.perf_counter() - started, kind, message)
        return kind, message

    def login(self) -> bool:
        """The login form, and the first-login enrolment of the second factor when asked for."""
        from streamlit.testing.v1 import AppTest

        for attempt in range(LOGIN_TRIES):
            if attempt:  # after a failure: a fresh tab, back at the login form
                self.at = AppTest.from_file(ENTRYPOINT, default_timeout=RUN_TIMEOUT)
            started = time.perf_counter()
            try:
                self.at.run()
                self.at.text_input[0].input(self.username)
                self.at.text_input[1].input(PASSWORD)
                self.at.button[0].click().run()
                self._second_factor()
            except Exception as exc:
                self.record("login", time.perf_counter() - started, "unexpected", f"{type(exc).__name__}: {exc}")
                continue
            if _logged_in(self.at):
                self.record("login", time.perf_counter() - started, "ok")
                return True
            kind, message = page_outcome(self.at, None)
            self.record("login", time.perf_counter() - started, kind if kind != "ok" else "refused", message)
            time.sleep(0.5)
        return False

    def _second_factor(self) -> None:
        """The first login's enrolment (the secret read from the page, as a phone app would read
        the QR code), or, on a later try, the code of the enrolled factor."""
        import pyotp

        keys = {t.key for t in self.at.text_input}
        if "login_enrol_code" in keys:
            # The secret is on the page as text too (st.code, in groups of four).
            self.secret = next(str(c.value) for c in self.at.code).replace(" ", "")
            self.at.text_input(key="login_enrol_code").input(pyotp.TOTP(self.secret).now())
            next(b for b in self.at.button if b.label == "绑定并登录").click().run()
        elif "login_totp_code" in keys and self.secret:
            # A code is good once: the next time step's (accepted within the allowed drift).
            self.at.text_input(key="login_totp_code").input(pyotp.TOTP(self.secret).at(time.time() + 30))
            next(b for b in self.at.button if b.label == "验证").click().run()


def _logged_in(at: Any) -> bool:
    return any(b.key == "portal_logout" for b in at.sidebar.button)


def _submit_ids(at: Any) -> set[int]:
    """The child ids in the 提交审核 tab's choice list ("12 · 王子涵，1班，已保存，…")."""
    found = [m for m in at.multiselect if m.key == "children_submit_ids"]
    if not found:
        return set()
    return {int(str(label).split(" · ", 1)[0]) for label in found[0].options}


def _fill_child(at: Any, values: dict[str, Any]) -> None:
    from datetime import date

    for name, value in values.items():
        spec = CHILD.spec(name)
        widget_key = f"child_new_{name}"
        if spec.kind == "date":
            at.date_input(key=widget_key).set_value(date.fromisoformat(value))
        elif spec.kind == "choice" or name == "class_name":
            at.selectbox(key=widget_key).select(value)
        elif spec.kind == "bool":
            at.checkbox(key=widget_key).set_value(value)
        else:
            at.text_input(key=widget_key).input(value)


def _child_id(id_hash: str) -> int | None:
    with db.session_scope() as session:
        return session.exec(select(Child.id).where(Child.id_hash == id_hash)).first()


def _clerk_work(tab: _Session, numbers: _Numbers, deadline: float, max_ops: int) -> None:
    ledger, lock = tab.ledger, tab.lock
    at = tab.at
    for _ in range(max_ops):
        if time.perf_counter() >= deadline:
            return
        values, id_hash = numbers.form("1班")
        before = _submit_ids(at)

        def save(values: dict[str, Any] = values) -> None:
            _fill_child(at, values)
            at.button(key="child_create").click().run()

        kind, _ = tab.act("save", save, SAVED_MARK)
        with lock:
            (ledger.saved if kind == "ok" else ledger.failed_saves).append(id_hash)
        if kind != "ok":
            continue
        new = _submit_ids(at) - before
        child_id = new.pop() if len(new) == 1 else _child_id(id_hash)
        if child_id is None:
            continue

        def submit(child_id: int = child_id) -> None:
            at.multiselect(key="children_submit_ids").set_value([child_id])
            at.checkbox(key="children_submit_confirm").check()
            at.button(key="children_submit").click().run()

        kind, _ = tab.act("submit", submit, SUBMITTED_MARK)
        with lock:
            (ledger.submitted if kind == "ok" else ledger.failed_submits).append(child_id)


def _queue_ids(at: Any) -> list[int]:
    found = [s for s in at.selectbox if s.key == "queue_open"]
    if not found:
        return []
    return [int(str(label).split(" · ", 1)[0]) for label in found[0].options]


def _reviewer_work(tab: _Session, seed: int, deadline: float, max_ops: int) -> None:
    ledger, lock = tab.ledger, tab.lock
    at = tab.at
    pick = random.Random(seed)
    for _ in range(max_ops):
        if time.perf_counter() >= deadline:
            return
        ids = _queue_ids(at)
        if not ids:  # an empty queue (or an error): look again shortly, as a reviewer would
            time.sleep(0.05)
            tab.act("queue", at.run, None)
            continue
        request_id = pick.choice(ids[:10])
        if at.selectbox(key="queue_open").value != request_id:
            tab.act("open", at.selectbox(key="queue_open").set_value(request_id).run, None)
            if not [b for b in at.button if b.key == "decide_approve"]:
                continue
        if not [b for b in at.button if b.key == "decide_approve"]:
            tab.act("queue", at.run, None)
            continue
        kind, message = tab.act("approve", at.button(key="decide_approve").click().run, APPROVED)
        if kind == "ok":
            match = APPROVED.search(message)
            assert match is not None
            with lock:
                ledger.approved.append(int(match.group(1)))


def _session(
    username: str,
    page: str,
    work: Callable[[_Session, float, int], None],
    ledger: Ledger,
    lock: threading.Lock,
    start: threading.Barrier,
    window: list[float],
    logins: threading.Semaphore,
) -> None:
    """One session's thread: log in and open the page (at most ``LOGINS_AT_ONCE`` sessions at a
    time), wait for every other session, then work until the deadline or ``max_ops`` actions.
    An error outside a page action is recorded too."""
    tab: _Session | None = None
    ready = False
    try:
        with logins:
            tab = _Session(username, ledger, lock)
            ready = tab.login()
            if ready:
                tab.at.switch_page(page).run()
                ready = not tab.at.exception
    except Exception as exc:
        with lock:
            ledger.unexpected.append(f"login ({username}): {type(exc).__name__}: {exc}"[:300])
        ready = False
    finally:
        start.wait()
    if not ready or tab is None:
        return
    try:
        work(tab, window[0], int(window[1]))
    except Exception as exc:
        with lock:
            ledger.unexpected.append(f"session ({username}): {type(exc).__name__}: {exc}"[:300])


def run_sessions(
    clerks: list[Actor], reviewers: list[Actor], numbers: _Numbers, ledger: Ledger, seconds: float, max_ops: int
) -> float:
    """Log every session in, then let them all work for ``seconds`` (at most ``max_ops`` actions
    each); returns the seconds the working phase took (the logins before it excluded)."""
    lock = threading.Lock()
    window = [0.0, float(max_ops)]
    began: list[float] = []

    def open_window() -> None:  # runs once, when every session has logged in (or given up)
        began.append(time.perf_counter())
        window[0] = began[0] + seconds

    start = threading.Barrier(len(clerks) + len(reviewers), action=open_window)
    logins = threading.Semaphore(LOGINS_AT_ONCE)
    sessions = [
        (c.username, CHILDREN_PAGE, lambda tab, deadline, ops: _clerk_work(tab, numbers, deadline, ops)) for c in clerks
    ] + [
        (r.username, QUEUE_PAGE, lambda tab, deadline, ops, seed=n: _reviewer_work(tab, seed, deadline, ops))
        for n, r in enumerate(reviewers)
    ]
    with concurrent_apptest():
        threads = [
            threading.Thread(target=_session, args=(*s, ledger, lock, start, window, logins), daemon=True)
            for s in sessions
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return time.perf_counter() - began[0] if began else 0.0
