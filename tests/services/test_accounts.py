"""Creating accounts: validation in Chinese, nothing written on error, audited on success."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.passwords import verify_password
from portal.auth.roles import Duty, Level
from portal.data import db
from portal.data.models import AuditLog, User
from portal.services.accounts import NewUser, create_user, list_users
from portal.services.errors import ValidationError

GOOD = NewUser("zm-reviewer2", "李娜", Level.COUNTY, Duty.REVIEWER, "Zhongmou#2026", region_code="410122")


def user_count() -> int:
    with db.session_scope() as session:
        return session.exec(select(func.count()).select_from(User)).one()


def test_a_new_account_is_hashed_scoped_and_audited(demo: str) -> None:
    user = create_user(SYSTEM_ACTOR, GOOD)
    assert (user.province_code, user.city_code, user.county_code) == ("41", "410100", "410122")
    assert user.password_hash.startswith("$2") and verify_password("Zhongmou#2026", user.password_hash)
    with db.session_scope() as session:
        row = session.exec(
            select(AuditLog).where(AuditLog.action == "user_create").order_by(AuditLog.id.desc())
        ).first()  # type: ignore[union-attr]
        assert row is not None and row.object_id == str(user.id)
        assert "Zhongmou#2026" not in (row.after or "") and "password" not in (row.after or "")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"username": "张三"}, "username", "用户名应为"),
        ({"username": "demo-county"}, "username", "已被使用"),
        ({"real_name": " "}, "real_name", "真实姓名不能为空"),
        ({"phone": "call me"}, "phone", "联系电话"),
        ({"password": "short1A"}, "password", "至少 10 个字符"),
        ({"password": "alllowercaseletters"}, "password", "至少三类"),
        ({"password": "Zm-reviewer2-2026"}, "password", "不能包含用户名"),
        ({"region_code": "410100"}, "region_code", "不是有效的县级区划"),
        ({"duty": Duty.ENTRY}, "duty", "不是有效的角色"),
        (
            {"level": Level.INSTITUTION, "duty": Duty.ENTRY, "institution_code": "0000000000"},
            "institution_code",
            "不存在",
        ),
        ({"level": Level.TOWNSHIP, "institution_code": "4101220002"}, "institution_code", "不是乡镇中心园"),
    ],
)
def test_bad_input_is_refused_and_nothing_written(demo: str, changes: dict, field: str, message: str) -> None:
    before = user_count()
    data = NewUser(**{**GOOD.__dict__, **changes})
    with pytest.raises(ValidationError) as caught:
        create_user(SYSTEM_ACTOR, data)
    assert message in caught.value.errors[field]
    assert user_count() == before


def test_list_users_is_paged_by_username(actors: dict[str, Actor]) -> None:
    first = list_users(actors["sysadmin"], limit=3)
    assert first.total == 11 and len(first.rows) == 3 and first.next_after == first.rows[-1].username
    second = list_users(actors["sysadmin"], after=first.next_after, limit=3)
    third = list_users(actors["sysadmin"], after=second.next_after, limit=3)
    fourth = list_users(actors["sysadmin"], after=third.next_after, limit=3)
    names = [r.username for r in (*first.rows, *second.rows, *third.rows, *fourth.rows)]
    assert names == sorted(names) and len(set(names)) == 11 and fourth.next_after is None
    found = list_users(actors["sysadmin"], search="陈静")
    assert [(r.username, r.role, r.scope) for r in found.rows] == [
        ("demo-clerk", "幼儿园数据填报员", "中牟县官渡镇小庙王村幼儿园")
    ]
