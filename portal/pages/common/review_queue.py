"""审核队列: one queue for every kind of request waiting for this reviewer, in their scope."""

import pandas as pd
import streamlit as st

from portal.clock import format_local
from portal.services import evidence, workflow
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.paging import KeysetPager
from portal.ui.text import md

actor = require_page("review_queue")
page_header("审核队列", actor)
show_flash("queue_flash")

kinds = workflow.kinds()
STEP_ACTIONS = {"全部": None, "待审核": workflow.REVIEW, "待阅知": workflow.ACKNOWLEDGE}
kind_column, action_column, name_column, overdue_column = st.columns([2, 1, 2, 1], vertical_alignment="bottom")
kind_label = kind_column.selectbox("申请类型", ["全部", *kinds.values()], key="queue_kind")
action_label = action_column.selectbox("状态", list(STEP_ACTIONS), key="queue_action")
institution_name = name_column.text_input("机构名称", key="queue_institution", placeholder="输入机构名称的一部分")
overdue = overdue_column.checkbox("只看已超期", key="queue_overdue")
kind = next((k for k, v in kinds.items() if v == kind_label), None)
step_action = STEP_ACTIONS[action_label]

LAST_OPENED = "queue_last_opened"
FORM_FOR = "queue_form_for"  # the request whose decision form the last run drew
page_size = get_settings().page_size
pager = KeysetPager("queue_pager", (kind, step_action, institution_name, overdue))
page = workflow.queue(
    actor,
    kind=kind,
    overdue=overdue,
    step_action=step_action,
    institution_name=institution_name,
    after_id=pager.cursor,
    limit=page_size,
)
if not page.rows:
    st.success(
        "没有等待您处理的申请。"
        if page.total == 0 and not (kind or step_action or institution_name or overdue)
        else "没有符合条件的申请。",
        icon=":material/task_alt:",
    )
    st.stop()

frame = pd.DataFrame(
    [
        {
            "编号": r.id,
            "类型": r.kind_label,
            "机构": r.institution_name,
            "事项": r.title,
            "当前步骤": r.step_label,
            "提交时间": format_local(r.submitted_at),
            "处理期限": str(r.due_date or ""),
            "剩余工作日": r.days_left,
        }
        for r in page.rows
    ]
)
styled = frame.style.map(
    lambda v: "color: #c62828; font-weight: 600" if v is not None and v < 0 else "", subset=["剩余工作日"]
)
st.dataframe(styled, hide_index=True, width="stretch")
pager.controls(page.next_after, page.total, page_size, more=page.more)

labels = {r.id: f"{r.id} · {r.title}（{r.step_label}）" for r in page.rows}
with st.expander("批量审核通过", icon=":material/done_all:"):
    with st.form("queue_batch"):
        chosen = st.multiselect("选择要通过的申请", list(labels), format_func=labels.get, key="queue_batch_ids")
        confirmed = st.checkbox("我已逐条核对所选申请的内容，确认全部审核通过", key="queue_batch_confirm")
        batch = st.form_submit_button("批量通过", key="queue_batch_approve", type="primary")
    if batch:
        if not chosen:
            st.error("请先选择申请。")
        elif not confirmed:
            st.error("批量通过前请勾选确认。")
        else:
            outcomes = workflow.decide_many(actor, chosen, "approve")
            st.session_state.pop(LAST_OPENED, None)
            refused = [f"{rid}：{message}" for rid, message in outcomes if message]
            summary = f"已通过 {len(outcomes) - len(refused)} 条申请。"
            flash_and_rerun("queue_flash", summary + (f" 未通过：{'；'.join(refused)}" if refused else ""))

st.subheader("申请详情")
# The request the reviewer had open may have been decided by another reviewer (or withdrawn)
# since: the page then opens another one, and says so; a click meant for the one that left does
# not decide the one that took its place (FORM_FOR below).
previous = st.session_state.get(LAST_OPENED)
if previous is not None and previous not in labels and not workflow.awaits(actor, previous):
    st.info(f"您刚才打开的申请 {previous} 已由其他审核人处理或已撤回，下面显示的是另一条申请。", icon=":material/info:")
selected = st.selectbox("打开申请", list(labels), format_func=labels.get, key="queue_open")
st.session_state[LAST_OPENED] = selected
with service_errors():
    detail = workflow.detail(actor, selected)
    request = detail.request
    st.markdown(
        f"**{detail.kind_label}** · {md(request.title)} · 状态：{detail.state_label}（{md(detail.step_label)}）"
    )
    if detail.changes:
        st.dataframe(pd.DataFrame(detail.changes, columns=["项目", "原值", "新值"]), hide_index=True, width="stretch")
    else:
        st.caption("无变更内容。")
    files = evidence.list_files(actor, request.id or 0)
    if files:
        st.markdown("**证明材料**")
        for row in files:
            st.download_button(
                f"{md(row.filename)}（{row.size // 1024 + 1} KB）",
                data=lambda evidence_id=row.id: evidence.read(actor, evidence_id).data,
                file_name=row.filename,
                mime=row.content_type,
                key=f"evidence_{row.id}",
                icon=":material/download:",
            )
    st.markdown("**处理记录**")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "时间": format_local(e.at),
                    "处理人": e.real_name,
                    "角色": e.role,
                    "操作": workflow.ACTION_LABELS.get(e.action, e.action),
                    "理由": e.reason,
                }
                for e in detail.events
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    if detail.may_act:
        with st.form(f"decide_{request.id}"):
            if detail.step_action == workflow.ACKNOWLEDGE:
                acknowledge = st.form_submit_button("阅知", key="decide_acknowledge", type="primary")
                approve = reject = False
                reason = ""
            else:
                reason = st.text_area("审核意见（驳回时必填）", key=f"reason_{request.id}")
                left, right = st.columns(2)
                approve = left.form_submit_button("审核通过", key="decide_approve", type="primary", width="stretch")
                reject = right.form_submit_button("驳回", key="decide_return", width="stretch")
                acknowledge = False
        action = "approve" if approve else "return" if reject else "acknowledge" if acknowledge else None
        # A click counts for the request whose form the reviewer saw: if that one left the queue
        # meanwhile, this run opened another, and the click must not decide it unseen.
        drawn_for, st.session_state[FORM_FOR] = st.session_state.get(FORM_FOR), request.id
        if action and drawn_for != request.id:
            action = None
        if action:
            with service_errors():
                workflow.decide(actor, request.id or 0, action, reason)
                st.session_state.pop(LAST_OPENED, None)  # decided here: no notice about it
                flash_and_rerun("queue_flash", f"申请 {request.id} 已{workflow.ACTION_LABELS[action]}。")
