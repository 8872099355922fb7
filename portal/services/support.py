"""技术支持 (§23: 逐级开展技术支持服务): each level's support contact, set by that level's system
administrator for its own region; a user sees the contacts along their chain, nearest first —
their county, city, province, then the ministry — and asks the nearest level first.

The ministry's contact is kept under the region code ``MINISTRY_REGION`` ('00'): a ministry
account has no region code of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import col, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.policy import Action, PermissionDenied, require
from portal.auth.roles import BUREAU_LEVELS, LEVEL_LABELS, Level, level_rank
from portal.clock import utcnow
from portal.data import db
from portal.data.models import Region, SupportContact, User
from portal.services import audit
from portal.services.errors import NotFound, ServiceError, ValidationError
from portal.services.inputs import check_text
from portal.services.regions import full_region_name

MINISTRY_REGION = "00"
MINISTRY_NAME = "教育部"
PHONE_RE = re.compile(r"^[0-9]+(-[0-9]+)*$")
EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
# field -> (label, max length); the lengths are the columns'.
FIELDS: dict[str, tuple[str, int]] = {
    "unit": ("技术支持单位", 100),
    "person": ("联系人", 50),
    "phone": ("联系电话", 50),
    "email": ("电子邮箱", 100),
    "hours": ("服务时间", 100),
    "channel": ("其他联系渠道", 200),
}
_REGION_LEVELS = {"province": Level.PROVINCE, "city": Level.CITY, "county": Level.COUNTY}


@dataclass(frozen=True)
class ContactInput:
    unit: str = ""
    person: str = ""
    phone: str = ""
    email: str = ""
    hours: str = ""
    channel: str = ""


@dataclass(frozen=True)
class ContactRow:
    region_code: str
    level: str
    level_label: str
    region_name: str
    unit: str
    person: str
    phone: str
    email: str
    hours: str
    channel: str
    updated_at: datetime | None


def own_region(actor: Actor) -> str | None:
    """The region code under which the actor's level keeps its contact (bureau levels only)."""
    if actor.level is Level.MINISTRY:
        return MINISTRY_REGION
    return actor.region_code if actor.level in BUREAU_LEVELS else None


def chain_codes(actor: Actor) -> list[str]:
    """The region codes of the actor's levels of support, nearest first: own county, city,
    province, the ministry (each once: a city without counties has one code for both)."""
    rank = level_rank(actor.level)
    codes: list[str | None] = []
    if rank >= level_rank(Level.COUNTY):
        codes.append(actor.county_code)
    if rank >= level_rank(Level.CITY):
        codes.append(actor.city_code)
    if rank >= level_rank(Level.PROVINCE) and actor.province_code:
        codes.append(f"{actor.province_code}0000")
    codes.append(MINISTRY_REGION)
    return list(dict.fromkeys(c for c in codes if c))


def _row(contact: SupportContact) -> ContactRow:
    level = Level(contact.level)
    return ContactRow(
        region_code=contact.region_code,
        level=contact.level,
        level_label=LEVEL_LABELS[level],
        region_name=contact.region_name,
        unit=contact.unit,
        person=contact.person,
        phone=contact.phone,
        email=contact.email,
        hours=contact.hours,
        channel=contact.channel,
        updated_at=contact.updated_at,
    )


def contacts_for(actor: Actor) -> list[ContactRow]:
    """The support contacts along the actor's chain that are set, nearest level first."""
    codes = chain_codes(actor)
    with db.session_scope() as session:
        found = {
            c.region_code: c
            for c in session.exec(select(SupportContact).where(col(SupportContact.region_code).in_(codes))).all()
        }
    return [_row(found[code]) for code in codes if code in found]


def own_contact(actor: Actor) -> ContactRow | None:
    """The contact of the administrator's own level (for the edit form), or None if not set."""
    require(actor, Action.MANAGE_SUPPORT)
    code = own_region(actor)
    with db.session_scope() as session:
        contact = session.get(SupportContact, code) if code else None
        return _row(contact) if contact else None


def _clean(values: ContactInput) -> dict[str, str]:
    """The values stripped and checked; every problem at once, named by field."""
    cleaned = {name: (getattr(values, name) or "").strip() for name in FIELDS}
    errors: dict[str, str] = {}
    for name, (label, max_length) in FIELDS.items():
        try:
            check_text(cleaned[name], field=name, label=label, max_length=max_length)
        except ValidationError as exc:
            errors.update(exc.errors)
    if not cleaned["unit"] and "unit" not in errors:
        errors["unit"] = "请填写提供技术支持的单位（如：河南省教育信息中心）。"
    if not cleaned["phone"] and not cleaned["email"] and "phone" not in errors:
        errors["phone"] = "联系电话和电子邮箱至少填写一项。"
    if cleaned["phone"] and "phone" not in errors:
        digits = cleaned["phone"].replace("-", "")
        if not PHONE_RE.match(cleaned["phone"]) or not 5 <= len(digits) <= 20:
            errors["phone"] = "联系电话只能由数字和连字符组成（5 至 20 位数字），例如 0371-69691234 或 13800000000。"
    if cleaned["email"] and "email" not in errors and not EMAIL_RE.match(cleaned["email"]):
        errors["email"] = "电子邮箱格式不正确，例如 support@example.edu.cn。"
    if errors:
        raise ValidationError(errors)
    return cleaned


def set_contact(actor: Actor, values: ContactInput, *, region_code: str | None = None) -> ContactRow:
    """A level's system administrator sets its own level's support contact (only its own region;
    the operator at the command line may name any region). Audited with before and after."""
    require(actor, Action.MANAGE_SUPPORT)
    own = own_region(actor)
    target = region_code or own
    if target is None:
        raise ServiceError("您的账户没有登记管辖区划，不能设置技术支持联系方式。")
    if not actor.is_system and target != own:
        raise PermissionDenied(Action.MANAGE_SUPPORT, "只能设置本级的技术支持联系方式。")
    cleaned = _clean(values)
    with db.session_scope(write=True) as session:
        if target == MINISTRY_REGION:
            level, region_name = Level.MINISTRY, MINISTRY_NAME
        else:
            region = session.get(Region, target)
            if region is None or region.level not in _REGION_LEVELS:
                raise NotFound(f"区划“{target}”不存在，或不是省、市、县级区划。")
            level = actor.level if not actor.is_system else _REGION_LEVELS[region.level]
            region_name = full_region_name(session, region)[:64]
        contact = session.get(SupportContact, target)
        before = {name: getattr(contact, name) for name in FIELDS} if contact else None
        if contact is None:
            contact = SupportContact(region_code=target, level=level.value)
        contact.level, contact.region_name = level.value, region_name
        for name, value in cleaned.items():
            setattr(contact, name, value)
        contact.updated_by = actor.user_id or None
        contact.updated_at = utcnow()
        session.add(contact)
        audit.record(
            session,
            actor,
            "support_contact_update",
            object_type="support_contact",
            object_id=target,
            before=before,
            after=cleaned,
            detail=f"{region_name}技术支持：{cleaned['unit']}",
        )
        session.flush()
        return _row(contact)


def seed_demo(today: date) -> None:
    """Demo contacts of 河南省 (by demo-sysadmin), 郑州市 and 中牟县 (no demo administrators
    there: set by the operator's system actor)."""
    from portal.services.login import build_actor

    with db.session_scope() as session:
        user = session.exec(select(User).where(User.username == "demo-sysadmin")).first()
        province_admin = build_actor(session, user) if user else SYSTEM_ACTOR
    set_contact(
        province_admin,
        ContactInput(
            unit="河南省教育厅信息中心（演示）",
            person="赵磊",
            phone="0371-69691001",
            email="support@example.edu.cn",
            hours="工作日 8:30—12:00，14:30—17:30",
            channel="全省系统管理员工作群",
        ),
        region_code=None if user else "410000",
    )
    set_contact(
        SYSTEM_ACTOR,
        ContactInput(
            unit="郑州市教育局电教馆（演示）",
            person="李慧敏",
            phone="0371-67181234",
            email="zz-support@example.edu.cn",
            hours="工作日 9:00—17:00",
        ),
        region_code="410100",
    )
    set_contact(
        SYSTEM_ACTOR,
        ContactInput(
            unit="中牟县教育局学前教育股（演示）",
            person="张伟",
            phone="0371-62171234",
            hours="工作日 8:30—17:30",
            channel=f"{today.year}年起每周三下午集中答疑",
        ),
        region_code="410122",
    )
