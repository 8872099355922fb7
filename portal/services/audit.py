"""The audit trail: one helper that every service calls inside its own transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, func, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, require, scope_filter
from portal.clock import utcnow
from portal.data import db
from portal.data.models import AuditLog
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
}


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
) -> AuditLog:
    """Append one audit row to ``session`` (committed with the change it records).

    ``actor`` is None for events without a logged-in user (a failed login); ``username`` then
    names the login name that was typed, and ``region_codes`` (province, city, county) places
    the row in an auditor's scope.
    """
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
    )
    session.add(row)
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
}


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


@dataclass(frozen=True)
class AuditPage:
    entries: Sequence[AuditEntry]
    next_cursor: int | None  # pass back as ``before_id`` for the next (older) page
    total: int


def list_entries(
    actor: Actor,
    *,
    action: str | None = None,
    username: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> AuditPage:
    """The audit log in the auditor's scope, newest first, keyset-paged by id."""
    require(actor, Action.VIEW_AUDIT)
    conditions = [scope_filter(actor, AuditLog)]
    if action:
        conditions.append(col(AuditLog.action) == action)
    if username:
        conditions.append(col(AuditLog.username) == username.strip().lower())
    if since is not None:
        conditions.append(col(AuditLog.at) >= since)
    query = select(AuditLog).where(*conditions)
    if before_id is not None:
        query = query.where(col(AuditLog.id) < before_id)
    with db.session_scope() as session:
        total = session.exec(select(func.count()).select_from(AuditLog).where(*conditions)).one()
        rows = session.exec(query.order_by(col(AuditLog.id).desc()).limit(limit + 1)).all()
    entries = [
        AuditEntry(
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
        )
        for r in rows[:limit]
    ]
    next_cursor = entries[-1].id if len(rows) > limit and entries else None
    return AuditPage(entries=entries, next_cursor=next_cursor, total=total)
