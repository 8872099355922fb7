"""问题学籍: the records of this kindergarten that the province-wide duplicate check found to be a
child another record already holds. Both records side by side; the kindergarten deletes its
record, corrects it and submits again (on 幼儿信息), or files proof (佐证) for the bureau's
arbitration; decided ones show who decided and why."""

import streamlit as st

from portal.clock import format_local
from portal.services import children, exchange, problems
from portal.ui.children import dispute_compare, dispute_outcome, dispute_summary, proof_list
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.text import md

FLASH = "problems_flash"
CONFIRM_DELETE = "problems_confirm_delete"

actor = require_page("kindergarten_problems")
page_header("问题学籍", actor)
st.caption(
    "省内查重发现同一幼儿已有记录时，后审核的记录成为问题学籍，双方幼儿园都能看到。处理办法：确属重复录入的，"
    "删除本园记录；录错证件号码等信息的，更正后重新提交；幼儿确在本园就读的，上传户口簿、出生医学证明等佐证，"
    "由上级教育部门仲裁（同县由县级，跨县由市级，跨市由省级）。"
)
show_flash(FLASH)

show_all = st.toggle("同时显示已处理的问题学籍", key="problems_all")
disputes = problems.list_disputes(actor, open_only=not show_all)
open_count = sum(1 for d in disputes if d.state in ("open", "arbitration"))
columns = st.columns(3)
columns[0].metric("待处理", f"{sum(1 for d in disputes if d.state == 'open')} 条")
columns[1].metric("待仲裁", f"{sum(1 for d in disputes if d.state == 'arbitration')} 条")
if show_all:
    columns[2].metric("已处理", f"{len(disputes) - open_count} 条")

# The national duplicate check (the ministry's report, R8.5) marks records without a dispute here:
# the other record is in another province.
national = exchange.national_problems(actor)
if national:
    st.subheader("全国查重发现的问题学籍")
    st.caption("与外省学籍重复：确属重复的删除本园记录，录错的在“幼儿信息”中更正后重新提交。")
    for row in national:
        st.error(f"{md(row.name)}：{md(row.return_reason)}", icon=":material/public:")

if not disputes:
    if not national:
        st.success("本园没有问题学籍。", icon=":material/task_alt:")
    st.stop()

labels = {d.id: dispute_summary(d) for d in disputes}
chosen = st.selectbox("选择问题学籍", list(labels), format_func=labels.get, key="problems_open")
view = next(d for d in disputes if d.id == chosen)
mine = view.claimant if view.claimant.institution_id == actor.institution_id else view.holder
other = view.holder if mine is view.claimant else view.claimant

st.markdown(
    f"**{view.kind_label}**：本园的“{md(mine.child.name)}”与{md(other.institution_name)}（{md(other.county_name)}）的"
    f"“{md(other.child.name)}”为同一幼儿。发现时间 {format_local(view.opened_at)}。"
)
dispute_compare(view, actor.institution_id)
dispute_outcome(view)
proof_list(actor, view, f"problem_{view.id}")

if view.state not in ("open", "arbitration"):
    st.stop()

if view.state == "arbitration":
    st.info(f"已有佐证提交，等待{view.level_label}教育行政部门仲裁。仲裁前仍可补充佐证。", icon=":material/gavel:")

st.subheader("处理本园的记录")
own_child = mine.child
if own_child.state == "problem":
    st.markdown(
        f"- **更正后重新提交**：如本园录错了证件号码等信息，请到“幼儿信息”中打开“{md(own_child.name)}”，"
        "修改后点“更正后重新提交”。"
    )
    st.page_link("portal/pages/kindergarten/children.py", label="去“幼儿信息”更正", icon=":material/edit:")
    if st.button("删除本园的这条记录", key="problem_delete", icon=":material/delete:"):
        st.session_state[CONFIRM_DELETE] = view.id
        st.rerun()
    if st.session_state.get(CONFIRM_DELETE) == view.id:
        st.warning(
            f"确定删除本园“{md(own_child.name)}”的记录吗？问题学籍随之解决；删除后县级教育部门仍可查看，误删的可申请恢复。",
            icon=":material/warning:",
        )
        yes, no, _ = st.columns([1, 1, 3])
        if yes.button("确认删除", key="problem_delete_confirm", type="primary", width="stretch"):
            st.session_state.pop(CONFIRM_DELETE, None)
            with service_errors():
                children.delete_child(actor, own_child.id)
                flash_and_rerun(FLASH, f"已删除“{own_child.name}”的记录，问题学籍 {view.id} 已解决。")
        if no.button("取消", key="problem_delete_cancel", width="stretch"):
            st.session_state.pop(CONFIRM_DELETE, None)
            st.rerun()

with st.form(f"proof_{view.id}", clear_on_submit=False):
    st.markdown("**提交佐证**：幼儿确在本园就读的，请上传户口簿、出生医学证明、入园登记表等材料的扫描件或照片。")
    note = st.text_area(
        "佐证说明 *", key=f"proof_note_{view.id}", placeholder="例如：该幼儿 2026 年 9 月起在本园就读，附户口簿"
    )
    files = st.file_uploader(
        "佐证材料 *（图片、PDF 或 Office 文件）", accept_multiple_files=True, key=f"proof_files_{view.id}"
    )
    sent = st.form_submit_button("提交佐证", key="proof_submit", type="primary", icon=":material/upload_file:")
if sent:
    with service_errors():
        count = problems.file_proof(actor, view.id, note, [(f.name, f.getvalue()) for f in files or []])
        flash_and_rerun(FLASH, f"已提交 {count} 份佐证，等待{view.level_label}教育行政部门仲裁。")
