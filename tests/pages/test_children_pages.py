"""Children's screens through AppTest: classes, the child form, submission, deletion and restore,
import results, problem records, arbitration, the bureaus' list and the full-number action."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from portal.auth.actor import Actor
from portal.auth.roles import Level
from portal.data import db
from portal.data.child_fields import CHILD
from portal.data.models import AuditLog, Child, Dispute
from portal.services import child_import, children, problems, workflow
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.factories import child_values, clerk_of, resident_id, reviewer_of
from tests.pages.conftest import ROOT, click, login, registered_pages, texts

PAGES = {
    "classes": "portal/pages/kindergarten/classes.py",
    "children": "portal/pages/kindergarten/children.py",
    "import": "portal/pages/kindergarten/child_import.py",
    "problems": "portal/pages/kindergarten/problems.py",
    "bureau": "portal/pages/common/children.py",
    "arbitration": "portal/pages/common/arbitration.py",
}


# --- helpers ----------------------------------------------------------------------------------------


def open_page(username: str, page: str) -> AppTest:
    at = login(username, DEMO_PASSWORD)
    at.switch_page(str(ROOT / PAGES[page])).run()
    assert not at.exception, at.exception
    return at


def this_year() -> str:
    return children.school_year_of(workflow.local_today())


def make_class(clerk: Actor, name: str = "小一班", grade: str = "小班") -> children.ClassRow:
    return children.create_class(clerk, {"name": name, "grade": grade, "school_year": this_year()})


def fill_child(at: AppTest, key: str, values: dict[str, Any]) -> None:
    """Type a child's values into the form drawn by ``portal.ui.children.child_form``."""
    for name, value in values.items():
        spec = CHILD.spec(name)
        widget_key = f"{key}_{name}"
        if spec.kind == "date":
            at.date_input(key=widget_key).set_value(date.fromisoformat(value))
        elif spec.kind == "choice" or name == "class_name":
            at.selectbox(key=widget_key).select(value)
        elif spec.kind == "bool":
            at.checkbox(key=widget_key).set_value(value)
        else:
            at.text_input(key=widget_key).input(value)


def child_states(institution_id: int | None = None) -> dict[str, str]:
    with db.session_scope() as session:
        query = select(Child)
        if institution_id:
            query = query.where(Child.institution_id == institution_id)
        return {c.name: c.state for c in session.exec(query).all()}


def audit_actions(username: str) -> list[str]:
    with db.session_scope() as session:
        rows = session.exec(select(AuditLog.action).where(AuditLog.username == username)).all()
        return list(rows)


def request_of(clerk: Actor, child_id: int) -> int:
    request_id = children.get_child(clerk, child_id).request_id
    assert request_id is not None
    return request_id


def dispute_between_counties() -> tuple[int, int, int]:
    """One child approved at 郑州市中原区伊河路幼儿园 first, then also at 小庙王村幼儿园 (中牟县):
    a problem record for the city. Returns (dispute id, problem record, holder record)."""
    other_clerk, other_county = clerk_of("4101020001"), reviewer_of(Level.COUNTY, "410102")
    clerk, county = actor_for("demo-clerk"), actor_for("demo-county")
    make_class(other_clerk)
    make_class(clerk)
    values = child_values(name="孙嘉怡", gender="女", document_number=resident_id("410102", male=False))
    holder = children.save_child(other_clerk, values).child_id
    children.submit_children(other_clerk, [holder])
    workflow.decide(other_county, request_of(other_clerk, holder), "approve")
    claimant = children.save_child(clerk, {**values, "address": "中牟县官渡镇小庙王村 9 号"}).child_id
    children.submit_children(clerk, [claimant])
    workflow.decide(county, request_of(clerk, claimant), "approve")
    detail = children.get_child(clerk, claimant)
    assert detail.row.state == "problem" and detail.dispute_id is not None
    return detail.dispute_id, claimant, holder


def workbook_with(rows: list[dict[str, Any]]) -> bytes:
    """The import template with these children (by field name) below its example row."""
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(child_import.template_workbook()))
    sheet = book[child_import.DATA_SHEET]
    column = {child_import._label_of(cell.value): cell.column for cell in sheet[1]}
    for offset, values in enumerate(rows, start=3):
        for name, value in values.items():
            spec = CHILD.spec(name)
            cell = sheet.cell(row=offset, column=column[spec.label])
            cell.value = ("是" if value else "否") if spec.kind == "bool" else value
            if name in ("document_number", "guardian1_phone"):
                cell.number_format = "@"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- who has which page ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "has", "lacks"),
    [
        ("demo-clerk", {"班级管理", "幼儿信息", "批量导入", "问题学籍"}, {"问题学籍仲裁"}),
        ("demo-county", {"幼儿信息", "问题学籍仲裁"}, {"班级管理", "批量导入", "问题学籍"}),
        ("demo-city", {"幼儿信息", "问题学籍仲裁"}, {"班级管理", "批量导入", "问题学籍"}),
        ("demo-province", {"幼儿信息"}, {"问题学籍仲裁", "班级管理", "批量导入", "问题学籍"}),
        ("demo-township", {"幼儿信息"}, {"问题学籍仲裁", "班级管理", "批量导入", "问题学籍"}),
        ("demo-sysadmin", set(), {"幼儿信息", "问题学籍仲裁", "班级管理", "批量导入", "问题学籍"}),
    ],
)
def test_each_role_gets_its_children_pages(app_demo: str, username: str, has: set[str], lacks: set[str]) -> None:
    pages = registered_pages(login(username, DEMO_PASSWORD))
    assert has <= pages and not (lacks & pages)


@pytest.mark.parametrize(("username", "page"), [("demo-clerk", "arbitration"), ("demo-county", "classes")])
def test_a_page_of_another_role_cannot_be_opened(app_demo: str, username: str, page: str) -> None:
    at = login(username, DEMO_PASSWORD)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(str(ROOT / PAGES[page]))
    # Run on its own (the guard of the file itself), the page stops with a message.
    alone = AppTest.from_file(str(ROOT / PAGES[page]), default_timeout=60)
    alone.session_state["portal_actor"] = at.session_state["portal_actor"]
    alone.run()
    assert [e.value for e in alone.error] == ["您没有访问此页面的权限。"]
    assert not alone.dataframe


# --- 班级管理 --------------------------------------------------------------------------------------------


def test_classes_are_created_a_bad_one_refused_and_only_an_empty_one_deleted(app_demo: str) -> None:
    clerk = actor_for("demo-clerk")
    at = open_page("demo-clerk", "classes")
    assert "还没有班级" in texts(at)
    click(at, "建立班级")
    assert "班级名称为必填项。" in texts(at) and children.list_classes(clerk) == []

    at.text_input(key="class_new_name").input("小一班")
    at.selectbox(key="class_new_grade").select("小班")
    click(at, "建立班级")
    assert f"已建立 {this_year()} 学年的班级“小一班”（小班，额定 25 人）。" in texts(at)
    assert [(c.name, c.grade, c.capacity) for c in children.list_classes(clerk)] == [("小一班", "小班", 25)]
    assert at.dataframe[0].value["班级名称"].tolist() == ["小一班"]
    click(at, "建立班级")  # the same name again
    assert "已有名为“小一班”的班级" in texts(at) and len(children.list_classes(clerk)) == 1

    children.save_child(clerk, child_values())
    empty = make_class(clerk, "托一班", "托班")
    at.run()
    assert at.dataframe[0].value["在班幼儿"].tolist() == [1, 0]
    full = children.list_classes(clerk)[0]
    at.selectbox(key="class_delete_id").select(full.id)
    click(at, "删除班级")
    assert "删除前请勾选确认。" in texts(at)
    at.checkbox(key="class_delete_confirm").check()
    click(at, "删除班级")
    assert "班级“小一班”还有 1 名幼儿，不能删除" in texts(at)
    assert len(children.list_classes(clerk)) == 2

    at.selectbox(key="class_delete_id").select(empty.id)
    at.checkbox(key="class_delete_confirm").check()
    click(at, "删除班级")
    assert "已删除班级 托一班" in texts(at)
    assert [c.name for c in children.list_classes(clerk)] == ["小一班"]


# --- 幼儿信息 (the clerk) ------------------------------------------------------------------------------


def test_a_new_child_with_errors_is_refused_then_saved_with_a_warning_and_shown_masked(app_demo: str) -> None:
    clerk = actor_for("demo-clerk")
    at = open_page("demo-clerk", "children")
    assert "还没有班级" in texts(at)
    make_class(clerk)
    at.run()
    click(at, "保存")
    assert "幼儿信息有" in texts(at) and "姓名为必填项。" in texts(at)
    assert child_states() == {}

    values = child_values()
    good_number = values["document_number"]
    fill_child(
        at, "child_new", {**values, "document_number": good_number[:-1] + ("0" if good_number[-1] != "0" else "1")}
    )
    click(at, "保存")
    assert "校验位（第 18 位）不正确" in texts(at)
    assert child_states() == {}

    at.text_input(key="child_new_document_number").input(good_number)
    click(at, "保存")
    assert "已保存幼儿“李小明”的信息。" in texts(at)
    # Enrolled on 2026-09-01: past the one-month deadline, a warning that does not stop the save.
    assert any("超过建档期限" in w.value for w in at.warning)
    assert child_states() == {"李小明": "saved"}
    table = at.dataframe[0].value
    masked = good_number[:6] + "********" + good_number[-4:]
    assert table["证件号码"].tolist() == [masked] and table["状态"].tolist() == ["已保存"]
    assert table["建档提醒"].tolist() == ["已超期"]
    assert good_number not in texts(at)
    # The form was emptied for the next child.
    assert at.text_input(key="child_new_name").value == ""


def test_editing_keeps_the_numbers_then_submit_delete_and_ask_for_restore(app_demo: str) -> None:
    clerk = actor_for("demo-clerk")
    make_class(clerk)
    first = children.save_child(clerk, child_values()).child_id
    second = children.save_child(clerk, child_values(name="王小红", gender="女", sequence=2)).child_id
    number = children.reveal(clerk, first, "document_number", "测试核对号码")
    at = open_page("demo-clerk", "children")
    assert "提交审核（2 名待提交）" in [t.label for t in at.tabs]

    at.selectbox(key="children_open").select(first).run()
    key = f"child_edit_{first}"
    assert at.text_input(key=f"{key}_document_number").value == ""  # never shown in the clear
    assert at.text_input(key=f"{key}_document_number").placeholder.startswith("已登记 410122********")
    at.text_input(key=f"{key}_address").input("中牟县官渡镇新村 1 号")
    click(at, "保存修改")
    assert "已修改幼儿“李小明”的信息。" in texts(at)
    assert children.get_child(clerk, first).values["address"] == "中牟县官渡镇新村 1 号"
    assert children.reveal(clerk, first, "document_number", "测试核对号码") == number

    at.button(key="children_submit").click().run()
    assert "请勾选“提交全部”，或选择要提交的幼儿。" in texts(at)
    at.multiselect(key="children_submit_ids").set_value([first])
    at.button(key="children_submit").click().run()
    assert "提交前请勾选确认。" in texts(at) and child_states()["李小明"] == "saved"
    at.multiselect(key="children_submit_ids").set_value([first])
    at.checkbox(key="children_submit_confirm").check()
    at.button(key="children_submit").click().run()
    assert "已提交 1 名幼儿的信息，等待县级教育部门审核。" in texts(at)
    assert child_states() == {"李小明": "submitted", "王小红": "saved"}
    assert [r.title for r in workflow.queue(actor_for("demo-county")).rows] == ["幼儿信息：李小明"]

    at.selectbox(key="children_open").select(second).run()
    at.button(key="child_delete").click().run()
    assert "确定删除幼儿“王小红”的记录吗？" in texts(at) and child_states()["王小红"] == "saved"
    at.button(key="child_delete_cancel").click().run()
    assert "确定删除" not in texts(at)
    at.button(key="child_delete").click().run()
    at.button(key="child_delete_confirm").click().run()
    assert "已删除幼儿“王小红”的记录。" in texts(at)
    assert child_states()["王小红"] == "deleted"

    at.selectbox(key="children_state").select("已删除").run()
    at.selectbox(key="children_open").select(second).run()
    click(at, "申请恢复")
    assert "请填写恢复理由。" in texts(at)
    at.text_area(key=f"child_restore_reason_{second}").input("误删，幼儿仍在本园就读")
    click(at, "申请恢复")
    assert "已提交“王小红”的恢复申请，等待县级审核。" in texts(at)
    assert "幼儿信息恢复申请" in [r.kind_label for r in workflow.queue(actor_for("demo-county")).rows]


def test_the_form_takes_a_child_from_another_province_and_the_list_marks_it(app_demo: str) -> None:
    from portal.services.identity import student_number_j

    clerk = actor_for("demo-clerk")
    make_class(clerk)
    at = open_page("demo-clerk", "children")
    assert "外省转入" in [e.label for e in at.expander]
    number = student_number_j("130102", date(2022, 3, 15), 5)
    values = child_values(document_type="无证件", document_number="")
    fill_child(at, "child_new", {**values, "origin_province": "河北省"})
    click(at, "保存")
    assert "选择了外省转入·原省份“河北省”，请填写外省转入·原学籍号" in texts(at)
    assert child_states() == {}
    at.text_input(key="child_new_origin_number").input(number)
    click(at, "保存")
    assert "已保存幼儿“李小明”的信息。" in texts(at)
    table = at.dataframe[0].value
    assert table["学籍来源"].tolist() == ["外省转入（河北省）"]
    assert "外省转入（河北省）：县级审核通过后沿用外省学籍号，不另行生成。" in texts(at)
    assert number not in texts(at)
    # The edit form keeps the province and shows the number masked, to be left blank.
    (child_id,) = [r.id for r in children.list_children(clerk).rows]
    key = f"child_edit_{child_id}"
    assert at.selectbox(key=f"{key}_origin_province").value == "河北省"
    assert at.text_input(key=f"{key}_origin_number").value == ""
    assert (
        at.text_input(key=f"{key}_origin_number").placeholder
        == f"已登记 {number[:7]}********{number[-4:]}，不修改请留空"
    )
    at.text_input(key=f"{key}_address").input("中牟县官渡镇新村 1 号")
    click(at, "保存修改")
    assert "已修改幼儿“李小明”的信息。" in texts(at)
    assert children.reveal(clerk, child_id, "origin_number", "核对外省学籍号") == number


def test_a_submitted_record_is_read_only_and_a_returned_one_shows_the_reason(app_demo: str) -> None:
    clerk = actor_for("demo-clerk")
    make_class(clerk)
    child_id = children.save_child(clerk, child_values()).child_id
    children.submit_children(clerk, [child_id])
    at = open_page("demo-clerk", "children")
    assert "已提交，等待县级教育部门审核；审核完成前不能修改。" in texts(at)
    assert not [b for b in at.button if b.label == "保存修改"]
    workflow.decide(actor_for("demo-county"), request_of(clerk, child_id), "return", "出生日期与户口簿不一致")
    at.run()
    assert "已被县级教育部门驳回。驳回理由：出生日期与户口簿不一致" in texts(at)
    assert at.dataframe[0].value["驳回理由"].tolist() == ["出生日期与户口簿不一致"]


# --- 批量导入 ------------------------------------------------------------------------------------------


def test_the_import_page_offers_the_template_and_shows_a_result(app_demo: str) -> None:
    clerk = actor_for("demo-clerk")
    at = open_page("demo-clerk", "import")
    assert "还没有班级" in texts(at)
    assert [b.proto.label for b in at.get("download_button")] == ["下载幼儿信息导入模板（Excel）"]
    assert at.button(key="import_go").disabled  # nothing uploaded yet
    make_class(clerk)
    good = child_values(name="周小雨", gender="女", sequence=7)
    bad = child_values(name="吴小天", sequence=8, birth_date="2030-01-01")
    result = child_import.import_children(clerk, "小一班.xlsx", workbook_with([good, bad]))
    # Uploads cannot be driven by AppTest: the page shows the result it keeps in the session.
    at.session_state["import_result"] = result
    at.run()
    assert "本学年可填写的班级：小一班" in texts(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["新增"] == "1 名" and metrics["未导入"] == "1 行"
    assert "已导入 1 名，另有 1 行有错误未导入" in texts(at)
    errors = at.dataframe[0].value
    assert errors["姓名"].tolist() == ["吴小天"] and "出生日期" in errors["错误说明"].iloc[0]
    assert "下载标注了错误的表格" in [b.proto.label for b in at.get("download_button")]
    assert child_states() == {"周小雨": "saved"}


# --- 问题学籍 (the clerk) ---------------------------------------------------------------------------------


def test_the_clerk_sees_a_problem_record_side_by_side_and_deletes_it(app_demo: str) -> None:
    dispute_id, claimant, holder = dispute_between_counties()
    at = open_page("demo-clerk", "problems")
    assert "证件号码重复" in texts(at)
    compare = at.dataframe[0].value
    columns = list(compare.columns)
    assert columns[1] == "问题学籍：中牟县官渡镇小庙王村幼儿园（本园）"
    assert columns[2] == "原有记录：郑州市中原区伊河路幼儿园"
    rows = {r[0]: (r[1], r[2]) for r in compare.itertuples(index=False, name=None)}
    assert rows["记录状态"] == ("问题学籍", "审核通过")
    assert rows["学籍号"][1].startswith("G410102********")
    # Proof without a file is refused and changes nothing.
    at.text_area(key=f"proof_note_{dispute_id}").input("幼儿 9 月起在本园就读")
    click(at, "提交佐证")
    assert "请上传佐证材料" in texts(at)
    assert problems.get_dispute(actor_for("demo-clerk"), dispute_id).state == "open"

    at.button(key="problem_delete").click().run()
    assert "确定删除本园“孙嘉怡”的记录吗？" in texts(at)
    at.button(key="problem_delete_confirm").click().run()
    assert f"问题学籍 {dispute_id} 已解决" in texts(at)
    assert "本园没有问题学籍。" in texts(at)
    with db.session_scope() as session:
        assert session.get(Child, claimant).state == "deleted"  # type: ignore[union-attr]
        assert session.get(Child, holder).state == "approved"  # type: ignore[union-attr]
        assert session.get(Dispute, dispute_id).outcome == "deleted"  # type: ignore[union-attr]


# --- 问题学籍仲裁 ---------------------------------------------------------------------------------------


def test_the_city_arbitrates_a_problem_record_between_two_counties(app_demo: str) -> None:
    dispute_id, claimant, holder = dispute_between_counties()
    county = open_page("demo-county", "arbitration")
    assert "辖区内没有待处理的问题学籍。" in texts(county)  # across counties: above the county

    at = open_page("demo-city", "arbitration")
    assert at.dataframe[0].value["编号"].tolist() == [dispute_id]
    assert {m.label: m.value for m in at.metric}["待本级仲裁"] == "1 条"
    assert len(at.radio(key=f"outcome_{dispute_id}").options) == 2  # same number: not "different children"
    click(at, "确认仲裁")
    assert "请选择仲裁结果。" in texts(at)
    at.radio(key=f"outcome_{dispute_id}").set_value("keep_other")
    at.checkbox(key=f"arbitration_confirm_{dispute_id}").check()
    click(at, "确认仲裁")
    assert "请填写仲裁理由。" in texts(at)
    with db.session_scope() as session:
        assert session.get(Dispute, dispute_id).state == "open"  # type: ignore[union-attr]

    at.radio(key=f"outcome_{dispute_id}").set_value("keep_other")
    at.text_area(key=f"arbitration_reason_{dispute_id}").input("经核对户口簿，幼儿在伊河路幼儿园就读")
    at.checkbox(key=f"arbitration_confirm_{dispute_id}").check()
    click(at, "确认仲裁")
    assert f"问题学籍 {dispute_id} 已仲裁：保留原有记录。" in texts(at)
    with db.session_scope() as session:
        dispute = session.get(Dispute, dispute_id)
        assert dispute is not None and dispute.state == "decided" and dispute.decided_by_name == "李慧敏"
        assert session.get(Child, claimant).state == "deleted"  # type: ignore[union-attr]
        assert session.get(Child, holder).state == "approved"  # type: ignore[union-attr]
    at.toggle(key="arbitration_all").set_value(True).run()
    assert "仲裁结果：保留原有记录。理由：经核对户口簿，幼儿在伊河路幼儿园就读" in texts(at)


# --- 幼儿信息 (bureaus) ----------------------------------------------------------------------------------


def test_the_county_lists_its_children_and_sees_a_full_number_only_with_a_reason(app_demo: str) -> None:
    clerk = actor_for("demo-clerk")
    make_class(clerk)
    values = child_values()
    child_id = children.save_child(clerk, values).child_id
    other = clerk_of("4101020001")
    make_class(other)
    children.save_child(other, child_values(name="刘一一", document_number=resident_id("410102", sequence=5)))

    at = open_page("demo-county", "bureau")
    table = at.dataframe[0].value
    assert table["姓名"].tolist() == ["李小明"]  # not the other county's child
    assert table["幼儿园"].tolist() == ["中牟县官渡镇小庙王村幼儿园"]
    assert "辖区内有 1 名幼儿入园已超过" in texts(at)

    key = f"bureau_child_{child_id}"
    click(at, "查看完整号码")
    assert "请填写查看完整号码的理由" in texts(at)
    assert "personal_reveal" not in audit_actions("demo-county")
    at.text_input(key=f"{key}_reveal_reason").input("核对户口簿信息")
    click(at, "查看完整号码")
    assert f"李小明的证件号码：{values['document_number']}（本次查看已记入审计日志）" in texts(at)
    assert "personal_reveal" in audit_actions("demo-county")

    at.text_input(key="lookup_number").input(values["document_number"])
    click(at, "查找")
    assert "找到 1 条记录。" in texts(at)

    # The provincial leader reads the list, masked, without the full-number action.
    leader = open_page("demo-province", "bureau")
    assert sorted(leader.dataframe[0].value["姓名"].tolist()) == ["刘一一", "李小明"]
    assert "查看完整号码" not in [e.label for e in leader.expander]


def test_the_kindergarten_home_shows_its_childrens_figures(app_demo: str) -> None:
    clerk = actor_for("demo-clerk")
    make_class(clerk)
    children.save_child(clerk, child_values(enrolment_date="2026-09-01"), today=date(2026, 11, 28))
    at = login("demo-clerk", DEMO_PASSWORD)
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["已保存"] == "1 名" and metrics["审核通过"] == "0 名"
    assert metrics["超期未提交"] == (
        "1 名" if children.record_deadline(date(2026, 9, 1)) < workflow.local_today() else "0 名"
    )
    assert "幼儿学籍" in texts(at)
    assert "本月幼儿信息变动录入并提交" in texts(at)  # the calendar's task still undone: a saved record
