"""The audit trail: one helper that every service calls inside its own transaction, and the
auditor's reading of it (filters, keyset pages, export). The hash chain that makes the log
tamper-evident is kept at commit by portal/data/audit_chain.py and checked by
portal/services/audit_integrity.py."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, require, scope_filter
from portal.clock import LOCAL_TZ, format_local, utcnow
from portal.data import audit_chain, db
from portal.data.models import AuditLog
from portal.services import exports
from portal.services.errors import ServiceError
from portal.services.inputs import search_term
from portal.settings import get_settings

ACTION_LABELS: dict[str, str] = {
    "login": "登录",
    "login_failed": "登录失败",
    "lockout": "账户锁定",
    "logout": "退出登录",
    "session_timeout": "会话超时",
    "unlock": "解除锁定",
    "user_create": "创建用户",
    "institution_create": "创建机构",
    "region_import": "导入行政区划",
    "township_import": "导入乡镇",
    "demo_load": "加载演示数据",
    "draft_save": "保存草稿",
    "request_submit": "提交申请",
    "request_approve": "审核通过",
    "request_return": "驳回",
    "request_acknowledge": "阅知",
    "evidence_upload": "上传证明材料",
    "evidence_download": "下载证明材料",
    "form_design": "设计监管表单",
    "form_publish": "发布监管表单",
    "form_submit": "提交监管信息",
    "form_export": "导出监管信息",
    "class_create": "创建班级",
    "class_delete": "删除班级",
    "child_create": "录入幼儿信息",
    "child_update": "修改幼儿信息",
    "child_delete": "删除幼儿信息",
    "child_submit": "提交幼儿信息审核",
    "child_import": "导入幼儿信息",
    "child_export": "导出幼儿信息",
    "child_restore": "恢复幼儿信息",
    "personal_reveal": "查看完整证件号码",
    "student_number_issue": "生成学籍号",
    "problem_record_open": "产生问题学籍",
    "proof_file": "提交佐证材料",
    "proof_download": "下载佐证材料",
    "dispute_arbitrate": "仲裁问题学籍",
    "child_move": "幼儿调班",
    "child_graduate": "幼儿毕业",
    "graduates_export": "导出毕业幼儿名单",
    "class_promotion": "升班",
    "child_leave": "幼儿离园",
    "transfer_start": "发起转园",
    "transfer_mismatch": "转园发起不匹配",
    "transfer_agree": "同意转园",
    "transfer_complete": "完成转园",
    "transfer_cancel": "撤销转园",
    "transfer_expire": "转园过期",
    "baseline_import": "导入统计基数",
    "data_export": "导出数据",
    "baseline_correct": "更正统计基数",
    "key_change_request": "申请关键信息变更",
    "key_change_apply": "关键信息变更生效",
    # Accounts (R6.1-R6.4)
    "password_change": "修改密码",
    "password_reset": "重置密码",
    "password_expired": "密码过期",
    "totp_enrol": "绑定动态口令",
    "totp_failed": "动态口令错误",
    "loan_request": "申请借用密码",
    "loan_approve": "批准借用密码",
    "loan_refuse": "拒绝借用密码",
    "loan_end": "结束借用密码",
    "user_update": "修改用户",
    "user_disable": "停用用户",
    "user_enable": "启用用户",
    "grant_revoke": "撤销授权",
    "account_idle_disable": "长期未登录停用",
    "permission_denied": "越权操作被拒绝",
    # The audit log itself, backups and keys (R6.5, R6.6)
    "audit_chain_start": "启用审计链",
    "audit_verify": "核验审计链",
    "audit_purge": "清理过期审计日志",
    "backup": "备份数据",
    "restore": "恢复数据",
    "key_rotate": "轮换密钥",
    # Notices and support (R7.1)
    "notice_publish": "发布通知公告",
    "notice_read": "阅读通知公告",
    "notice_download": "下载通知附件",
    "notice_withdraw": "撤回通知公告",
    "support_contact_update": "设置技术支持联系方式",
    # Preschool projects (§15, §16)
    "central_fund_record": "录入中央资金",
    "project_create": "新建学前教育项目",
    "project_update": "修改学前教育项目",
    "project_delete": "删除学前教育项目",
    "project_progress": "填报项目月度进展",
    "project_evidence_download": "下载项目进展佐证材料",
    # Funding computed from the records (R4.2)
    "funding_compute": "经费测算",
    "exchange_export": "导出数据交换包",
    "exchange_import": "导入数据交换包",
    "exchange_duplicates_export": "出具全国查重报告",
    "exchange_duplicates_import": "导入全国查重报告",
}

OUTCOME_LABELS: dict[str, str] = {"success": "成功", "failure": "失败", "denied": "拒绝"}
OUTCOMES = frozenset(OUTCOME_LABELS)


def _json(value: Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None

    def default(obj: Any) -> Any:
        if isinstance(obj, datetime | date):
            return obj.isoformat()
        return str(obj)

    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=default)


def record(
    session: Session,
    actor: Actor | None,
    action: str,
    *,
    object_type: str = "",
    object_id: str | int = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    detail: str = "",
    username: str = "",
    region_codes: tuple[str | None, str | None, str | None] | None = None,
    outcome: str = "success",
    session_id: str | None = None,
) -> AuditLog:
    """Append one audit row to ``session`` (committed with the change it records).

    ``actor`` is None for events without a logged-in user (a failed login); ``username`` then
    names the login name that was typed, and ``region_codes`` (province, city, county) places
    the row in an auditor's scope. ``outcome`` is success, failure or denied. The row carries the
    actor's login session and password loan (``session_id`` overrides the session, e.g. for a
    failure before the login).

    The row is not added to the session at once: it gets its id and its place in the hash chain
    when the session commits (portal/data/audit_chain.py), so its ``id`` is None until then.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome: {outcome!r}")
    if region_codes is None:
        if actor is None or actor.is_system:
            # The operator's commands belong to the deployment's province.
            region_codes = (get_settings().province_code, None, None)
        else:
            region_codes = (actor.province_code, actor.city_code, actor.county_code)
    row = AuditLog(
        at=utcnow(),
        user_id=actor.user_id if actor else None,
        username=actor.username if actor else username,
        real_name=actor.real_name if actor else "",
        role=actor.role if actor else "",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=_json(before),
        after=_json(after),
        detail=detail[:500],
        province_code=region_codes[0],
        city_code=region_codes[1],
        county_code=region_codes[2],
        outcome=outcome,
        session_id=(session_id if session_id is not None else actor.session_id if actor else "")[:32],
        loan_id=actor.loan_id if actor else None,
    )
    audit_chain.append(session, row)
    return row


OBJECT_LABELS: dict[str, str] = {
    "user": "用户",
    "institution": "机构",
    "region": "行政区划",
    "request": "申请",
    "class": "班级",
    "child": "幼儿",
    "dispute": "问题学籍",
    "transfer": "转园",
    "baseline": "统计基数",
    "supervision_form": "监管表单",
    "loan": "密码借用",
    "grant": "授权",
    "backup": "备份",
    "audit_log": "审计日志",
    "central_fund": "中央资金",
    "project": "学前教育项目",
    "funding_run": "经费测算",
    "notice": "通知公告",
    "support_contact": "技术支持联系方式",
}


@dataclass(frozen=True)
class AuditFilter:
    """What the auditor asks for. Days are Asia/Shanghai calendar days, both ends included."""

    action: str | None = None
    username: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    from_day: date | None = None
    to_day: date | None = None
    outcome: str | None = None
    since: datetime | None = None  # an aware moment (the older callers' filter)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    username: str
    real_name: str
    role: str
    action: str
    action_label: str
    object_type: str
    object_id: str
    before: str | None
    after: str | None
    detail: str
    outcome: str = "success"
    outcome_label: str = "成功"
    session_id: str = ""
    loan_id: int | None = None


@dataclass(frozen=True)
class AuditPage:
    entries: Sequence[AuditEntry]
    next_cursor: int | None  # pass back as ``before_id`` for the next (older) page
    total: int


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=LOCAL_TZ).astimezone(UTC)


def _conditions(actor: Actor, filters: AuditFilter) -> list[Any]:
    require(actor, Action.VIEW_AUDIT)
    if filters.from_day and filters.to_day and filters.from_day > filters.to_day:
        raise ServiceError("开始日期不能晚于结束日期。")
    if filters.outcome and filters.outcome not in OUTCOMES:
        raise ServiceError("未知的操作结果。")
    conditions: list[Any] = [scope_filter(actor, AuditLog)]
    if filters.action:
        conditions.append(col(AuditLog.action) == filters.action)
    username = search_term(filters.username, 64)
    if username:
        conditions.append(col(AuditLog.username) == username.lower())
    if filters.object_type:
        conditions.append(col(AuditLog.object_type) == filters.object_type)
    object_id = search_term(filters.object_id, 64)
    if object_id:
        conditions.append(col(AuditLog.object_id) == object_id)
    if filters.outcome:
        conditions.append(col(AuditLog.outcome) == filters.outcome)
    if filters.from_day:
        conditions.append(col(AuditLog.at) >= _local_midnight(filters.from_day))
    if filters.to_day:
        conditions.append(col(AuditLog.at) < _local_midnight(filters.to_day + timedelta(days=1)))
    if filters.since is not None:
        conditions.append(col(AuditLog.at) >= filters.since)
    return conditions


def _entry(r: AuditLog) -> AuditEntry:
    return AuditEntry(
        id=r.id or 0,
        at=r.at,
        username=r.username,
        real_name=r.real_name,
        role=r.role,
        action=r.action,
        action_label=ACTION_LABELS.get(r.action, r.action),
        object_type=OBJECT_LABELS.get(r.object_type, r.object_type),
        object_id=r.object_id,
        before=r.before,
        after=r.after,
        detail=r.detail,
        outcome=r.outcome,
        outcome_label=OUTCOME_LABELS.get(r.outcome, r.outcome),
        session_id=r.session_id,
        loan_id=r.loan_id,
    )


def list_entries(
    actor: Actor,
    *,
    action: str | None = None,
    username: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
    filters: AuditFilter | None = None,
) -> AuditPage:
    """The audit log in the auditor's scope, newest first, keyset-paged by id. ``filters`` (or the
    older keywords ``action``, ``username`` and ``since``) narrow it."""
    filters = filters or AuditFilter(action=action, username=username, since=since)
    conditions = _conditions(actor, filters)
    query = select(AuditLog).where(*conditions)
    if before_id is not None:
        query = query.where(col(AuditLog.id) < before_id)
    with db.session_scope() as session:
        total = session.exec(select(func.count()).select_from(AuditLog).where(*conditions)).one()
        rows = session.exec(query.order_by(col(AuditLog.id).desc()).limit(limit + 1)).all()
    entries = [_entry(r) for r in rows[:limit]]
    next_cursor = entries[-1].id if len(rows) > limit and entries else None
    return AuditPage(entries=entries, next_cursor=next_cursor, total=total)


EXPORT_COLUMNS = (
    "编号",
    "时间",
    "用户名",
    "姓名",
    "角色",
    "操作",
    "结果",
    "对象类型",
    "对象",
    "说明",
    "变更前",
    "变更后",
    "会话",
    "借用单",
)
EXPORT_FORMATS = ("csv", "xlsx")
_EXPORT_BATCH = 2000


def export_line(entry: AuditEntry) -> list[Any]:
    """One row of the export, in ``EXPORT_COLUMNS``' order (not yet neutralised)."""
    return [
        entry.id,
        format_local(entry.at, with_seconds=True),
        entry.username,
        entry.real_name,
        entry.role,
        entry.action_label,
        entry.outcome_label,
        entry.object_type,
        entry.object_id,
        entry.detail,
        entry.before or "",
        entry.after or "",
        entry.session_id,
        entry.loan_id or "",
    ]


def export_entries(actor: Actor, filters: AuditFilter | None = None, fmt: str = "csv") -> bytes:
    """Every row of the audit log matching ``filters`` in the actor's scope, oldest first, as CSV
    (UTF-8 with BOM, for Excel) or .xlsx; formula-like cells neutralised. The export is audited."""
    if fmt not in EXPORT_FORMATS:
        raise ServiceError("导出格式只能是 CSV 或 Excel。")
    filters = filters or AuditFilter()
    conditions = _conditions(actor, filters)
    writer = _CsvOut() if fmt == "csv" else _XlsxOut()
    writer.add([*EXPORT_COLUMNS])
    count = 0
    with db.session_scope() as session:  # a read: the write lock is taken only for the audit row
        after_id = 0
        while True:
            rows = session.exec(
                select(AuditLog)
                .where(*conditions, col(AuditLog.id) > after_id)
                .order_by(col(AuditLog.id))
                .limit(_EXPORT_BATCH)
            ).all()
            if not rows:
                break
            for row in rows:
                writer.add([exports.neutralise(v) for v in export_line(_entry(row))])
            count += len(rows)
            after_id = rows[-1].id or after_id
            session.expunge_all()
    data = writer.getvalue()
    with db.session_scope(write=True) as session:
        exports.record(session, actor, f"审计日志（{_describe(filters)}）", count, object_type="audit_log")
    return data


def _describe(filters: AuditFilter) -> str:
    parts = []
    if filters.action:
        parts.append(f"操作：{ACTION_LABELS.get(filters.action, filters.action)}")
    if filters.username:
        parts.append(f"用户：{filters.username.strip().lower()}")
    if filters.object_type:
        parts.append(f"对象类型：{OBJECT_LABELS.get(filters.object_type, filters.object_type)}")
    if filters.object_id:
        parts.append(f"对象：{filters.object_id.strip()}")
    if filters.outcome:
        parts.append(f"结果：{OUTCOME_LABELS.get(filters.outcome, filters.outcome)}")
    if filters.from_day or filters.to_day:
        parts.append(f"日期：{filters.from_day or '…'} 至 {filters.to_day or '…'}")
    return "，".join(parts) or "全部"


class _CsvOut:
    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def add(self, line: list[Any]) -> None:
        self._writer.writerow(line)

    def getvalue(self) -> bytes:
        return ("\ufeff" + self._buffer.getvalue()).encode("utf-8")


class _XlsxOut:
    def __init__(self) -> None:
        from openpyxl import Workbook

        self._workbook = Workbook(write_only=True)
        self._sheet = self._workbook.create_sheet("审计日志")

    def add(self, line: list[Any]) -> None:
        from openpyxl.cell import WriteOnlyCell

        cells = []
        for value in line:
            cell = WriteOnlyCell(self._sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text stays text, whatever it looks like
            cells.append(cell)
        self._sheet.append(cells)

    def getvalue(self) -> bytes:
        buffer = io.BytesIO()
        self._workbook.save(buffer)
        return buffer.getvalue()
