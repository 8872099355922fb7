"""Chart builders: plain functions from service results to plotly figures (unit-tested)."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from portal.services.overview import SubRegionRow


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
