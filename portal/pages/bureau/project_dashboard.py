"""项目进展看板 (§16): allocation against spending and progress of the approved projects per
sub-region (the laggards first), the province's central funds, a drill-down to a region's projects
and the trend of the month-end snapshots."""

import streamlit as st

from portal.auth.roles import Level
from portal.services import projects, snapshots
from portal.services.workflow import local_today
from portal.ui.guard import require_page
from portal.ui.layout import page_header, service_errors
from portal.ui.projects import (
    allocation_chart,
    dashboard_frame,
    money,
    pct,
    projects_frame,
    trend_chart,
    wan_text,
)

DRILL = "project_dashboard_drill"

actor = require_page("project_dashboard")
page_header("项目进展看板", actor)
today = local_today()
year = int(
    st.number_input("年度", min_value=2010, max_value=today.year + 5, value=today.year, step=1, key="project_year")
)

with service_errors():
    board = projects.dashboard(actor, year=year)
    total = board.total
    top = st.columns(3)
    top[0].metric("审核通过的项目", f"{total.projects} 个")
    top[1].metric("安排金额", wan_text(total.amount), help=f"{money(total.amount)} 元")
    top[2].metric("累计支出", wan_text(total.spent), help=f"{money(total.spent)} 元")
    bottom = st.columns(3)
    bottom[0].metric("支出比例", pct(total.spent_pct))
    bottom[1].metric("平均进度", pct(total.avg_percent))
    bottom[2].metric(
        "本月未更新" if not board.late else "未按时更新",
        f"{total.not_updated} 个",
        help=f"审核通过的项目每月 {board.update_day} 日前更新进展",
    )
    if board.central_funds is not None:
        st.caption(
            f"{year} 年中央资金 {money(board.central_funds)} 元；其中已安排到审核通过的中央资金项目 "
            f"{money(board.central_allocated)} 元。"
        )
    late_note = f"已过本月 {board.update_day} 日，未更新的项目为“未按时更新”。" if board.late else ""
    st.caption(
        f"按资金支出比例从低到高排列（支出比例相同时按平均进度），进度滞后的排在前面；只统计审核通过的项目。{late_note}"
    )
    if not board.rows:
        st.info(f"{year} 年还没有审核通过的项目。", icon=":material/info:")
    else:
        drillable = actor.level is not Level.COUNTY
        picked = st.dataframe(
            dashboard_frame(board),
            hide_index=True,
            width="stretch",
            on_select="rerun" if drillable else "ignore",
            selection_mode="single-row",
            key="project_dashboard_table",
        )
        st.plotly_chart(allocation_chart(board.rows, board.sub_label), key="project_allocation_chart")
        if drillable:
            names = {r.code: r.name for r in board.rows}
            chosen = picked.selection.rows if picked and picked.selection else []
            if chosen and chosen[0] < len(board.rows):
                st.session_state[DRILL] = board.rows[chosen[0]].code
            if st.session_state.get(DRILL) not in names:
                st.session_state.pop(DRILL, None)
            code = st.selectbox(f"查看{board.sub_label}的项目", list(names), format_func=names.get, key=DRILL)
            if code is not None:
                rows = projects.dashboard_projects(actor, code, year=year)
                st.dataframe(projects_frame(rows, with_region=True), hide_index=True, width="stretch")

    trend = snapshots.project_trend(actor, year=year)
    if len(trend) >= 2:
        st.plotly_chart(trend_chart(trend, board.region_name), key="project_trend_chart")
    else:
        st.caption("项目月末快照满两个月后显示进展趋势图（每月最后一天 0 时自动保存）。")
