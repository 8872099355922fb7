"""Small factories for children's records: valid ID numbers, a child's form values, clerks and
reviewers of other institutions and regions."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.exc import NoResultFound

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.roles import Duty, Level
from portal.services import children
from portal.services.accounts import NewUser, create_user
from portal.services.identity import check_character
from tests.conftest import DEMO_PASSWORD, actor_for

TODAY = date(2026, 11, 28)
SCHOOL_YEAR = children.school_year_of(TODAY)


def resident_id(region: str = "410122", birth: date = date(2022, 3, 15), sequence: int = 1, male: bool = True) -> str:
    """A valid 18-digit resident ID number (GB 11643) for the region, birth date and gender."""
    seq = sequence * 2 - (1 if male else 0)  # odd: male, even: female
    body = f"{region}{birth:%Y%m%d}{seq:03d}"
    return body + check_character(body)


def child_values(**changes: Any) -> dict[str, Any]:
    """A complete, valid child form (resident ID consistent with birth date and gender)."""
    birth = changes.pop("birth", date(2022, 3, 15))
    male = changes.get("gender", "男") == "男"
    values: dict[str, Any] = {
        "name": "李小明",
        "gender": "男",
        "birth_date": birth.isoformat(),
        "document_type": "居民身份证",
        "document_number": resident_id(birth=birth, sequence=changes.pop("sequence", 1), male=male),
        "nationality": "中国",
        "ethnicity": "汉族",
        "hukou_region": "河南省郑州市中牟县",
        "address": "中牟县官渡镇小庙王村 8 号",
        "guardian1_relation": "母亲",
        "guardian1_name": "王芳",
        "guardian1_phone": "13937131234",
        "enrolment_date": "2026-09-01",
        "class_name": "小一班",
        "flag_left_behind": False,
    }
    values.update(changes)
    return values


def clerk_of(institution_code: str) -> Actor:
    """The data-entry clerk of a demo institution (created on first use)."""
    username = f"clerk-{institution_code}"
    try:
        return actor_for(username)
    except NoResultFound:  # not created yet
        create_user(
            SYSTEM_ACTOR,
            NewUser(
                username,
                "测试填报员",
                Level.INSTITUTION,
                Duty.ENTRY,
                DEMO_PASSWORD,
                institution_code=institution_code,
                is_demo=True,  # test accounts log in like the demo's, without the second factor
            ),
        )
        return actor_for(username)


def reviewer_of(level: Level, region_code: str) -> Actor:
    """A reviewer of a county, city or province bureau (created on first use)."""
    username = f"reviewer-{region_code}"
    try:
        return actor_for(username)
    except NoResultFound:  # not created yet
        create_user(
            SYSTEM_ACTOR,
            NewUser(username, "测试审核员", level, Duty.REVIEWER, DEMO_PASSWORD, region_code=region_code, is_demo=True),
        )
        return actor_for(username)


def with_class(clerk: Actor, name: str = "小一班", grade: str = "小班") -> children.ClassRow:
    return children.create_class(clerk, {"name": name, "grade": grade, "school_year": SCHOOL_YEAR})
