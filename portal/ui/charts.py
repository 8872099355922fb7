"""Chart builders: plain functions from service results to plotly figures (unit-tested)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from portal.services.overview import SubRegionRow
from portal.services.progress import ProgressRow
from portal.services.snapshots import SnapshotRow


def institutions_by_region(rows: Sequence[SubRegionRow], region_label: str) -> go.Figure:
    """Institutions per sub-region, largest first, as horizontal bars."""
    ordered = sorted(rows, key=lambda r: (-r.institutions, r.code))
    figure = go.Figure(
        go.Bar(
            x=[r.institutions for r in ordered],
            y=[r.name for r in ordered],
            orientation="h",
            marker_color="#b22222",
            hovertemplate="%{y}：%{x} 所<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"各{region_label}系统内学前教育机构数",
        xaxis_title="机构数（所）",
        yaxis={"autorange": "reversed"},
        height=max(260, 28 * len(ordered) + 120),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return figure


def progress_rates(rows: Sequence[ProgressRow], sub_label: str, target: float) -> go.Figure:
    """Base information reported and reviewed (%) per region, as bars against the target line;
    regions ranked by the review rate, lowest last."""
    ordered = sorted(rows, key=lambda r: (-(r.reviewed_pct or 0), r.code))
    names = [r.name for r in ordered]
    figure = go.Figure(
        [
            go.Bar(
                x=names,
                y=[r.reported_pct or 0 for r in ordered],
                name="上报率",
                marker_color="#e9967a",
                hovertemplate="%{x}：上报 %{y:.2f}%<extra></extra>",
            ),
            go.Bar(
                x=names,
                y=[r.reviewed_pct or 0 for r in ordered],
                name="审核率",
                marker_color="#b22222",
                hovertemplate="%{x}：审核 %{y:.2f}%<extra></extra>",
            ),
        ]
    )
    figure.update_layout(
        # The target line as a plain layout shape (add_hline costs several milliseconds per call).
        shapes=[
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": target,
                "y1": target,
                "line": {"dash": "dash", "color": "#444"},
            }
        ],
        annotations=[
            {"xref": "paper", "x": 1, "y": target, "text": f"目标 {target:g}%", "showarrow": False, "yshift": 10}
        ],
        title=f"各{sub_label}机构基本信息上报率与审核率",
        yaxis_title="%",
        barmode="group",
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def numbered_against_statistics(rows: Sequence[ProgressRow], sub_label: str) -> go.Figure:
    """Children with a student number against the education statistics, per region; the ratio in
    the hover (above 100% shown as it is)."""
    ordered = sorted(rows, key=lambda r: (-(r.baseline or 0), r.code))
    names = [r.name for r in ordered]
    figure = go.Figure(
        [
            go.Bar(
                x=names,
                y=[r.baseline or 0 for r in ordered],
                name="教育统计在园幼儿数",
                marker_color="#c0c0c0",
                hovertemplate="%{x}：统计 %{y:,} 人<extra></extra>",
            ),
            go.Bar(
                x=names,
                y=[r.numbered for r in ordered],
                name="已获学籍号幼儿数",
                marker_color="#b22222",
                customdata=[r.numbered_pct for r in ordered],
                hovertemplate="%{x}：已获学籍号 %{y:,} 人（%{customdata:.2f}%）<extra></extra>",
            ),
        ]
    )
    figure.update_layout(
        title=f"各{sub_label}已获学籍号幼儿数与教育统计在园幼儿数",
        yaxis_title="人",
        barmode="group",
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


def progress_trend(snapshots: Sequence[SnapshotRow], region_name: str) -> go.Figure:
    """The month-end snapshots of one region: the three ratios (%) month by month."""
    months = [s.month for s in snapshots]
    figure = go.Figure(
        [
            go.Scatter(
                x=months,
                y=[getattr(s, key) for s in snapshots],
                name=label,
                mode="lines+markers",
                line={"color": colour},
                hovertemplate=f"%{{x}}：{label} %{{y:.2f}}%<extra></extra>",
            )
            for key, label, colour in (
                ("reported_pct", "上报率", "#e9967a"),
                ("reviewed_pct", "审核率", "#b22222"),
                ("numbered_pct", "学籍号获取率", "#4169e1"),
            )
        ]
    )
    figure.update_layout(
        title=f"{region_name}月末进度趋势",
        yaxis_title="%",
        xaxis={"type": "category"},
        height=340,
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.2},
    )
    return figure


@st.cache_resource(max_entries=256, show_spinner=False)
def cached(builder: str, *args: Any) -> go.Figure:
    """A chart built once per distinct data (the figures are never mutated after): reruns of a
    dashboard whose figures have not moved skip plotly's validation, the bulk of a page's time."""
    return BUILDERS[builder](*args)


BUILDERS = {
    "progress_rates": progress_rates,
    "numbered_against_statistics": numbered_against_statistics,
    "progress_trend": progress_trend,
}
