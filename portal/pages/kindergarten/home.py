"""本园概况: the institution's own page for its clerk."""

import streamlit as st

from portal.services.overview import overview
from portal.ui.guard import require_page
from portal.ui.home import institution_card
from portal.ui.layout import page_header

actor = require_page("kindergarten_home")
page_header(actor.institution_name or "本园概况", actor)
summary = overview(actor)
if summary.institution is None:
    st.error("您的账户未关联机构，请联系县级系统管理员。")
else:
    institution_card(summary.institution, summary.institution_location)
    st.metric("本园用户账户", f"{summary.users} 个")
