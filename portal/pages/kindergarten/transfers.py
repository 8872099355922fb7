"""转园: the receiving kindergarten starts a transfer with the child's student number and name and
completes it into a class; the sending kindergarten agrees or refuses. Across counties both
counties review in their queues in between."""

import streamlit as st

from portal.services import children, transfers
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.text import md
from portal.ui.transfers import history_panel, step_note, transfer_table

FLASH = "transfers_flash"

actor = require_page("kindergarten_transfers")
page_header("转园办理", actor)
settings = get_settings()
within = "同一县区内的转园也需两地县级审核。" if settings.transfer_county_review else "同一县区内的转园无需县级审核。"
st.caption(
    "转入园凭幼儿的学籍号和姓名发起转园，转出园同意后，跨县区的转园由转出地、转入地县级教育行政部门依次审核，"
    f"最后由转入园办理转入并分班。{within}每一步须在 {settings.transfer_step_days} 个工作日内办理，"
    f"整个转园须在 {settings.transfer_days} 个工作日内办结，逾期未办结的自动终止。转园后学籍号不变。"
)
show_flash(FLASH)

with service_errors():
    rows = transfers.list_transfers(actor)
incoming = [r for r in rows if r.direction == "转入"]
outgoing = [r for r in rows if r.direction == "转出"]
to_complete = [r for r in incoming if r.state == "receiver"]
to_answer = [r for r in outgoing if r.state == "sender"]

tab_in, tab_out = st.tabs(
    [
        f"转入本园（待办理 {len(to_complete)}）" if to_complete else "转入本园",
        f"转出本园（待同意 {len(to_answer)}）" if to_answer else "转出本园",
    ]
)

with tab_in:
    classes = children.list_classes(actor)
    class_labels = {c.id: c.label for c in classes}
    st.subheader("发起转园")
    if not classes:
        st.info("本学年还没有班级，请先在“班级管理”中建立班级，再发起转园。", icon=":material/info:")
    else:
        with st.form("transfer_start", clear_on_submit=False):
            left, right = st.columns(2)
            number = left.text_input(
                "学籍号 *", max_chars=19, placeholder="如 G410122202203150011", key="transfer_number"
            )
            name = right.text_input("幼儿姓名 *", max_chars=50, key="transfer_name")
            class_id = left.selectbox(
                "转入班级 *",
                list(class_labels),
                format_func=class_labels.get,
                index=None,
                placeholder="请选择本学年的班级",
                key="transfer_class",
            )
            reason = right.text_input("转园原因 *", max_chars=200, placeholder="如：随父母迁居", key="transfer_reason")
            st.caption("学籍号和姓名须与原幼儿园登记的一致（见家长提供的学籍卡或转园申请）。")
            sent = st.form_submit_button("发起转园", type="primary", icon=":material/send:")
        if sent:
            with service_errors():
                transfer_id = transfers.start_transfer(actor, number, name, class_id, reason)
                flash_and_rerun(FLASH, f"已发起转园（编号 {transfer_id}），等待转出园同意。")

    if to_complete:
        st.subheader("待本园办理转入")
        for row in to_complete:
            with st.container(border=True):
                st.markdown(f"**{md(row.child_name)}**　学籍号 {md(row.student_number)}　来自 {md(row.from_name)}")
                st.caption(f"转园原因：{md(row.reason)}")
                st.markdown(step_note(row, "办理"))
                default = list(class_labels).index(row.class_id) if row.class_id in class_labels else None
                left, right = st.columns([3, 1])
                chosen = left.selectbox(
                    "转入班级",
                    list(class_labels),
                    format_func=class_labels.get,
                    index=default,
                    key=f"complete_{row.id}",
                )
                if right.button("办理转入", key=f"complete_button_{row.id}", type="primary"):
                    with service_errors():
                        transfers.complete(actor, row.id, chosen)
                        flash_and_rerun(FLASH, f"{row.child_name}已转入本园，学籍号不变。")

    open_incoming = [r for r in incoming if r.state in transfers.OPEN]
    if open_incoming:
        with st.expander("撤销本园发起的转园", icon=":material/undo:"):
            labels = {r.id: f"{r.id} · {r.child_name}（{r.state_label}）" for r in open_incoming}
            with st.form("transfer_cancel"):
                chosen_id = st.selectbox("选择转园", list(labels), format_func=labels.get, key="cancel_choice")
                why = st.text_input("撤销理由 *", max_chars=200, key="cancel_reason")
                if st.form_submit_button("撤销转园", icon=":material/undo:"):
                    with service_errors():
                        transfers.cancel(actor, chosen_id, why)
                        flash_and_rerun(FLASH, f"转园 {chosen_id} 已撤销。")

    st.subheader("本园转入记录")
    transfer_table(incoming, hide="转入园")

with tab_out:
    if to_answer:
        st.subheader("待本园同意")
        for row in to_answer:
            with st.container(border=True):
                st.markdown(f"**{md(row.child_name)}**　学籍号 {md(row.student_number)}　转往 {md(row.to_name)}")
                st.caption(f"转园原因：{md(row.reason)}")
                st.markdown(step_note(row, "答复"))
                left, right = st.columns([3, 1])
                refusal = left.text_input(
                    "拒绝理由（拒绝时必填）",
                    max_chars=200,
                    key=f"refuse_reason_{row.id}",
                    label_visibility="collapsed",
                    placeholder="拒绝时请填写理由",
                )
                agree_col, refuse_col = right.columns(2)
                if agree_col.button("同意", key=f"agree_{row.id}", type="primary"):
                    with service_errors():
                        transfers.agree(actor, row.id)
                        flash_and_rerun(FLASH, f"已同意{row.child_name}转往{row.to_name}。")
                if refuse_col.button("拒绝", key=f"refuse_{row.id}"):
                    with service_errors():
                        transfers.refuse(actor, row.id, refusal)
                        flash_and_rerun(FLASH, f"已拒绝{row.child_name}的转园申请。")
    else:
        st.caption("没有等待本园同意的转园申请。")
    st.subheader("本园转出记录")
    st.caption("正在转出的幼儿在转园办结或撤销前不能办理离园、毕业或关键信息变更。")
    transfer_table(outgoing, hide="转出园")

history_panel(actor, rows, "kindergarten_transfers")
