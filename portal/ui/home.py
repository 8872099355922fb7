"""Blocks shared by the home pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from portal.clock import format_local
from portal.data.models import Institution
from portal.services.overview import Overview
from portal.services.workflow import QUEUE_COUNT_CAP, RequestRow
from portal.ui.charts import institutions_by_region
from portal.ui.layout import yes_no


def scope_metrics(overview: Overview) -> None:
    columns = st.columns(4)
    columns[0].metric("系统内机构", f"{overview.institutions} 所")
    columns[1].metric("用户账户", f"{overview.users} 个")
    if overview.sub_level_label:
        columns[2].metric(f"下级{overview.sub_level_label}", f"{len(overview.sub_regions)} 个")
    if overview.queue_waiting is not None:
        waiting = overview.queue_waiting
        shown = f"{QUEUE_COUNT_CAP}+" if waiting > QUEUE_COUNT_CAP else str(waiting)
        columns[3].metric("待我审核", f"{shown} 条")


def institutions_by_kind(overview: Overview) -> None:
    if not overview.institutions_by_kind:
        st.info("管辖范围内尚无机构。")
        return
    frame = pd.DataFrame([{"办学类型": kind, "机构数": n} for kind, n in sorted(overview.institutions_by_kind.items())])
    st.dataframe(frame, hide_index=True, width="content")


def sub_region_table(overview: Overview) -> None:
    if not overview.sub_regions:
        st.info(f"尚无下级{overview.sub_level_label}数据。")
        return
    frame = pd.DataFrame(
        [
            {
                "区划代码": r.code,
                overview.sub_level_label: r.name,
                "机构数": r.institutions,
                "乡镇中心园": r.township_central,
                "用户数": r.users,
            }
            for r in overview.sub_regions
        ]
    )
    left, right = st.columns([3, 2])
    left.dataframe(frame, hide_index=True, width="stretch")
    right.plotly_chart(institutions_by_region(overview.sub_regions, overview.sub_level_label), width="stretch")


def institution_card(institution: Institution, location: str = "") -> None:
    """The institution's registered facts, two columns of label and value."""
    facts = {
        "所在地区": location or institution.county_code,
        "机构标识码": institution.code,
        "机构名称": institution.name,
        "办学类型": institution.kind,
        "举办性质": institution.ownership,
        "普惠性": yes_no(institution.inclusive),
        "城乡分类": institution.urban_rural,
        "乡镇中心园": yes_no(institution.is_township_central),
        "登记时间": format_local(institution.created_at),
    }
    left, right = st.columns(2)
    for index, (label, value) in enumerate(facts.items()):
        (left if index % 2 == 0 else right).markdown(f"**{label}**：{value}")


def request_table(rows: Sequence[RequestRow], empty: str) -> None:
    """Requests as a table, days left in red when past the deadline."""
    if not rows:
        st.caption(empty)
        return
    frame = pd.DataFrame(
        [
            {
                "编号": r.id,
                "类型": r.kind_label,
                "事项": r.title,
                "状态": r.state_label,
                "当前步骤": r.step_label or "—",
                "提交时间": format_local(r.submitted_at),
                "处理期限": str(r.due_date or "—"),
                "剩余工作日": r.days_left,
            }
            for r in rows
        ]
    )
    st.dataframe(overdue_style(frame), hide_index=True, width="stretch")


def overdue_style(frame: pd.DataFrame) -> Any:
    """Colour the 剩余工作日 column red where the deadline has passed."""
    return frame.style.map(
        lambda v: "color: #c62828; font-weight: 600" if isinstance(v, int | float) and v < 0 else "",
        subset=["剩余工作日"],
    )
