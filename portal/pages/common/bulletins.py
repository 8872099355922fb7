"""通报: the progress bulletins published to this user's region (from its own level and the levels
above); a bureau's leader issues a new one for a date."""

from datetime import date

import streamlit as st

from portal.auth.roles import Duty, Level
from portal.clock import format_local
from portal.services import bulletins
from portal.services.workflow import local_today
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.text import md

FLASH = "bulletins_flash"

actor = require_page("bulletins")
page_header("通报", actor)
show_flash(FLASH)

if actor.duty is Duty.LEADER and actor.level in (Level.PROVINCE, Level.CITY, Level.COUNTY):
    with st.form("bulletin_issue"):
        st.markdown(
            "**发布进度通报**：按学籍号获取率排名的下级地区进度表、图表和自动生成的摘要，"
            "生成 Excel 和 PDF，发布给下级。选择今天以前的日期时，通报采用该日期之前最近一次月末快照的数字。"
        )
        as_of = st.date_input("通报日期", value=local_today(), max_value=local_today(), format="YYYY-MM-DD")
        if st.form_submit_button("生成并发布", type="primary", icon=":material/campaign:"):
            with service_errors():
                bulletin_id = bulletins.issue_bulletin(actor, as_of if isinstance(as_of, date) else None)
                flash_and_rerun(FLASH, f"通报已发布（编号 {bulletin_id}），下级地区和幼儿园可在“通报”中查看。")

with service_errors():
    rows = bulletins.list_bulletins(actor)
    if not rows:
        st.info("还没有发给您所在地区的通报。", icon=":material/info:")
    for row in rows:
        with st.container(border=True):
            st.markdown(f"**{md(row.title)}**")
            st.caption(f"{md(row.region_name)} · {md(row.created_by_name)} 发布于 {format_local(row.created_at)}")
            st.markdown(md(row.summary))
            if st.toggle("下载文件", key=f"bulletin_files_{row.id}"):
                left, right, _ = st.columns([1, 1, 3])
                name, data = bulletins.read_bulletin(actor, row.id, "xlsx")
                left.download_button(
                    "Excel",
                    data,
                    file_name=name,
                    icon=":material/table_view:",
                    key=f"bulletin_xlsx_{row.id}",
                    on_click=bulletins.record_download,
                    args=(actor, row.id, "xlsx"),
                )
                if row.has_pdf:
                    name, data = bulletins.read_bulletin(actor, row.id, "pdf")
                    right.download_button(
                        "PDF",
                        data,
                        file_name=name,
                        mime="application/pdf",
                        icon=":material/picture_as_pdf:",
                        key=f"bulletin_pdf_{row.id}",
                        on_click=bulletins.record_download,
                        args=(actor, row.id, "pdf"),
                    )
