"""幼儿信息: the clerk's children — the masked list with states and overdue notes, a new child,
editing, deleting (with a confirmation) and submitting records for the county's review, asking
for a deleted record back, and one full number after a stated reason."""

import streamlit as st

from portal.data.child_fields import CHILD
from portal.services import child_import, children, problems, workflow
from portal.services.errors import ValidationError
from portal.settings import get_settings
from portal.ui.children import (
    child_form,
    child_label,
    child_table,
    clear_form,
    detail_table,
    history_panel,
    origin_note,
    reveal_panel,
    state_metrics,
)
from portal.ui.forms import show_field_errors
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.paging import KeysetPager
from portal.ui.text import md

FLASH = "children_flash"
WARNINGS = "children_warnings"
CONFIRM_DELETE = "children_confirm_delete"

actor = require_page("kindergarten_children")
page_header("幼儿信息", actor)
months = get_settings().child_record_months
st.caption(
    f"录入并保存 → 提交审核 → 县级教育部门审核通过后生成学籍号。幼儿入园后 {months} 个月内应完成建档；"
    "被驳回的记录修改后可重新提交。证件号码、学籍号和电话号码一律隐去中间部分显示。"
)
show_flash(FLASH)
for warning in st.session_state.pop(WARNINGS, []):
    st.warning(warning, icon=":material/warning:")


def saved_message(name: str, warnings: list[str], action: str) -> None:
    st.session_state[WARNINGS] = warnings
    flash_and_rerun(FLASH, f"已{action}幼儿“{name}”的信息。" + ("请留意下方提示。" if warnings else ""))


def all_rows(state: str) -> list[children.ChildRow]:
    """Every record of one state (for the submission list), page by page."""
    rows: list[children.ChildRow] = []
    after = None
    while True:
        page = children.list_children(actor, state=state, after_id=after, limit=500)
        rows += page.rows
        if page.next_after is None:
            return rows
        after = page.next_after


counts = children.state_counts(actor)
overdue_total = children.list_children(actor, overdue=True, limit=1).total
state_metrics(counts, overdue_total)
if overdue_total:
    st.warning(
        f"有 {overdue_total} 名幼儿入园已超过 {months} 个月仍未提交审核，请尽快核对并提交"
        "（在下方名单中勾选“只看超期”可查看）。",
        icon=":material/schedule:",
    )

school_year = children.school_year_of(workflow.local_today())
classes = children.list_classes(actor, school_year=school_year)
if not classes:
    st.info(f"{school_year} 学年还没有班级：请先建立班级，再录入幼儿。", icon=":material/info:")
    st.page_link("portal/pages/kindergarten/classes.py", label="去“班级管理”建立班级", icon=":material/groups:")

waiting = all_rows("saved") + all_rows("returned")
list_tab, new_tab, submit_tab = st.tabs(["幼儿名单", "新增幼儿", f"提交审核（{len(waiting)} 名待提交）"])

# --- the list, one record opened -------------------------------------------------------------------
with list_tab:
    state_options = {
        "在园（不含已删除、已毕业、已离园）": None,
        **{label: state for state, label in children.STATE_LABELS.items()},
    }
    class_options = {"全部班级": None, **{c.label: c.id for c in children.list_classes(actor)}}
    name_column, state_column, class_column, overdue_column = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
    name = name_column.text_input("姓名", key="children_name", placeholder="输入姓名的一部分")
    state_label = state_column.selectbox("状态", list(state_options), key="children_state")
    class_label = class_column.selectbox("班级", list(class_options), key="children_class")
    overdue = overdue_column.checkbox("只看超期", key="children_overdue")
    state, class_id = state_options[state_label], class_options[class_label]

    page_size = get_settings().page_size
    pager = KeysetPager("children_pager", (name, state, class_id, overdue))
    page = children.list_children(
        actor, name=name, state=state, class_id=class_id, overdue=overdue, after_id=pager.cursor, limit=page_size
    )
    if page.rows:
        child_table(page.rows)
    elif page.total == 0 and not (name or state or class_id or overdue):
        st.info("还没有录入幼儿。可以在“新增幼儿”中逐个录入，或用“批量导入”一次导入整班。", icon=":material/info:")
    else:
        st.info("没有符合条件的幼儿。", icon=":material/search_off:")
    pager.controls(page.next_after, page.total, page_size)
    if page.total:
        st.download_button(
            "导出本园幼儿名单（Excel，号码已遮盖）",
            data=lambda: child_import.export_children(actor),
            file_name=f"{actor.institution_name or '本园'}幼儿名单.xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            key="children_export",
            icon=":material/download:",
        )

    if page.rows:
        st.subheader("查看与修改")
        labels = {r.id: child_label(r) for r in page.rows}
        chosen = st.selectbox("选择幼儿", list(labels), format_func=labels.get, key="children_open")
        detail = children.get_child(actor, chosen)
        row = detail.row
        if row.state == "returned":
            st.error(f"已被县级教育部门驳回。驳回理由：{md(row.return_reason)}", icon=":material/undo:")
        elif row.state == "problem" and row.return_reason:  # the national check: the other record is elsewhere
            st.error(f"该记录是问题学籍：{md(row.return_reason)}。请删除或更正后重新提交。", icon=":material/report:")
        elif row.state == "problem":
            st.error(
                "该记录是问题学籍：省内已有同一幼儿的记录。请更正后重新提交，或到“问题学籍”提交佐证、等待仲裁。",
                icon=":material/report:",
            )
        elif row.state == "submitted":
            st.info("已提交，等待县级教育部门审核；审核完成前不能修改。", icon=":material/hourglass_top:")
        elif row.state == "approved":
            st.success(f"县级审核通过，学籍号 {row.student_number_masked}。", icon=":material/verified:")
        elif row.state == "deleted":
            st.warning("该记录已删除（县级教育部门仍可查看）。如系误删，可在下方申请恢复。", icon=":material/delete:")
        elif row.state in children.CLOSED:
            st.info(f"该记录{row.state_label}，学籍已关闭。如系误办，可在下方申请恢复。", icon=":material/lock:")
        origin_note(row)
        if detail.transfer_note:
            st.info(
                f"{md(detail.transfer_note)}。转园办结或撤销前不能办理离园、毕业或关键信息变更。",
                icon=":material/swap_horiz:",
            )
        if row.overdue:
            st.warning(
                f"入园日期 {row.enrolment_date}，已超过建档期限 {children.record_deadline(row.enrolment_date)}，"
                "请尽快提交。",
                icon=":material/schedule:",
            )

        if row.state in children.EDITABLE:
            form_key = f"child_edit_{row.id}"
            with st.form(form_key):
                raw = child_form(form_key, classes, detail.values)
                save = st.form_submit_button("保存修改", key="child_save", type="primary", icon=":material/save:")
            if save:
                with service_errors():
                    try:
                        result = children.save_child(actor, raw, row.id)
                    except ValidationError as exc:
                        show_field_errors(CHILD, exc.errors)
                    else:
                        clear_form(form_key)
                        saved_message(raw.get("name") or row.name, result.warnings, "修改")
            submit_label = "更正后重新提交" if row.state == "problem" else "提交审核"
            left, right, _ = st.columns([1, 1, 3])
            if left.button(submit_label, key="child_submit_one", icon=":material/send:", width="stretch"):
                with service_errors():
                    children.submit_children(actor, [row.id])
                    flash_and_rerun(FLASH, f"已提交幼儿“{row.name}”的信息，等待县级审核。")
            if right.button("删除该记录", key="child_delete", icon=":material/delete:", width="stretch"):
                st.session_state[CONFIRM_DELETE] = row.id
                st.rerun()
            if st.session_state.get(CONFIRM_DELETE) == row.id:
                st.warning(
                    f"确定删除幼儿“{row.name}”的记录吗？删除后县级教育部门仍可查看，误删的可申请恢复。",
                    icon=":material/warning:",
                )
                yes, no, _ = st.columns([1, 1, 3])
                if yes.button("确认删除", key="child_delete_confirm", type="primary", width="stretch"):
                    st.session_state.pop(CONFIRM_DELETE, None)
                    with service_errors():
                        children.delete_child(actor, row.id)
                        flash_and_rerun(FLASH, f"已删除幼儿“{row.name}”的记录。")
                if no.button("取消", key="child_delete_cancel", width="stretch"):
                    st.session_state.pop(CONFIRM_DELETE, None)
                    st.rerun()
        else:
            detail_table(detail)

        if row.state in children.CLOSED:
            with st.form(f"child_restore_{row.id}"):
                reason = st.text_area(
                    "恢复理由 *", key=f"child_restore_reason_{row.id}", placeholder="例如：误删，该幼儿仍在本园就读"
                )
                restore = st.form_submit_button("申请恢复", key="child_restore", icon=":material/restore:")
            if restore:
                with service_errors():
                    problems.request_restore(actor, row.id, reason)
                    flash_and_rerun(FLASH, f"已提交“{row.name}”的恢复申请，等待县级审核。")

        reveal_panel(actor, detail, f"child_{row.id}")
        history_panel(actor, row.id)

# --- a new child -------------------------------------------------------------------------------------
with new_tab:
    st.caption("带 * 的为必填项。保存后可继续修改；核对无误后到“提交审核”提交。")
    with st.form("child_new"):
        raw = child_form("child_new", classes)
        create = st.form_submit_button("保存", key="child_create", type="primary", icon=":material/save:")
    if create:
        with service_errors():
            try:
                result = children.save_child(actor, raw)
            except ValidationError as exc:
                show_field_errors(CHILD, exc.errors)
            else:
                clear_form("child_new")
                saved_message(raw.get("name") or "", result.warnings, "保存")

# --- submitting ----------------------------------------------------------------------------------------
with submit_tab:
    if not waiting:
        st.success("没有待提交的记录：已保存和被驳回的记录都已提交。", icon=":material/task_alt:")
    else:
        st.caption(
            "已保存和被驳回后修改的记录可以提交。提交后由县级教育部门审核（谁填报谁负责、谁审核谁负责），"
            "审核完成前不能修改。问题学籍请在记录详情中更正后重新提交。"
        )
        child_table(waiting)
        labels = {r.id: child_label(r) for r in waiting}
        with st.form("children_submit_form"):
            everyone = st.checkbox(f"提交全部 {len(waiting)} 名待提交幼儿", key="children_submit_all")
            chosen_ids = st.multiselect(
                "或只提交所选幼儿",
                list(labels),
                format_func=labels.get,
                key="children_submit_ids",
                placeholder="输入姓名查找并选择",
            )
            confirmed = st.checkbox(
                "我已核对所提交幼儿的信息真实、准确，确认提交县级教育部门审核", key="children_submit_confirm"
            )
            go = st.form_submit_button("提交审核", key="children_submit", type="primary", icon=":material/send:")
        if go:
            ids = list(labels) if everyone else chosen_ids
            if not ids:
                st.error("请勾选“提交全部”，或选择要提交的幼儿。", icon=":material/error:")
            elif not confirmed:
                st.error("提交前请勾选确认。", icon=":material/error:")
            else:
                with service_errors():
                    done = children.submit_children(actor, ids)
                    flash_and_rerun(FLASH, f"已提交 {done} 名幼儿的信息，等待县级教育部门审核。")
