"""工作台 of the ministry, province, city and county bureaus."""

import pandas as pd
import streamlit as st

from portal.auth.roles import Level
from portal.services import snapshots, transfers, workflow
from portal.services.overview import overview
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.home import institutions_by_kind, request_table, scope_metrics, sub_region_table
from portal.ui.layout import page_header
from portal.ui.navigation import page_keys_for
from portal.ui.transfers import transfer_table

actor = require_page("bureau_home")
snapshots.check_due()  # a missed month-end snapshot is caught up when the portal next runs
page_header(f"{actor.scope_label} · 工作台", actor)
summary = overview(actor)
scope_metrics(summary)
st.subheader("机构构成")
institutions_by_kind(summary)
st.subheader("逾期未处理的申请")
request_table(workflow.overdue(actor), "没有逾期未处理的申请。")
if actor.level is not Level.MINISTRY and "transfers" in page_keys_for(actor):
    # A transfer involves two counties: the one whose step it is sees it above, both see it here.
    late = transfers.overdue_transfers(actor)
    if late:
        st.warning(f"本辖区有 {len(late)} 个转园逾期未办结，详见“转园监管”。", icon=":material/swap_horiz:")
        transfer_table(late)
if actor.level is Level.COUNTY:
    laggards = snapshots.monthly_update_laggards(actor)
    if laggards:
        st.subheader("本月信息变动未完成的机构")
        st.warning(
            f"有 {len(laggards)} 所机构本月幼儿信息变动尚未全部提交（每月 {get_settings().monthly_update_day} 日前）。",
            icon=":material/notification_important:",
        )
        st.dataframe(
            pd.DataFrame([{"机构标识码": r.code, "机构名称": r.name, "未提交记录": r.unsent} for r in laggards]),
            hide_index=True,
            width="stretch",
        )
st.subheader(f"下级{summary.sub_level_label}概况")
sub_region_table(summary)
