"""Supervision forms designed by the bureaus: design, publish, fill, review, fill rate, Excel."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.roles import Duty, Level
from portal.services import supervision, workflow
from portal.services.accounts import NewUser, create_user
from portal.services.errors import NotFound, PermissionDenied, ServiceError, ValidationError
from portal.services.supervision import FieldInput
from tests.conftest import DEMO_PASSWORD, actor_for

FIELDS = [
    FieldInput("本学期收费标准", "number", True, help="元/月"),
    FieldInput("收费是否公示", "bool"),
    FieldInput("招生方式", "choice", True, "划片招生、摇号、自主招生"),
    FieldInput("安全检查项目", "multichoice", False, "消防，食品，校车"),
    FieldInput("最近一次消防演练", "date", True),
    FieldInput("收费公示照片", "file"),
]
PDF = b"%PDF-1.7\n%%EOF\n"


def county_admin() -> Actor:
    create_user(
        SYSTEM_ACTOR,
        NewUser("zm-admin", "中牟管理员", Level.COUNTY, Duty.SYSADMIN, DEMO_PASSWORD, region_code="410122"),
    )
    return actor_for("zm-admin")


def published_form(designer: Actor) -> int:
    form = supervision.design_form(
        designer,
        title="2026 年秋季收费与安全情况",
        description="请各园如实填报",
        due_date=workflow.local_today() + timedelta(days=14),
        fields=FIELDS,
    )
    supervision.publish_form(designer, form.id or 0)
    return form.id or 0


ANSWER = {"f1": "800", "f2": True, "f3": "划片招生", "f4": ["消防", "食品"], "f5": date(2026, 10, 20)}


def test_design_refuses_bad_fields(actors: dict[str, Actor]) -> None:
    designer = county_admin()
    with pytest.raises(ValidationError) as caught:
        supervision.design_form(
            designer,
            title="",
            description="",
            due_date=date(2020, 1, 1),
            fields=[
                FieldInput("", "text"),
                FieldInput("招生方式", "choice", choices="只有一个"),
                FieldInput("x", "matrix"),
            ],
        )
    messages = " ".join(caught.value.errors.values())
    for expected in ("表单名称不能为空", "截止日期不能早于今天", "没有名称", "至少需要两个选项", "类型不正确"):
        assert expected in messages
    with pytest.raises(PermissionDenied):
        supervision.design_form(actors["county"], title="t", description="", due_date=date.today(), fields=FIELDS)


def test_fill_submit_review_fill_rate_and_export(actors: dict[str, Actor]) -> None:
    designer = county_admin()
    form_id = published_form(designer)
    clerk = actors["clerk"]
    [due] = supervision.forms_due(clerk)
    assert (due.form.title, due.state, [f.label for f in due.section.fields][:2]) == (
        "2026 年秋季收费与安全情况",
        "未填报",
        ["本学期收费标准", "收费是否公示"],
    )
    with pytest.raises(ValidationError) as caught:
        supervision.answer_form(clerk, form_id, {"f1": "八百"}, submit=True)
    assert caught.value.errors["f1"] == "本学期收费标准应为数字。" and "f3" in caught.value.errors
    supervision.answer_form(clerk, form_id, {"f1": "800"}, submit=False)
    assert supervision.forms_due(clerk)[0].state == "草稿"

    answer = supervision.answer_form(clerk, form_id, ANSWER, submit=True, files={"f6": ("公示.pdf", PDF)})
    assert supervision.forms_due(clerk)[0].state == "待审核"
    with pytest.raises(ServiceError, match="不能再修改"):
        supervision.answer_form(clerk, form_id, ANSWER, submit=True)
    [row] = workflow.queue(actors["county"], kind="supervision").rows
    assert row.title == "中牟县官渡镇小庙王村幼儿园·2026 年秋季收费与安全情况"
    detail = workflow.detail(actors["county"], row.id)
    assert ("安全检查项目", "—", "消防、食品") in detail.changes and ("收费公示照片", "—", "公示.pdf") in detail.changes

    workflow.decide(actors["county"], row.id, "return", "收费标准与物价部门核定不符")
    assert supervision.forms_due(clerk)[0].state == "已驳回"
    supervision.answer_form(clerk, form_id, {**ANSWER, "f1": "780"}, submit=True)
    [row] = workflow.queue(actors["county"], kind="supervision").rows
    workflow.decide(actors["county"], row.id, "approve")
    assert supervision.forms_due(clerk)[0].state == "审核通过"

    rates = {r.name: r for r in supervision.fill_rate(designer, form_id)}
    assert (rates["官渡镇"].institutions, rates["官渡镇"].approved, rates["官渡镇"].submitted) == (3, 1, 0)
    assert rates["城关镇"].rate == 0.0

    workbook = load_workbook(io.BytesIO(supervision.export_answers(designer, form_id)))
    sheet = workbook["答复"]
    assert [c.value for c in sheet[1]][:5] == ["机构标识码", "机构名称", "状态", "本学期收费标准", "收费是否公示"]
    assert [c.value for c in sheet[2]][:5] == ["4101220002", "中牟县官渡镇小庙王村幼儿园", "审核通过", "780", "是"]
    assert answer.id


def test_forms_reach_only_the_designers_region(actors: dict[str, Actor]) -> None:
    form_id = published_form(county_admin())
    create_user(
        SYSTEM_ACTOR,
        NewUser("lk-clerk", "兰考填报员", Level.INSTITUTION, Duty.ENTRY, DEMO_PASSWORD, institution_code="4102250001"),
    )
    other = actor_for("lk-clerk")
    assert supervision.forms_due(other) == []
    with pytest.raises(NotFound):
        supervision.answer_form(other, form_id, ANSWER, submit=True)
    with pytest.raises(NotFound):
        supervision.fill_rate(actors["sysadmin"], form_id)  # a province admin does not manage a county's form


def test_a_draft_form_reaches_nobody(actors: dict[str, Actor]) -> None:
    designer = county_admin()
    supervision.design_form(designer, title="草稿表单", description="", due_date=workflow.local_today(), fields=FIELDS)
    assert supervision.forms_due(actors["clerk"]) == []
