"""The password and account policy (R6.2): settings give the defaults, the security administrator
of the deployment's top level adjusts them within the bounds of level-3 protection.

Every item is read afresh from the database where it is used (a login, a password change, the
daily job), so a change reaches every portal process at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlmodel import select

from portal.auth.actor import Actor
from portal.auth.policy import Action, require
from portal.clock import utcnow
from portal.data import db
from portal.data.models import SecurityPolicy
from portal.services import audit
from portal.services.errors import ServiceError, ValidationError
from portal.settings import get_settings


@dataclass(frozen=True)
class Item:
    label: str
    setting: str  # the name in portal/settings.py
    low: int
    high: int
    unit: str = ""


# Bounds: what level-3 protection allows (complexity of at least 3 classes and 10 characters,
# changes at most every 90 days, at least 5 passwords remembered, a temporary password of a day).
ITEMS: dict[str, Item] = {
    "min_length": Item("密码最小长度", "password_min_length", 10, 64, "个字符"),
    "max_length": Item("密码最大长度", "password_max_length", 64, 256, "个字符"),
    "min_classes": Item("至少包含的字符类别", "password_min_classes", 3, 4, "类"),
    "max_age_days": Item("密码最长使用期限", "password_max_age_days", 1, 90, "天"),
    "history": Item("不得重复使用最近的密码", "password_history", 5, 24, "个"),
    "temp_password_hours": Item("临时密码有效期", "temp_password_hours", 1, 24, "小时"),
    "account_idle_days": Item("账户闲置停用期限", "account_idle_days", 1, 90, "天"),
    "loan_max_days": Item("密码借用最长期限", "password_loan_max_days", 1, 30, "天"),
    "totp_required_for_all": Item("所有账户均须使用动态口令", "totp_required_for_all", 0, 1),
}


@dataclass(frozen=True)
class Policy:
    min_length: int
    max_length: int
    min_classes: int
    max_age_days: int
    history: int
    temp_password_hours: int
    account_idle_days: int
    loan_max_days: int
    totp_required_for_all: bool


def shown(key: str, value: int) -> str:
    """An item's value in words: 90天, 是/否."""
    if key == "totp_required_for_all":
        return "是" if value else "否"
    return f"{value}{ITEMS[key].unit}"


def _clamp(key: str, value: int) -> int:
    item = ITEMS[key]
    return min(item.high, max(item.low, value))


def _build(values: dict[str, int]) -> Policy:
    kwargs: dict[str, Any] = {}
    for f in fields(Policy):
        value = _clamp(f.name, values[f.name])
        kwargs[f.name] = bool(value) if f.name == "totp_required_for_all" else value
    return Policy(**kwargs)


def defaults() -> dict[str, int]:
    """The items as the settings give them."""
    settings = get_settings()
    return {key: int(getattr(settings, item.setting)) for key, item in ITEMS.items()}


def current_policy() -> Policy:
    """The policy in force: the settings, overridden by the security administrator's choices."""
    values = defaults()
    with db.session_scope() as session:
        for row in session.exec(select(SecurityPolicy)).all():
            if row.key in ITEMS and row.value.lstrip("-").isdigit():
                values[row.key] = int(row.value)
    return _build(values)


def update_policy(actor: Actor, changes: dict[str, int]) -> Policy:
    """The security administrator sets items of the policy (each within its bounds); audited with
    the values before and after."""
    require(actor, Action.MANAGE_POLICY)
    errors: dict[str, str] = {}
    for key, value in changes.items():
        item = ITEMS.get(key)
        if item is None:
            errors[key] = f"未知的策略项：{key}"
        elif not isinstance(value, int) or (isinstance(value, bool) and key != "totp_required_for_all"):
            errors[key] = f"{item.label}须为整数。"
        elif not item.low <= int(value) <= item.high:
            errors[key] = f"{item.label}须在 {item.low}–{item.high}{item.unit} 之间（等级保护三级要求）。"
    if errors:
        raise ValidationError(errors)
    before = current_policy()
    merged = {f.name: int(getattr(before, f.name)) for f in fields(Policy)}
    merged.update({k: int(v) for k, v in changes.items()})
    if merged["max_length"] < merged["min_length"]:
        raise ValidationError({"max_length": "密码最大长度不能小于最小长度。"})
    changed = {k: v for k, v in merged.items() if int(getattr(before, k)) != v}
    if not changed:
        raise ServiceError("策略没有变化。")
    now = utcnow()
    with db.session_scope(write=True) as session:
        for key, value in changed.items():
            row = session.get(SecurityPolicy, key)
            if row is None:
                row = SecurityPolicy(key=key, value=str(value))
            row.value, row.updated_by, row.updated_at = str(value), actor.user_id or None, now
            session.add(row)
        audit.record(
            session,
            actor,
            "policy_change",
            object_type="policy",
            object_id="password",
            before={k: int(getattr(before, k)) for k in changed},
            after=changed,
        )
    return current_policy()
