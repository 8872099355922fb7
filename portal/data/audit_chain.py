"""The audit log's hash chain: ids and hashes given at commit, one transaction after the other.

``portal.services.audit.record`` does not add its row to the session: it leaves it pending in
``session.info``. Just before the transaction commits, the rows pending are chained here: the
chain's head row (``audit_chain_head``, id 1) is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; on
SQLite a write to it takes the database's write lock), each row gets the next id after
``last_id`` and ``prev_hash`` = the hash of the row before it, its own ``row_hash`` is computed
from a canonical serialisation (:func:`row_hash`), the rows are inserted and the head moves on.
The lock is held until the commit, so ids follow commit order and every row links to the one
committed before it. A transaction that logs nothing never touches the head.

An ``AuditLog`` added to a session directly (``session.add``) is taken out of the flush and chained
the same way, so no row reaches the table without its place in the chain.

``python -m portal audit verify`` walks the chain (portal/services/audit_integrity.py).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, insert, select, update
from sqlalchemy.orm import Session as OrmSession

from portal.data import counters as _counters  # noqa: F401  (its before_commit hook must run first)
from portal.data.models import AuditChainHead, AuditLog

HASH_VERSION = "audit-v1"
_PENDING = "audit_pending"
_CHAINING = "audit_chaining"

_head = AuditChainHead.__table__  # type: ignore[attr-defined]
_log = AuditLog.__table__  # type: ignore[attr-defined]

# The columns that a row's hash covers, in order (after the version tag and prev_hash).
HASHED_COLUMNS = (
    "id",
    "at",
    "user_id",
    "username",
    "real_name",
    "role",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "detail",
    "province_code",
    "city_code",
    "county_code",
    "outcome",
    "session_id",
    "loan_id",
)


def utc_text(value: datetime) -> str:
    """The moment as UTC ISO text with microseconds (the same from SQLite and PostgreSQL)."""
    if value.tzinfo is None:  # SQLite hands back the UTC wall time when read without the column type
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def canonical(prev_hash: str, values: dict[str, Any]) -> str:
    """The text a row's hash is computed from: a JSON list, version tag first."""
    fields: list[Any] = [HASH_VERSION, prev_hash, *(values[name] for name in HASHED_COLUMNS)]
    fields[3] = utc_text(fields[3])  # "at", after the tag, prev_hash and the id
    return _ENCODER.encode(fields)


def row_hash(prev_hash: str, values: dict[str, Any]) -> str:
    """SHA-256 (hex) of the row's canonical text; ``values`` maps the column names to values."""
    return hashlib.sha256(canonical(prev_hash, values).encode("utf-8")).hexdigest()


def append(session: OrmSession, row: AuditLog) -> None:
    """Leave ``row`` pending in ``session``: it is chained and inserted when the session commits."""
    session.info.setdefault(_PENDING, []).append(row)


def pending(session: OrmSession) -> list[AuditLog]:
    """The audit rows waiting for the commit of ``session`` (in the order they were recorded)."""
    return list(session.info.get(_PENDING, ()))


def lock_head(session: OrmSession) -> tuple[int, str, int, str]:
    """Lock the chain's head for the rest of the transaction and return (last_id, last_hash,
    anchor_id, anchor_hash); the head is created if missing (a database made without the
    migrations)."""
    if session.get_bind().dialect.name == "sqlite":
        # A write first: it takes the write lock (waiting for it), where a read would not.
        session.execute(update(_head).where(_head.c.id == 1).values(last_id=_head.c.last_id))
    query = select(_head.c.last_id, _head.c.last_hash, _head.c.anchor_id, _head.c.anchor_hash).where(_head.c.id == 1)
    found = session.execute(query.with_for_update()).first()
    if found is None:
        _create_head(session)
        found = session.execute(query.with_for_update()).first()
        assert found is not None
    return int(found[0]), str(found[1]), int(found[2]), str(found[3])


def _create_head(session: OrmSession) -> None:
    last = session.execute(select(_log.c.id, _log.c.row_hash).order_by(_log.c.id.desc()).limit(1)).first()
    first_id = session.execute(select(func.min(_log.c.id))).scalar()
    values = {
        "id": 1,
        "last_id": int(last[0]) if last else 0,
        "last_hash": str(last[1]) if last else "",
        "anchor_id": int(first_id) - 1 if first_id else 0,
        "anchor_hash": "",
    }
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(_head).values(values).on_conflict_do_nothing(index_elements=["id"]))
    else:
        session.execute(insert(_head).prefix_with("OR IGNORE").values(values))


def _take_strays(session: OrmSession) -> None:
    """AuditLog rows added to the session directly: out of the flush, into the pending list."""
    strays = [obj for obj in session.new if isinstance(obj, AuditLog)]
    for obj in strays:
        session.expunge(obj)
        obj.id = None
        append(session, obj)


def _before_flush(session: OrmSession, _context: Any, _instances: Any) -> None:
    if not session.info.get(_CHAINING):
        _take_strays(session)


def _before_commit(session: OrmSession) -> None:
    if session.info.get(_CHAINING):
        return
    _take_strays(session)
    rows: list[AuditLog] = session.info.pop(_PENDING, [])
    if not rows:
        return
    session.info[_CHAINING] = True
    try:
        last_id, last_hash, _anchor_id, _anchor_hash = lock_head(session)
        for row in rows:
            last_id += 1
            row.id = last_id
            row.prev_hash = last_hash
            row.row_hash = last_hash = row_hash(last_hash, {name: getattr(row, name) for name in HASHED_COLUMNS})
            session.add(row)
        session.execute(update(_head).where(_head.c.id == 1).values(last_id=last_id, last_hash=last_hash))
        session.flush()
    finally:
        session.info.pop(_CHAINING, None)


def _after_soft_rollback(session: OrmSession, previous: Any) -> None:
    if getattr(previous, "nested", False):
        return  # a savepoint: the rows recorded around it are still to be written
    session.info.pop(_PENDING, None)
    session.info.pop(_CHAINING, None)


event.listen(OrmSession, "before_flush", _before_flush)
event.listen(OrmSession, "before_commit", _before_commit)
event.listen(OrmSession, "after_soft_rollback", _after_soft_rollback)
