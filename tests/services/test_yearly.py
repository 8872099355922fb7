"""The yearly cycle: class moves, July graduation (numbers kept, the too young refused, the list
for the primary school), August promotion (preview, adjust, apply once), the month's tasks."""

from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook

from portal.auth.actor import Actor
from portal.services import children, yearly
from portal.services.errors import NotFound, PermissionDenied, ServiceError
from tests.factories import TODAY, child_values, clerk_of, resident_id, with_class
from tests.services.test_children import approve_all, enter, stored

JULY = date(2027, 7, 10)  # the same school year as TODAY (2026-2027)
AUGUST = date(2027, 8, 10)


def kindergarten(actors: dict[str, Actor]) -> dict[str, int]:
    """Classes 托一班 / 小一班 / 大一班 with a child each (大班: one old enough, one too young)."""
    clerk = actors["clerk"]
    for name, grade in (("托一班", "托班"), ("小一班", "小班"), ("大一班", "大班")):
        with_class(clerk, name, grade)
    ids = {
        "toddler": enter(clerk, name="赵小托", class_name="托一班", birth=date(2024, 5, 1), sequence=1),
        "small": enter(clerk, name="钱小明", class_name="小一班", birth=date(2023, 4, 2), sequence=2),
        "old": enter(clerk, name="孙大毕", class_name="大一班", birth=date(2021, 3, 15), sequence=3),
        "young": enter(clerk, name="李小小", class_name="大一班", birth=date(2021, 10, 1), sequence=4),
    }
    children.submit_children(clerk, today=TODAY)
    approve_all(actors["county"])
    return ids


def test_moving_children_between_classes(actors: dict[str, Actor]) -> None:
    clerk = actors["clerk"]
    small = with_class(clerk, "小一班", "小班")
    other = children.create_class(clerk, {"name": "小二班", "grade": "小班", "school_year": "2026-2027", "capacity": 1})
    first, second = enter(clerk), enter(clerk, name="王小红", gender="女", sequence=2)
    warnings = yearly.move_children(clerk, [first, second], other.id, today=TODAY)
    assert warnings == ["班级“小二班”现有 2 人，超过额定人数 1。"]
    assert stored(first).class_id == other.id
    with pytest.raises(ServiceError, match="已在“小二班”"):
        yearly.move_children(clerk, [first], other.id, today=TODAY)
    with pytest.raises(NotFound):
        yearly.move_children(clerk_of("4101220004"), [first], small.id, today=TODAY)
    with pytest.raises(PermissionDenied):
        yearly.move_children(actors["county"], [first], small.id, today=TODAY)
    next_year = children.create_class(clerk, {"name": "中一班", "grade": "中班", "school_year": "2027-2028"})
    with pytest.raises(ServiceError, match="只能调入本学年"):
        yearly.move_children(clerk, [first], next_year.id, today=TODAY)


def test_graduation_keeps_numbers_and_refuses_the_too_young(actors: dict[str, Actor]) -> None:
    clerk = actors["clerk"]
    ids = kindergarten(actors)
    preview = {row.name: row for row in yearly.graduation_preview(clerk, today=JULY)}
    assert set(preview) == {"孙大毕", "李小小"}
    assert preview["孙大毕"].eligible and preview["孙大毕"].age_at_cutoff == 6
    assert not preview["李小小"].eligible and "未满 6 周岁" in preview["李小小"].reason
    with pytest.raises(ServiceError, match="李小小（至 2027年08月31日 未满 6 周岁）"):
        yearly.apply_graduation(clerk, [ids["old"], ids["young"]], today=JULY)
    assert stored(ids["old"]).state == "approved"  # nothing applied
    with pytest.raises(ServiceError, match="不在本学年大班"):
        yearly.apply_graduation(clerk, [ids["small"]], today=JULY)
    number = children.number_of(stored(ids["old"]))
    assert yearly.apply_graduation(clerk, [ids["old"]], today=JULY) == 1
    graduate = stored(ids["old"])
    assert (graduate.state, graduate.closed_on) == ("graduated", JULY)
    assert children.number_of(graduate) == number  # the number goes on to primary school
    assert ids["old"] not in [r.id for r in children.list_children(clerk).rows]
    assert [r.id for r in children.list_children(clerk, state="graduated").rows] == [ids["old"]]
    # The list for the primary school: the clerk may reveal, so the ID number is full.
    sheet = load_workbook(io.BytesIO(yearly.graduates_workbook(clerk, "2026-2027"))).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:6] == ("学籍号", "姓名", "性别", "出生日期", "证件类型", "证件号码")
    assert rows[1][:2] == (number, "孙大毕")
    assert rows[1][5] == resident_id(birth=date(2021, 3, 15), sequence=3)


def test_promotion_previews_adjusts_and_applies_once(actors: dict[str, Actor]) -> None:
    clerk = actors["clerk"]
    ids = kindergarten(actors)
    plan = yearly.promotion_preview(clerk, today=AUGUST)
    assert (plan.from_year, plan.to_year, plan.done) == ("2026-2027", "2027-2028", False)
    assert {(r.name, r.from_class, r.to_class, r.to_grade) for r in plan.rows} == {
        ("赵小托", "托一班", "小一班", "小班"),
        ("钱小明", "小一班", "中一班", "中班"),
    }
    assert sorted(plan.staying) == ["孙大毕", "李小小"]
    done = yearly.apply_promotion(clerk, {ids["small"]: "中二班"}, today=AUGUST)
    assert done.done and done.rows == []
    next_classes = {c.name: c for c in children.list_classes(clerk, "2027-2028")}
    assert {name: c.grade for name, c in next_classes.items()} == {"小一班": "小班", "中二班": "中班"}
    assert stored(ids["small"]).class_id == next_classes["中二班"].id
    assert children.number_of(stored(ids["small"])).startswith("G")
    with pytest.raises(ServiceError, match="不能重复升班"):
        yearly.apply_promotion(clerk, today=AUGUST)


def test_the_months_tasks(actors: dict[str, Actor]) -> None:
    clerk = actors["clerk"]
    kindergarten(actors)
    july = {t.label: t for t in yearly.cycle_tasks(clerk, today=JULY)}
    assert not july["办理大班幼儿毕业"].done and "1 名" in july["办理大班幼儿毕业"].detail
    assert july["本月幼儿信息变动录入并提交"].done
    enter(clerk, name="周新新", class_name="小一班", sequence=9, enrolment_date="2026-11-20")
    august = {t.label: t for t in yearly.cycle_tasks(clerk, today=AUGUST)}
    assert not august["升班（升入 2027-2028 学年）"].done
    assert (
        not august["本月幼儿信息变动录入并提交"].done
        and "1 条记录未提交" in august["本月幼儿信息变动录入并提交"].detail
    )
    assert [t.label for t in yearly.cycle_tasks(clerk, today=TODAY)] == ["本月幼儿信息变动录入并提交"]
    assert child_values()  # the factory still builds a valid child after the cycle
