"""问题学籍仲裁: a county, city or province reviewer decides the problem records between
institutions in their region (the county within a county, the city across counties, the province
across cities). Both records side by side with the proof each side filed; the decision — keep one,
keep the other, or two different children — is applied at once and kept with who and why."""

import pandas as pd
import streamlit as st

from portal.clock import format_local
from portal.services import problems
from portal.ui.children import dispute_compare, dispute_outcome, dispute_summary, proof_list
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.text import md

FLASH = "arbitration_flash"

actor = require_page("arbitration")
page_header("问题学籍仲裁", actor)
st.caption(
    "同一幼儿在两所幼儿园都有记录时，由两园共同的上级教育行政部门仲裁：同县由县级，跨县由市级，跨市由省级。"
    "仲裁结果立即生效：被否定的记录删除，保留的记录获得（或沿用）学籍号。"
)
show_flash(FLASH)

show_all = st.toggle("同时显示已处理的问题学籍", key="arbitration_all")
disputes = problems.list_disputes(actor, open_only=not show_all)
mine = [d for d in disputes if d.may_arbitrate]
columns = st.columns(3)
columns[0].metric("待本级仲裁", f"{len(mine)} 条")
columns[1].metric("其中已有佐证", f"{sum(1 for d in mine if d.state == 'arbitration')} 条")
columns[2].metric("辖区内未解决", f"{sum(1 for d in disputes if d.state in ('open', 'arbitration'))} 条")

if not disputes:
    st.success("辖区内没有待处理的问题学籍。", icon=":material/task_alt:")
    st.stop()

frame = pd.DataFrame(
    [
        {
            "编号": d.id,
            "幼儿": d.claimant.child.name,
            "类型": d.kind_label,
            "问题学籍所在园": d.claimant.institution_name,
            "原有记录所在园": d.holder.institution_name,
            "状态": d.state_label,
            "仲裁层级": d.level_label,
            "发现时间": format_local(d.opened_at),
            "由本级仲裁": "是" if d.may_arbitrate else "",
        }
        for d in disputes
    ]
)
st.dataframe(frame, hide_index=True, width="stretch")

labels = {d.id: dispute_summary(d) for d in disputes}
chosen = st.selectbox("打开问题学籍", list(labels), format_func=labels.get, key="arbitration_open")
view = next(d for d in disputes if d.id == chosen)
st.subheader(f"问题学籍 {view.id}：{md(view.claimant.child.name)}")
st.markdown(
    f"**{view.kind_label}**。问题学籍：{md(view.claimant.institution_name)}（{md(view.claimant.county_name)}）；"
    f"原有记录：{md(view.holder.institution_name)}（{md(view.holder.county_name)}）。"
    f"发现时间 {format_local(view.opened_at)}。"
)
dispute_compare(view)
proof_list(actor, view, f"arbitration_{view.id}")
dispute_outcome(view)

if view.state not in ("open", "arbitration"):
    st.stop()
if not view.may_arbitrate:
    st.info(f"该问题学籍应由{view.level_label}教育行政部门仲裁，本级可查看。", icon=":material/info:")
    st.stop()
if view.state == "open":
    st.info(
        "双方尚未提交佐证。可以等待幼儿园提交佐证后再仲裁，也可以依据已掌握的情况直接仲裁。", icon=":material/info:"
    )

OUTCOMES = {
    "keep_child": f"保留问题学籍一方（{md(view.claimant.institution_name)}）的记录，删除原有记录",
    "keep_other": f"保留原有记录（{md(view.holder.institution_name)}），删除问题学籍一方的记录",
}
if view.kind not in problems.SHARED_NUMBER_KINDS:
    OUTCOMES["different"] = "认定为两名不同的幼儿，两条记录都保留"
with st.form(f"arbitrate_{view.id}"):
    outcome = st.radio("仲裁结果 *", list(OUTCOMES), format_func=OUTCOMES.get, index=None, key=f"outcome_{view.id}")
    if view.kind == "same_id":
        st.caption("两条记录证件号码相同，不能认定为不同幼儿。")
    elif view.kind == "same_number":
        st.caption("两条记录学籍号相同，不能都保留：可保留一方，或由录错学籍号的一方更正后重新提交。")
    reason = st.text_area(
        "仲裁理由 *",
        key=f"arbitration_reason_{view.id}",
        placeholder="例如：经核对户口簿和入园登记，该幼儿现在某某幼儿园就读",
    )
    confirmed = st.checkbox("确认仲裁结果（立即生效，双方幼儿园可见）", key=f"arbitration_confirm_{view.id}")
    decided = st.form_submit_button("确认仲裁", key="arbitration_decide", type="primary", icon=":material/gavel:")
if decided:
    if outcome is None:
        st.error("请选择仲裁结果。", icon=":material/error:")
    elif not confirmed:
        st.error("仲裁前请勾选确认。", icon=":material/error:")
    else:
        with service_errors():
            result = problems.arbitrate(actor, view.id, outcome, reason)
            flash_and_rerun(FLASH, f"问题学籍 {result.id} 已仲裁：{result.outcome_label}。")
