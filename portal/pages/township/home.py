"""工作台 of a township central kindergarten: the kindergartens of its township it guides."""

import streamlit as st

from portal.services.overview import overview
from portal.ui.guard import require_page
from portal.ui.home import institution_card, institutions_by_kind, scope_metrics
from portal.ui.layout import page_header

actor = require_page("township_home")
page_header("乡镇中心园工作台", actor)
summary = overview(actor)
scope_metrics(summary)
st.info(
    "乡镇中心园负责指导本乡镇幼儿园（班）准确填报信息，并做好信息的初步审核（通知 三.1）。",
    icon=":material/support_agent:",
)
st.subheader("本乡镇机构构成")
institutions_by_kind(summary)
if summary.institution is not None:
    st.subheader("本园信息")
    institution_card(summary.institution, summary.institution_location)
