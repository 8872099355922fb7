"""进度看板: the progress table of 附件2 for the bureau's region, drillable down to a county's
institutions, with filters, ranking and charts (MISSION.md R5.1)."""

import pandas as pd
import streamlit as st

from portal.data.choices import URBAN_RURAL_CLASSES
from portal.services import progress, snapshots
from portal.settings import get_settings
from portal.ui.charts import cached
from portal.ui.guard import require_page
from portal.ui.layout import page_header, service_errors

REGION = "progress_region"
KINDS = ("独立设置幼儿园", "附设幼儿班", "学前班")

actor = require_page("bureau_progress")
page_header("进度看板", actor)
settings = get_settings()

cols = st.columns(3)
for column, deadline in zip(cols, progress.deadlines(), strict=False):
    column.metric(f"距“{deadline.label}”截止", f"{deadline.days_left} 天", help=f"截止日期 {deadline.day}")
cols[2].metric("县级审核时限", f"{settings.child_review_days} 个工作日", help="幼儿信息提交后县级教育部门的审核期限")

with st.expander("筛选", icon=":material/filter_alt:", expanded=False):
    left, mid, right, last = st.columns(4)
    kind = left.selectbox("办学类型", ["全部", *KINDS], key="progress_kind")
    ownership = mid.selectbox("举办性质", ["全部", "公办", "民办"], key="progress_ownership")
    inclusive = right.selectbox("普惠性", ["全部", "普惠", "非普惠"], key="progress_inclusive")
    urban = last.selectbox("城乡分类", ["全部", *URBAN_RURAL_CLASSES], key="progress_urban")
filters = progress.Filters(
    kind=None if kind == "全部" else kind,
    ownership=None if ownership == "全部" else ownership,
    inclusive=None if inclusive == "全部" else inclusive == "普惠",
    urban_rural=None if urban == "全部" else urban,
)

with service_errors():
    table = progress.progress_table(actor, st.session_state.get(REGION), filters=filters)

    # The breadcrumb: each level above is a button back up.
    crumbs = st.columns(len(table.breadcrumb) + 3)
    for index, (code, name) in enumerate(table.breadcrumb):
        last_crumb = index == len(table.breadcrumb) - 1
        if crumbs[index].button(name, key=f"crumb_{code}", disabled=last_crumb, type="tertiary"):
            st.session_state[REGION] = code
            st.rerun()

    basis = (
        f"{table.baseline_year} 年教育事业统计" if table.baseline_year else "尚未导入统计基数（由省级系统管理员导入）"
    )
    st.caption(f"统计基数：{basis}。占比可超过 100%，按实际显示。点击表中一行可查看下一级。")
    rank_by = st.segmented_control(
        "排名依据",
        ["上报占比", "审核占比", "学籍占比"],
        default="学籍占比",
        key="progress_rank",
    )
    key = {"上报占比": "reported_pct", "审核占比": "reviewed_pct", "学籍占比": "numbered_pct"}[rank_by or "学籍占比"]
    ordered = sorted(table.rows, key=lambda r: -(getattr(r, key) or -1))
    frame = pd.DataFrame(
        [
            {
                "名次": index,
                table.sub_label: r.name,
                "系统内学前机构总数": r.institutions,
                "基本信息已上报数": r.reported,
                "上报占比(%)": r.reported_pct,
                "基本信息已审核数": r.reviewed,
                "审核占比(%)": r.reviewed_pct,
                "教育统计在园幼儿数": r.baseline,
                "已获学籍号幼儿数": r.numbered,
                "学籍占比(%)": r.numbered_pct,
                "已录入未审核": r.entered,
            }
            for index, r in enumerate(ordered, start=1)
        ]
    )
    total = table.total
    frame.loc[len(frame)] = [
        None,
        "合计",
        total.institutions,
        total.reported,
        total.reported_pct,
        total.reviewed,
        total.reviewed_pct,
        total.baseline,
        total.numbered,
        total.numbered_pct,
        total.entered,
    ]
    ratios = ["上报占比(%)", "审核占比(%)", "学籍占比(%)"]
    picked = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="progress_table",
        placeholder="—",  # no denominator: no ratio (a region without institutions, a missing baseline)
        column_config={name: st.column_config.NumberColumn(format="%.2f") for name in ratios},
    )
    chosen = picked.selection.rows if picked and picked.selection else []
    if chosen and chosen[0] < len(ordered) and ordered[chosen[0]].drillable:
        st.session_state[REGION] = ordered[chosen[0]].code
        st.rerun()
    below = {r.code: r.name for r in table.rows if r.drillable}
    if below:  # the same drill-down from the keyboard
        pick, go = st.columns([3, 1], vertical_alignment="bottom")
        target = pick.selectbox(
            f"查看下一级（{table.sub_label}）", list(below), format_func=below.get, key="progress_below"
        )
        if go.button("查看", key="progress_drill", icon=":material/arrow_downward:"):
            st.session_state[REGION] = target
            st.rerun()
    st.download_button(
        "导出本表（CSV）",
        progress.as_csv(table).encode("utf-8"),
        file_name=f"{table.region_name}建设进度.csv",
        mime="text/csv",
        icon=":material/download:",
        key="progress_csv",
        on_click=progress.record_download,
        args=(actor, table),
    )

    history = snapshots.trend(actor, table.region_code)
    change = snapshots.since_last_month(actor, table=table, history=history)
    figures = st.columns(4)
    for column, (name, label) in zip(
        figures,
        (
            ("institutions", "纳入系统机构"),
            ("reviewed", "基本信息已审核"),
            ("numbered", "已获学籍号幼儿"),
            ("entered", "已录入未审核"),
        ),
        strict=True,
    ):
        delta = change.difference.get(name)
        column.metric(
            f"{table.region_name}·{label}",
            f"{change.current.get(name) or 0:,}",
            delta=f"{delta:+,}（较 {change.last.month} 月末）" if change.last and delta is not None else None,
            delta_color="normal" if name != "entered" and delta else "off",
        )
    if len(history) >= 2:
        st.plotly_chart(cached("progress_trend", tuple(history), table.region_name), key="chart_trend")
    else:
        st.caption("月末快照满两个月后显示进度趋势图（每月最后一天 0 时自动保存）。")
    if table.rows and table.level != "county":
        left, right = st.columns(2)
        rows = tuple(table.rows)
        left.plotly_chart(cached("progress_rates", rows, table.sub_label, settings.progress_target), key="chart_rates")
        right.plotly_chart(cached("numbered_against_statistics", rows, table.sub_label), key="chart_numbered")
