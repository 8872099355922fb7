"""The audit log's integrity: verify the hash chain, purge what is past its keeping.

The chain (portal/data/audit_chain.py): rows follow each other by id from the anchor (the last row
purged, or nothing) to the head's ``last_id``; each row's ``prev_hash`` is the ``row_hash`` of the
row before it, and its ``row_hash`` is the hash of its own content and ``prev_hash``. Changing,
deleting, inserting or reordering rows breaks one of these, and :func:`verify_chain` names the
first row where it breaks.

Rows logged before the chain existed (a database upgraded to revision 0010) were hashed into it
by the migration, which then wrote an ``audit_chain_start`` row. Their ids may have gaps (numbers a
PostgreSQL sequence gave to transactions that rolled back), so before that row a gap is accepted
where the hash link across it holds; from it on, ids must follow each other exactly.

Rows younger than six months (183 days) are never purged: :func:`purge_expired` refuses, and so
does the database (a trigger on ``audit_log``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.policy import Action, require
from portal.clock import utcnow
from portal.data import audit_chain, db
from portal.data.models import AuditChainHead, AuditLog
from portal.services import audit
from portal.services.errors import ServiceError
from portal.settings import get_settings

MIN_RETENTION_DAYS = 183  # six months: younger rows are never deleted (the trigger agrees)
BATCH_SIZE = 5000

_head = AuditChainHead.__table__  # type: ignore[attr-defined]
_log = AuditLog.__table__  # type: ignore[attr-defined]
_COLUMNS = [_log.c[name] for name in audit_chain.HASHED_COLUMNS] + [_log.c.prev_hash, _log.c.row_hash]


@dataclass(frozen=True)
class ChainReport:
    """The outcome of a verification: intact, or the first row where the chain breaks and why."""

    ok: bool
    checked: int  # rows whose links and hashes were checked
    first_id: int | None  # the first row of the chain (after the anchor)
    last_id: int  # the head's last row
    anchor_id: int  # the last row purged (0: none)
    broken_id: int | None = None  # the first broken row (for missing rows: the first missing id)
    reason: str = ""

    @property
    def message(self) -> str:
        if self.ok:
            if not self.checked:
                return "审计链完整：尚无审计记录。"
            return f"审计链完整：共核验 {self.checked} 条记录（第 {self.first_id} 至 {self.last_id} 条）。"
        return f"审计链在第 {self.broken_id} 条记录处断开：{self.reason}"


def verify_chain(actor: Actor | None = None, *, batch_size: int = BATCH_SIZE, record: bool = True) -> ChainReport:
    """Walk the whole audit log in id order, ``batch_size`` rows at a time (constant memory), and
    check the ids, the links, each row's hash and the head. With an ``actor`` (who needs the right
    to read the audit log) and ``record``, the verification is itself audited."""
    if actor is not None:
        require(actor, Action.VIEW_AUDIT)
    report = _walk(max(1, batch_size))
    if actor is not None and record:
        with db.session_scope(write=True) as session:
            audit.record(
                session,
                actor,
                "audit_verify",
                object_type="audit_log",
                object_id=report.broken_id or "",
                outcome="success" if report.ok else "failure",
                detail=report.message,
            )
    return report


def _walk(batch_size: int) -> ChainReport:
    engine = db.get_engine()
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # One snapshot for the whole walk: rows appended meanwhile are not half seen.
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            head = connection.execute(
                select(_head.c.last_id, _head.c.last_hash, _head.c.anchor_id, _head.c.anchor_hash).where(
                    _head.c.id == 1
                )
            ).first()
            if head is None:
                return ChainReport(False, 0, None, 0, 0, broken_id=0, reason="缺少审计链的链头记录。")
            last_id, last_hash, anchor_id, anchor_hash = int(head[0]), str(head[1]), int(head[2]), str(head[3])
            start = connection.execute(select(func.min(_log.c.id)).where(_log.c.action == "audit_chain_start")).scalar()
            walker = _Walker(last_id, anchor_id, anchor_hash, int(start) if start is not None else None)
            after: int | None = None
            while True:
                query = select(*_COLUMNS).order_by(_log.c.id).limit(batch_size)
                if after is not None:
                    query = query.where(_log.c.id > after)
                rows = connection.execute(query).mappings().all()
                if not rows:
                    break
                for row in rows:
                    broken = walker.check(row)
                    if broken is not None:
                        return broken
                after = int(rows[-1]["id"])
            return walker.finish(last_hash)


class _Walker:
    def __init__(self, last_id: int, anchor_id: int, anchor_hash: str, chain_start: int | None) -> None:
        self.last_id = last_id
        self.anchor_id = anchor_id
        self.chain_start = chain_start
        self.expected_id = anchor_id + 1
        self.prev_hash = anchor_hash
        self.checked = 0
        self.first_id: int | None = None
        self.seen_id: int | None = None

    def broken(self, row_id: int, reason: str) -> ChainReport:
        return ChainReport(
            False, self.checked, self.first_id, self.last_id, self.anchor_id, broken_id=row_id, reason=reason
        )

    def check(self, row: Any) -> ChainReport | None:
        row_id = int(row["id"])
        if row_id <= self.anchor_id:
            return self.broken(row_id, f"该记录位于已清理的部分（第 {self.anchor_id} 条及以前）之内，不应存在。")
        if row_id != self.expected_id:
            legacy = self.chain_start is not None and row_id < self.chain_start
            if not (legacy and row["prev_hash"] == self.prev_hash):
                missing = (
                    f"第 {self.expected_id} 条"
                    if row_id == self.expected_id + 1
                    else f"第 {self.expected_id} 至 {row_id - 1} 条"
                )
                return self.broken(self.expected_id, f"{missing}记录缺失（已被删除），其后的第 {row_id} 条链接不上。")
        if row_id > self.last_id:
            return self.broken(row_id, "该记录不在链头的登记之内（未经应用写入）。")
        if row["prev_hash"] != self.prev_hash:
            before = f"第 {self.seen_id} 条" if self.seen_id is not None else "链的起点"
            return self.broken(row_id, f"该记录登记的前一条哈希与{before}不符（前一条被改动、替换或调换了顺序）。")
        values = {name: row[name] for name in audit_chain.HASHED_COLUMNS}
        if audit_chain.row_hash(self.prev_hash, values) != row["row_hash"]:
            return self.broken(row_id, "该记录的内容与其哈希不符（记录被改动）。")
        self.prev_hash = row["row_hash"]
        self.expected_id = row_id + 1
        self.seen_id = row_id
        if self.first_id is None:
            self.first_id = row_id
        self.checked += 1
        return None

    def finish(self, last_hash: str) -> ChainReport:
        seen = self.seen_id if self.seen_id is not None else self.anchor_id
        if seen < self.last_id:
            missing = f"第 {seen + 1} 条" if seen + 1 == self.last_id else f"第 {seen + 1} 至 {self.last_id} 条"
            return self.broken(seen + 1, f"{missing}记录缺失（链尾被截断）。")
        if seen > self.last_id:
            return self.broken(self.last_id + 1, "该记录及其后的记录不在链头的登记之内（未经应用写入）。")
        if self.prev_hash != last_hash:
            return self.broken(seen, "最后一条记录的哈希与链头的登记不符。")
        return ChainReport(True, self.checked, self.first_id, self.last_id, self.anchor_id)


@dataclass(frozen=True)
class PurgeResult:
    deleted: int
    cutoff: datetime  # rows logged before this moment could go
    anchor_id: int  # the chain now starts after this row


def retention_days(older_than_days: int | None = None) -> int:
    """The days kept: the setting (or ``older_than_days``), never under six months."""
    configured = older_than_days if older_than_days is not None else get_settings().audit_retention_days
    return max(int(configured), MIN_RETENTION_DAYS)


def purge_expired(
    actor: Actor = SYSTEM_ACTOR, *, older_than_days: int | None = None, now: datetime | None = None
) -> PurgeResult:
    """Delete the oldest audit rows, a prefix of the chain whose rows are all older than the
    retention (``audit_retention_days``, at least 183 days), and move the chain's anchor to the last
    row deleted. The chain must verify first. The operator's command only."""
    if not actor.is_system:
        raise ServiceError("审计日志只能由运维命令清理。")
    days = retention_days(older_than_days)
    cutoff = (now or utcnow()) - timedelta(days=days)
    report = _walk(BATCH_SIZE)
    if not report.ok:
        raise ServiceError(f"审计链未通过核验，未清理任何记录。{report.message}")
    with db.session_scope(write=True) as session:
        _last_id, _last_hash, anchor_id, _anchor_hash = audit_chain.lock_head(session)
        first_young = session.execute(select(func.min(_log.c.id)).where(_log.c.at >= cutoff)).scalar()
        upto = int(first_young) - 1 if first_young is not None else _last_id
        last = session.execute(
            select(_log.c.id, _log.c.row_hash)
            .where(_log.c.id > anchor_id, _log.c.id <= upto)
            .order_by(_log.c.id.desc())
            .limit(1)
        ).first()
        deleted = 0
        if last is not None:
            result: Any = session.execute(delete(_log).where(_log.c.id <= int(last[0])))
            deleted = int(result.rowcount or 0)
            anchor_id = int(last[0])
            session.execute(update(_head).where(_head.c.id == 1).values(anchor_id=anchor_id, anchor_hash=last[1]))
        audit.record(
            session,
            actor,
            "audit_purge",
            object_type="audit_log",
            object_id=anchor_id or "",
            detail=f"清理 {days} 天前的审计日志：删除 {deleted} 条，审计链自第 {anchor_id + 1} 条起",
        )
    return PurgeResult(deleted=deleted, cutoff=cutoff, anchor_id=anchor_id)
