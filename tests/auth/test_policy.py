"""The policy matrix: for each role, what it may see and change."""

from __future__ import annotations

import pytest
from sqlmodel import select

from portal.auth.actor import Actor
from portal.auth.policy import Action, PermissionDenied, may, require
from portal.auth.roles import Duty, Level
from portal.data import db
from portal.data.models import Institution, User
from portal.services import audit
from portal.services.accounts import NewUser, create_user, list_users
from portal.services.institutions import get_institution, list_institutions
from tests.conftest import DEMO_PASSWORD, actor_for

ZHONGMOU = {"4101220001", "4101220002", "4101220003", "4101220004", "4101220005"}
GUANDU = {"4101220001", "4101220002", "4101220003"}
ZHENGZHOU = ZHONGMOU | {"4101020001", "4101020002", "4101050001", "4101050002"}
ALL = ZHENGZHOU | {"4102250001", "4102250002", "4103110001", "4190010001"}


def visible_codes(actor: Actor) -> set[str]:
    return {row.code for row in list_institutions(actor, limit=100).rows}


def institution(code: str) -> Institution:
    with db.session_scope() as session:
        return session.exec(select(Institution).where(Institution.code == code)).one()


def user(username: str) -> User:
    with db.session_scope() as session:
        return session.exec(select(User).where(User.username == username)).one()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("province", ALL),
        ("city", ZHENGZHOU),
        ("county", ZHONGMOU),
        ("township", GUANDU),
        ("clerk", {"4101220002"}),
        ("sysadmin", ALL),
    ],
)
def test_each_role_sees_exactly_its_institutions(actors: dict[str, Actor], name: str, expected: set[str]) -> None:
    assert visible_codes(actors[name]) == expected


@pytest.mark.parametrize("name", ["secadmin", "auditor"])
def test_security_and_audit_administrators_do_not_browse_institutions(actors: dict[str, Actor], name: str) -> None:
    with pytest.raises(PermissionDenied):
        list_institutions(actors[name])


def _county_reviewer(county_code: str, username: str) -> Actor:
    from portal.auth.actor import SYSTEM_ACTOR

    create_user(
        SYSTEM_ACTOR,
        NewUser(username, "王审核", Level.COUNTY, Duty.REVIEWER, DEMO_PASSWORD, region_code=county_code),
    )
    return actor_for(username)


def test_a_county_reviewer_sees_nothing_of_the_next_county(actors: dict[str, Actor]) -> None:
    lankao = _county_reviewer("410225", "lankao-reviewer")
    assert visible_codes(lankao) == {"4102250001", "4102250002"}
    zhongmou_kindergarten = institution("4101220004")
    assert not may(lankao, Action.VIEW_INSTITUTION, zhongmou_kindergarten)
    with pytest.raises(PermissionDenied, match="管辖范围"):
        get_institution(lankao, zhongmou_kindergarten.id or 0)
    assert get_institution(actors["county"], zhongmou_kindergarten.id or 0).name == "中牟县实验幼儿园"


def test_a_clerk_sees_and_edits_only_their_institution(actors: dict[str, Actor]) -> None:
    clerk = actors["clerk"]
    own, neighbour = institution("4101220002"), institution("4101220001")
    assert may(clerk, Action.EDIT_INSTITUTION, own)
    assert not may(clerk, Action.EDIT_INSTITUTION, neighbour)
    assert not may(clerk, Action.VIEW_INSTITUTION, neighbour)
    with pytest.raises(PermissionDenied):
        get_institution(clerk, neighbour.id or 0)
    # Reviewers above do not edit an institution's own data.
    assert not may(actors["county"], Action.EDIT_INSTITUTION, own)
    assert not may(actors["township"], Action.EDIT_INSTITUTION, own)


def test_jiyuan_city_level_unit_is_its_own_scope(demo: str) -> None:
    from portal.auth.actor import SYSTEM_ACTOR

    create_user(
        SYSTEM_ACTOR,
        NewUser("jiyuan-leader", "济源领导", Level.CITY, Duty.LEADER, DEMO_PASSWORD, region_code="419001"),
    )
    assert visible_codes(actor_for("jiyuan-leader")) == {"4190010001"}


def test_only_administrators_see_accounts(actors: dict[str, Actor]) -> None:
    assert len(list_users(actors["sysadmin"]).rows) == 11
    assert len(list_users(actors["secadmin"]).rows) == 11
    for name in ("province", "county", "clerk", "auditor"):
        with pytest.raises(PermissionDenied):
            list_users(actors[name])
    # ... but anyone may look at their own account.
    assert may(actors["clerk"], Action.VIEW_USER, user("demo-clerk"))
    assert not may(actors["clerk"], Action.VIEW_USER, user("demo-county"))


def test_only_the_auditor_reads_the_audit_log(actors: dict[str, Actor]) -> None:
    assert audit.list_entries(actors["auditor"]).total > 0
    for name in ("sysadmin", "secadmin", "province", "county", "clerk"):
        with pytest.raises(PermissionDenied, match="审计日志"):
            audit.list_entries(actors[name])


def test_administrators_manage_their_level_and_the_one_below(actors: dict[str, Actor]) -> None:
    sysadmin = actors["sysadmin"]
    assert may(sysadmin, Action.MANAGE_USER, user("demo-province"))
    assert may(sysadmin, Action.MANAGE_USER, user("demo-city"))
    assert not may(sysadmin, Action.MANAGE_USER, user("demo-county"))  # two levels down
    assert not may(sysadmin, Action.MANAGE_USER, user("demo-sysadmin"))  # not oneself
    assert not may(actors["secadmin"], Action.MANAGE_USER, user("demo-city"))
    assert not may(actors["province"], Action.MANAGE_USER, user("demo-city"))


def test_a_county_administrator_manages_only_their_county(actors: dict[str, Actor]) -> None:
    from portal.auth.actor import SYSTEM_ACTOR

    create_user(
        SYSTEM_ACTOR,
        NewUser("zm-admin", "中牟管理员", Level.COUNTY, Duty.SYSADMIN, DEMO_PASSWORD, region_code="410122"),
    )
    county_admin = actor_for("zm-admin")
    assert may(county_admin, Action.MANAGE_USER, user("demo-clerk"))
    assert may(county_admin, Action.MANAGE_USER, user("demo-township"))
    assert may(county_admin, Action.MANAGE_USER, user("demo-county"))
    assert not may(county_admin, Action.MANAGE_USER, user("demo-city"))
    created = create_user(
        county_admin,
        NewUser("xm-clerk", "新园填报员", Level.INSTITUTION, Duty.ENTRY, DEMO_PASSWORD, institution_code="4101220004"),
    )
    assert created.county_code == "410122"
    with pytest.raises(PermissionDenied):
        create_user(
            county_admin,
            NewUser(
                "lk-clerk", "兰考填报员", Level.INSTITUTION, Duty.ENTRY, DEMO_PASSWORD, institution_code="4102250001"
            ),
        )
    with db.session_scope() as session:
        assert session.exec(select(User).where(User.username == "lk-clerk")).first() is None


def test_only_the_security_administrator_unlocks(actors: dict[str, Actor]) -> None:
    target = user("demo-clerk")
    assert may(actors["secadmin"], Action.UNLOCK_ACCOUNT, target)
    for name in ("sysadmin", "auditor", "province"):
        assert not may(actors[name], Action.UNLOCK_ACCOUNT, target)


def test_require_raises_a_chinese_message(actors: dict[str, Actor]) -> None:
    with pytest.raises(PermissionDenied, match="无权查看审计日志"):
        require(actors["clerk"], Action.VIEW_AUDIT)
