"""Project screens' pieces: chart builders (plain functions from service results to plotly
figures, unit-tested) and the tables of projects, central funds and the dashboard.

Money stays ``Decimal`` in the services; the tables show it as text to the cent (no float
rounding on screen), and the charts, which need numbers, plot it in 万元."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pandas as pd
import plotly.graph_objects as go

from portal.clock import format_local
from portal.services.projects import CentralFundRow, Dashboard, DashboardRow, ProgressEntry, ProjectRow
from portal.services.snapshots import ProjectTrendRow

TEN_THOUSAND = Decimal(10000)


def money(value: Decimal | None) -> str:
    """Yuan to the cent with thousands separators (blank for none)."""
    return "" if value is None else f"{value:,.2f}"


def pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}%"


def wan_text(value: Decimal) -> str:
    """Yuan as 万元 text for a metric tile (a tile is too narrow for a sum in yuan)."""
    return f"{(value / TEN_THOUSAND).quantize(Decimal('0.01')):,.2f} 万元"


def wan(value: Decimal) -> float:
    """Yuan as 万元 for a chart axis (display only: the figures themselves stay exact)."""
    return float((value / TEN_THOUSAND).quantize(Decimal("0.01")))


def allocation_chart(rows: Sequence[DashboardRow], sub_label: str) -> go.Figure:
    """Allocation against spending per row (万元), in the dashboard's order (laggards first), with
    the share spent in the hover."""
    names = [r.name for r in rows]
    figure = go.Figure(
        [
            go.Bar(
                x=names,
                y=[wan(r.amount) for r in rows],
                name="安排金额",
                marker_color="#c0c0c0",
                hovertemplate="%{x}：安排 %{y:,.2f} 万元<extra></extra>",
            ),
            go.Bar(
                x=names,
                y=[wan(r.spent) for r in rows],
                name="累计支出",
                marker_color="#b22222",
                customdata=[float(r.spent_pct) if r.spent_pct is not None else None for r in rows],
                hovertemplate="%{x}：支出 %{y:,.2f} 万元（%{customdata:.2f}%）<extra></extra>",
            ),
        ]
    )
    figure.update_layout(
        title=f"各{sub_label if sub_label.endswith('项目') else sub_label + '项目'}资金安排与支出（万元）",
        yaxis_title="万元",
        barmode="group",
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def trend_chart(rows: Sequence[ProjectTrendRow], region_name: str) -> go.Figure:
    """The month-end snapshots: share of the allocation spent and average progress (%) per month."""
    months = [r.month for r in rows]
    figure = go.Figure(
        [
            go.Scatter(
                x=months,
                y=[float(r.spent_pct) if r.spent_pct is not None else None for r in rows],
                name="资金支出比例",
                mode="lines+markers",
                line={"color": "#b22222"},
                hovertemplate="%{x}：支出比例 %{y:.2f}%<extra></extra>",
            ),
            go.Scatter(
                x=months,
                y=[float(r.avg_percent) if r.avg_percent is not None else None for r in rows],
                name="平均项目进度",
                mode="lines+markers",
                line={"color": "#4169e1"},
                hovertemplate="%{x}：平均进度 %{y:.2f}%<extra></extra>",
            ),
        ]
    )
    figure.update_layout(
        title=f"{region_name}项目月末进展趋势",
        yaxis_title="%",
        xaxis={"type": "category"},
        height=340,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def dashboard_frame(board: Dashboard) -> pd.DataFrame:
    """The dashboard's rows (laggards first) and the total, as text to the cent."""
    ministry = board.level == "ministry"

    def line(r: DashboardRow, rank: int | None) -> dict[str, object]:
        values: dict[str, object] = {
            "名次": "" if rank is None else str(rank),
            board.sub_label: r.name,
            "项目数": r.projects,
            "安排金额(元)": money(r.amount),
            "累计支出(元)": money(r.spent),
            "支出比例": pct(r.spent_pct),
            "平均进度": pct(r.avg_percent),
            "本月未更新": r.not_updated,
        }
        if ministry:
            values["中央资金(元)"] = money(r.central_funds)
        return values

    lines = [line(r, index) for index, r in enumerate(board.rows, start=1)]
    lines.append(line(board.total, None))
    return pd.DataFrame(lines)


def projects_frame(rows: Sequence[ProjectRow], *, with_region: bool = False) -> pd.DataFrame:
    """A list of projects with their state and latest progress."""
    lines = []
    for r in rows:
        line: dict[str, object] = {"编号": r.id, "项目名称": r.name}
        if with_region:
            line["级别"] = r.level_label
            line["地区"] = r.region_name
        line.update(
            {
                "年度": r.year,
                "资金来源": r.source_label,
                "安排金额(元)": money(r.amount),
                "资助机构数": r.institutions,
                "状态": r.state_label,
                "累计支出(元)": money(r.spent) if r.state == "approved" else "",
                "支出比例": pct(r.spent_pct) if r.state == "approved" else "",
                "进度": pct(r.percent) if r.state == "approved" else "",
                "本月更新": r.update_status,
            }
        )
        lines.append(line)
    return pd.DataFrame(lines)


def progress_frame(entries: Sequence[ProgressEntry]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "月份": e.month,
                "累计支出(元)": money(e.spent),
                "进度": pct(e.percent),
                "进展说明": e.notes,
                "佐证材料": e.evidence_name if e.has_evidence else "",
                "填报人": e.updated_by_name,
                "填报时间": format_local(e.updated_at),
            }
            for e in entries
        ]
    )


def central_funds_frame(rows: Sequence[CentralFundRow]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "年度": r.year,
                "省份": r.province_name,
                "中央资金(元)": money(r.amount),
                "备注": r.note,
                "录入人": r.recorded_by_name,
                "录入时间": format_local(r.recorded_at),
            }
            for r in rows
        ]
    )
