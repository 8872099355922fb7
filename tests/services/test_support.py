"""技术支持联系方式 (§23): each level's system administrator sets its own level's contact, checked
and audited; a user sees the contacts of their chain, nearest level first."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.policy import PermissionDenied
from portal.auth.roles import Duty, Level
from portal.data import db
from portal.data.models import AuditLog, SupportContact
from portal.services import support
from portal.services.accounts import NewUser, create_user
from portal.services.errors import ValidationError
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.factories import TODAY, clerk_of

GOOD = support.ContactInput(
    unit="河南省教育厅信息中心",
    person="赵磊",
    phone="0371-69691001",
    email="support@example.edu.cn",
    hours="工作日 8:30—17:30",
    channel="全省系统管理员工作群",
)


def city_sysadmin() -> Actor:
    create_user(
        SYSTEM_ACTOR,
        NewUser(
            "sysadmin-410100",
            "郑州系统管理员",
            Level.CITY,
            Duty.SYSADMIN,
            DEMO_PASSWORD,
            phone="0371-67180000",
            region_code="410100",
            is_demo=True,
        ),
    )
    return actor_for("sysadmin-410100")


def stored() -> dict[str, SupportContact]:
    with db.session_scope() as session:
        return {c.region_code: c for c in session.exec(select(SupportContact)).all()}


def audit_rows() -> int:
    with db.session_scope() as session:
        return session.exec(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "support_contact_update")
        ).one()


def test_a_system_administrator_sets_their_own_levels_contact_only(actors: dict[str, Actor]) -> None:
    row = support.set_contact(actors["sysadmin"], GOOD)
    assert (row.region_code, row.level, row.region_name, row.level_label) == ("410000", "province", "河南省", "省级")
    assert support.own_contact(actors["sysadmin"]) == row
    changed = support.set_contact(actors["sysadmin"], support.ContactInput(unit="省电教馆", phone="12345"))
    assert (changed.unit, changed.phone, changed.email) == ("省电教馆", "12345", "")
    assert audit_rows() == 2
    with db.session_scope() as session:
        last = session.exec(
            select(AuditLog).where(AuditLog.action == "support_contact_update").order_by(AuditLog.id.desc())
        ).first()  # type: ignore[union-attr]
        assert last is not None and '"unit": "河南省教育厅信息中心"' in (last.before or "")
    # Not another region, and not another duty.
    with pytest.raises(PermissionDenied, match="只能设置本级"):
        support.set_contact(actors["sysadmin"], GOOD, region_code="410100")
    for name in ("province", "secadmin", "county", "clerk"):
        with pytest.raises(PermissionDenied):
            support.set_contact(actors[name], GOOD)
    assert list(stored()) == ["410000"] and stored()["410000"].unit == "省电教馆" and audit_rows() == 2


BAD = [
    (support.ContactInput(unit="", phone="0371-1234567"), "unit", "请填写提供技术支持的单位"),
    (support.ContactInput(unit="信息中心"), "phone", "至少填写一项"),
    (support.ContactInput(unit="信息中心", phone="0371 6969 1001"), "phone", "只能由数字和连字符组成"),
    (support.ContactInput(unit="信息中心", phone="call-me"), "phone", "只能由数字和连字符组成"),
    (support.ContactInput(unit="信息中心", phone="1234"), "phone", "5 至 20 位数字"),
    (support.ContactInput(unit="信息中心", email="support@local"), "email", "电子邮箱格式不正确"),
    (support.ContactInput(unit="信" * 101, phone="12345"), "unit", "不超过 100 个字"),
    (support.ContactInput(unit="信息中心", phone="12345", hours="全天\n值守"), "hours", "服务时间含有"),
    (support.ContactInput(unit="信息中心\u202e", phone="12345"), "unit", "技术支持单位含有"),
]


def test_bad_contacts_are_refused_with_the_field_named_and_nothing_written(actors: dict[str, Actor]) -> None:
    for values, field, message in BAD:
        with pytest.raises(ValidationError) as refused:
            support.set_contact(actors["sysadmin"], values)
        assert message in refused.value.errors[field], (values, refused.value.errors)
    assert stored() == {} and audit_rows() == 0


def test_contacts_are_shown_along_the_chain_nearest_first(actors: dict[str, Actor]) -> None:
    assert support.contacts_for(actors["clerk"]) == []
    support.set_contact(actors["sysadmin"], GOOD)
    support.set_contact(city_sysadmin(), support.ContactInput(unit="郑州市电教馆", phone="0371-67181234"))
    support.set_contact(
        SYSTEM_ACTOR, support.ContactInput(unit="中牟县教育局", phone="0371-62171234"), region_code="410122"
    )
    support.set_contact(
        SYSTEM_ACTOR, support.ContactInput(unit="教育部信息中心", email="help@example.cn"), region_code="00"
    )

    def chain(actor: Actor) -> list[str]:
        return [c.level for c in support.contacts_for(actor)]

    full = ["county", "city", "province", "ministry"]
    assert chain(actors["clerk"]) == chain(actors["township"]) == chain(actors["county"]) == full
    assert [c.unit for c in support.contacts_for(actors["clerk"])] == [
        "中牟县教育局",
        "郑州市电教馆",
        "河南省教育厅信息中心",
        "教育部信息中心",
    ]
    assert chain(actors["city"]) == ["city", "province", "ministry"]
    assert chain(actors["province"]) == chain(actors["auditor"]) == ["province", "ministry"]
    assert chain(clerk_of("4101020001")) == ["city", "province", "ministry"]  # 中原区 has set none
    assert chain(clerk_of("4102250001")) == ["province", "ministry"]  # 开封市 neither


def test_the_demo_contacts(actors: dict[str, Actor]) -> None:
    support.seed_demo(TODAY)
    assert [c.region_name for c in support.contacts_for(actors["clerk"])] == [
        "河南省郑州市中牟县",
        "河南省郑州市",
        "河南省",
    ]
    assert support.own_contact(actors["sysadmin"]) is not None
