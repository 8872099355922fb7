"""幼儿信息 (bureaus and the township): the children of the region, masked, by state and
kindergarten, the overdue ones flagged; one record opened; a look-up by document number; a
reviewer of a county, city or province may see one full number after stating a reason."""

import streamlit as st

from portal.data.child_fields import DOCUMENT_TYPES
from portal.data.choices import DocumentType
from portal.services import child_import, children
from portal.services.institutions import list_institutions
from portal.settings import get_settings
from portal.ui.children import (
    child_label,
    child_table,
    detail_table,
    history_panel,
    origin_note,
    reveal_panel,
    state_metrics,
)
from portal.ui.guard import require_page
from portal.ui.layout import page_header, service_errors
from portal.ui.paging import KeysetPager
from portal.ui.text import md

actor = require_page("children")
page_header("幼儿信息", actor)
months = get_settings().child_record_months
st.caption(
    f"辖区内各园的幼儿记录。入园 {months} 个月仍未提交审核的记录标为“已超期”。"
    "证件号码、学籍号和电话号码一律隐去中间部分显示。"
)

counts = children.state_counts(actor)
overdue_total = children.list_children(actor, overdue=True, limit=1).total
state_metrics(counts, overdue_total)
if overdue_total:
    st.warning(
        f"辖区内有 {overdue_total} 名幼儿入园已超过 {months} 个月仍未提交审核，请督促相关幼儿园尽快建档。",
        icon=":material/schedule:",
    )

search_column, institution_column = st.columns([1, 2], vertical_alignment="bottom")
search = search_column.text_input("查找幼儿园", key="children_inst_search", placeholder="名称或机构标识码")
found = list_institutions(actor, search=search, limit=100)
institutions = {"全部幼儿园": None, **{f"{r.code} · {r.name}": r.id for r in found.rows}}
institution_label = institution_column.selectbox(
    f"幼儿园（{found.total} 所{'，显示前 100 所' if found.total > 100 else ''}）",
    list(institutions),
    key="children_institution",
)
institution_id = institutions[institution_label]

state_options = {
    "在园（不含已删除、已毕业、已离园）": None,
    **{label: state for state, label in children.STATE_LABELS.items()},
}
name_column, state_column, overdue_column = st.columns([2, 2, 1], vertical_alignment="bottom")
name = name_column.text_input("姓名", key="bureau_children_name", placeholder="输入姓名的一部分")
state = state_options[state_column.selectbox("状态", list(state_options), key="bureau_children_state")]
overdue = overdue_column.checkbox("只看超期", key="bureau_children_overdue")

page_size = get_settings().page_size
pager = KeysetPager("bureau_children_pager", (institution_id, name, state, overdue))
page = children.list_children(
    actor,
    institution_id=institution_id,
    name=name,
    state=state,
    overdue=overdue,
    after_id=pager.cursor,
    limit=page_size,
)
if page.rows:
    child_table(page.rows, with_institution=True)
else:
    st.info("没有符合条件的幼儿记录。", icon=":material/search_off:")
pager.controls(page.next_after, page.total, page_size)
if page.total:
    st.download_button(
        "导出幼儿名单（Excel，号码已遮盖）",
        data=lambda: child_import.export_children(actor, institution_id=institution_id),
        file_name="幼儿名单.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        key="bureau_children_export",
        icon=":material/download:",
    )

if page.rows:
    st.subheader("幼儿详情")
    labels = {r.id: f"{child_label(r)}，{r.institution_name}" for r in page.rows}
    chosen = st.selectbox("查看幼儿", list(labels), format_func=labels.get, key="bureau_children_open")
    with service_errors():
        detail = children.get_child(actor, chosen)
        st.caption(f"{md(detail.row.institution_name)} · {md(detail.row.class_name or '未分班')}")
        origin_note(detail.row)
        if detail.transfer_note:
            st.info(md(detail.transfer_note), icon=":material/swap_horiz:")
        if detail.row.return_reason and detail.row.state == "returned":
            st.error(f"驳回理由：{md(detail.row.return_reason)}", icon=":material/undo:")
        detail_table(detail)
        reveal_panel(actor, detail, f"bureau_child_{chosen}")
        history_panel(actor, chosen)

with st.expander("按证件号码查找", icon=":material/badge:"):
    st.caption("输入完整的证件号码，在辖区内查找登记了该号码的幼儿（查找结果同样隐去号码中间部分）。")
    with st.form("children_by_document"):
        left, right = st.columns([1, 2])
        document_type = left.selectbox(
            "证件类型", [t for t in DOCUMENT_TYPES if t != DocumentType.NONE], key="lookup_type"
        )
        number = right.text_input("证件号码", key="lookup_number")
        look = st.form_submit_button("查找", key="lookup_go", icon=":material/search:")
    if look:
        if not number.strip():
            st.error("请输入证件号码。", icon=":material/error:")
        else:
            with service_errors():
                matches = children.find_by_document(actor, document_type, number)
                if matches:
                    st.success(f"找到 {len(matches)} 条记录。", icon=":material/check_circle:")
                    child_table(matches, with_institution=True)
                else:
                    st.info("辖区内没有登记该证件号码的幼儿。", icon=":material/search_off:")
