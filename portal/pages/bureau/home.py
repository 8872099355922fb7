"""工作台 of the ministry, province, city and county bureaus."""

import streamlit as st

from portal.services import workflow
from portal.services.overview import overview
from portal.ui.guard import require_page
from portal.ui.home import institutions_by_kind, request_table, scope_metrics, sub_region_table
from portal.ui.layout import page_header

actor = require_page("bureau_home")
page_header(f"{actor.scope_label} · 工作台", actor)
summary = overview(actor)
scope_metrics(summary)
st.subheader("机构构成")
institutions_by_kind(summary)
st.subheader("逾期未处理的申请")
request_table(workflow.overdue(actor), "没有逾期未处理的申请。")
st.subheader(f"下级{summary.sub_level_label}概况")
sub_region_table(summary)
