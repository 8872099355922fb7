"""本园概况: the institution's own page for its clerk: its record card and its children's figures."""

import streamlit as st

from portal.auth.policy import Action, may
from portal.services import children, problems, snapshots, transfers, yearly
from portal.services.overview import overview
from portal.ui.children import state_metrics
from portal.ui.guard import require_page
from portal.ui.home import institution_card
from portal.ui.layout import page_header
from portal.ui.text import md

actor = require_page("kindergarten_home")
page_header(actor.institution_name or "本园概况", actor)
summary = overview(actor)
if summary.institution is None:
    st.error("您的账户未关联机构，请联系县级系统管理员。")
    st.stop()
institution_card(summary.institution, summary.institution_location)
st.metric("本园用户账户", f"{summary.users} 个")
if may(actor, Action.VIEW_CHILDREN):
    st.subheader("幼儿学籍")
    state_metrics(children.state_counts(actor), children.list_children(actor, overdue=True, limit=1).total)
    waiting = len(problems.list_disputes(actor))
    if waiting:
        st.warning(f"本园涉及 {waiting} 条未解决的问题学籍，请在“问题学籍”页面处理。", icon=":material/report:")
if may(actor, Action.MANAGE_CHILDREN):
    reminder = snapshots.monthly_reminder(actor)  # from the 20th, while the month's update is not done
    if reminder:
        st.warning(reminder, icon=":material/notification_important:")
    for task in yearly.cycle_tasks(actor):
        if not task.done and not (reminder and task.label == yearly.MONTHLY_TASK):
            note = f"**{task.label}**（{task.due}）：{task.detail}请在“学年工作”页面办理。"
            st.info(note, icon=":material/event_repeat:")
    waiting_transfers = [
        r
        for r in transfers.list_transfers(actor, states=("sender", "receiver"))
        if (r.state, r.direction) in (("sender", "转出"), ("receiver", "转入"))
    ]
    if waiting_transfers:
        names = "、".join(
            f"{md(r.child_name)}（{'待本园同意' if r.state == 'sender' else '待办理转入'}）" for r in waiting_transfers
        )
        late = sum(r.overdue for r in waiting_transfers)
        note = f"有 {len(waiting_transfers)} 个转园等待本园办理：{names}。请在“转园”页面办理。"
        if late:
            st.warning(f"{note}其中 {late} 个已逾期。", icon=":material/swap_horiz:")
        else:
            st.info(note, icon=":material/swap_horiz:")
