"""Query results cached per process, kept in step across processes by a version counter in the
database (MISSION.md R8.3: several portal processes).

A cached result is served while it is younger than ``settings.cache_seconds`` AND the counter of
its name in ``cache_version`` is unchanged. Reading the counter is one primary-key read, done at
most once a second per name and process, so a bump reaches every process within a second; without
a bump a result is at most ``cache_seconds`` old. Two processes therefore never show different
results for longer than the cache lifetime.

Which writes bump the counter, and which do not (the trade-off). A bump is an UPDATE of one row
in the writer's transaction, and on PostgreSQL that row stays locked until the transaction ends:
bumping it on every child save or approval would make every writer of the province wait for the
one before it (a hot row; the counters of the progress table are per county precisely to avoid
that). So:

- the progress table (``PROGRESS``) changes with every save and approval; those writes do NOT bump
  the counter: other processes see them within the lifetime (30 s by default, a setting). The
  process that made the write drops its own cached results at commit (no database access: a
  session hook sees the counter tables written), so a user always sees their own change at once;
- rare writes that change the table for everyone bump the counter in their own transaction, and
  every process sees them within a second: the statistics baseline (``stat_baseline``) and the
  regions (``region``: a township import, a rename) and the rebuild of the counters
  (``counters.rebuild``: ``python -m portal progress --rebuild``, the scale demo), all seen by
  session hooks in the writer's transaction.

Writes made outside an ORM session (Core on a bare connection) are not seen: they must call
``bump`` themselves, or their change reaches the other processes within the lifetime.

Entries are keyed by the database (the engine's URL) too, so that tests or tools pointing the
process at another database never see another database's results. The cache keeps at most
``MAX_ENTRIES`` results per process (the oldest go first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as OrmSession

from portal.data import db
from portal.data.models import CacheVersion, InstitutionProgress, Region, RegionProgress, StatBaseline
from portal.settings import get_settings

T = TypeVar("T")

PROGRESS = "progress"
CHECK_INTERVAL_S = 1.0
MAX_ENTRIES = 512

_cv = CacheVersion.__table__  # type: ignore[attr-defined]
# Tables whose writes drop this process's cached results of a name at commit (no database access) …
LOCAL_TABLES: dict[str, tuple[str, ...]] = {
    PROGRESS: ("institution_progress", "region_progress", "stat_baseline", "region"),
}
# … and those whose writes also bump the name's counter in the database (rare writes only).
REBUILD = "rebuild of the counters"
BUMP_TABLES: dict[str, tuple[str, ...]] = {PROGRESS: ("stat_baseline", "region", REBUILD)}
_MODELS = {
    "institution_progress": InstitutionProgress,
    "region_progress": RegionProgress,
    "stat_baseline": StatBaseline,
    "region": Region,
}
_DIRTY = "query_cache_dirty"


def read_version(engine: Engine, name: str) -> int:
    """The counter of a name (0 before its first bump): one primary-key read."""
    with engine.connect() as conn:
        found = conn.execute(select(_cv.c.version).where(_cv.c.name == name)).scalar()
    return int(found or 0)


def bump(session: OrmSession, name: str) -> None:
    """Add one to a name's counter in the caller's transaction (insert the row the first time)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(_cv).values(name=name, version=1)
    statement = statement.on_conflict_do_update(index_elements=[_cv.c.name], set_={"version": _cv.c.version + 1})
    session.execute(statement)


@dataclass
class _Entry:
    value: Any
    version: int
    stored_at: float


class QueryCache:
    """A cache of query results keyed by (name, arguments); see the module's docstring."""

    def __init__(
        self,
        seconds: float | None = None,
        *,
        check_interval: float = CHECK_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        engine: Callable[[], Engine] = db.get_engine,
    ) -> None:
        self._seconds = seconds
        self._check_interval = check_interval
        self._clock = clock
        self._engine = engine
        self._entries: OrderedDict[tuple[Hashable, ...], _Entry] = OrderedDict()
        self._versions: dict[tuple[str, str], tuple[int, float]] = {}  # (database, name) -> (version, read at)
        self._generations: dict[str, int] = {}  # per name, +1 at each ``forget``
        self._lock = threading.Lock()
        self.loads = 0  # how many times a loader ran (for tests and benchmarks)

    @property
    def seconds(self) -> float:
        return get_settings().cache_seconds if self._seconds is None else self._seconds

    def version(self, name: str) -> int:
        """The name's counter, read from the database at most once per check interval."""
        engine = self._engine()
        key = (str(engine.url), name)
        now = self._clock()
        with self._lock:
            known = self._versions.get(key)
        if known is not None and now - known[1] < self._check_interval:
            return known[0]
        version = read_version(engine, name)
        with self._lock:
            self._versions[key] = (version, now)
        return version

    def get(self, name: str, args: Hashable, load: Callable[[], T]) -> T:
        """The cached result of ``load()`` for (name, args), or a fresh one."""
        if self.seconds <= 0:
            return load()
        key = (str(self._engine().url), name, args)
        version = self.version(name)  # read before loading: a bump meanwhile makes the next read reload
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.version == version and now - entry.stored_at < self.seconds:
                self._entries.move_to_end(key)
                return entry.value  # type: ignore[no-any-return]
            generation = self._generations.get(name, 0)
        value = load()
        with self._lock:
            self.loads += 1
            if self._generations.get(name, 0) != generation:
                return value  # a commit of this process came during the load: do not keep it
            self._entries[key] = _Entry(value, version, now)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return value

    def forget(self, name: str) -> None:
        """Drop this process's results of a name (and its remembered counter)."""
        with self._lock:
            self._generations[name] = self._generations.get(name, 0) + 1
            for key in [k for k in self._entries if k[1] == name]:
                del self._entries[key]
            for key in [k for k in self._versions if k[1] == name]:
                del self._versions[key]


cache = QueryCache()  # the process's cache


def cached(name: str, args: Hashable, load: Callable[[], T]) -> T:
    return cache.get(name, args, load)


# --- session hooks: what a transaction wrote -----------------------------------------------------------


def _mark(session: OrmSession, table: str) -> None:
    session.info.setdefault(_DIRTY, set()).add(table)


def _after_execute(state: Any) -> None:
    """Core writes through the session (the counters, imports) mark the tables they write. Rows of
    ``region_progress`` are only ever deleted by ``counters.rebuild`` (it empties the table): that
    marks ``REBUILD``, a rare write that bumps the counter."""
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in _MODELS:
            _mark(state.session, table.name)
            if state.is_delete and table.name == "region_progress":
                _mark(state.session, REBUILD)


def _after_flush(session: OrmSession, _context: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        table = getattr(type(obj), "__tablename__", None)
        if table in _MODELS:
            _mark(session, table)


def _before_commit(session: OrmSession) -> None:
    session.flush()
    written: set[str] = session.info.get(_DIRTY, set())
    for name, tables in BUMP_TABLES.items():
        if written & set(tables):
            bump(session, name)


def _after_commit(session: OrmSession) -> None:
    written: set[str] = session.info.pop(_DIRTY, set())
    for name, tables in LOCAL_TABLES.items():
        if written & set(tables):
            cache.forget(name)


def _after_rollback(session: OrmSession) -> None:
    session.info.pop(_DIRTY, None)


event.listen(OrmSession, "do_orm_execute", _after_execute)
event.listen(OrmSession, "after_flush", _after_flush)
event.listen(OrmSession, "before_commit", _before_commit)
event.listen(OrmSession, "after_commit", _after_commit)
event.listen(OrmSession, "after_soft_rollback", lambda session, _previous: _after_rollback(session))
