"""帮助与支持: the support contacts along the user's chain, nearest level first (§23: 逐级开展技术
支持服务); how to report a problem; short how-tos for the pages of the user's role. A system
administrator sets their own level's contact here."""

import pandas as pd
import streamlit as st

from portal.auth.policy import Action, may
from portal.clock import format_local
from portal.services import support
from portal.ui.guard import require_page
from portal.ui.help_content import REPORT_GUIDE, howtos_for
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.text import md

FLASH = "help_flash"

actor = require_page("help")
page_header("帮助与支持", actor)
show_flash(FLASH)

st.subheader("技术支持联系方式", anchor=False)
st.caption("请先联系离您最近的一级（第一行）；本级解决不了的，由本级向上一级反映。")
with service_errors():
    contacts = support.contacts_for(actor)
    if not contacts:
        st.info("您所在地区各级还没有设置技术支持联系方式，请先联系本单位的系统管理员。", icon=":material/info:")
    else:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "层级": c.level_label,
                        "地区": c.region_name,
                        "技术支持单位": c.unit,
                        "联系人": c.person,
                        "联系电话": c.phone,
                        "电子邮箱": c.email,
                        "服务时间": c.hours,
                        "其他联系渠道": c.channel,
                        "更新时间": format_local(c.updated_at),
                    }
                    for c in contacts
                ]
            ),
            hide_index=True,
            width="stretch",
        )

if may(actor, Action.MANAGE_SUPPORT):
    with service_errors():
        current = support.own_contact(actor)
        with st.expander("设置本级技术支持联系方式", expanded=current is None, icon=":material/edit:"):
            st.caption(
                f"本级（{md(actor.scope_label)}）的技术支持联系方式，本地区各级用户都能在本页看到。联系电话和电子邮箱至少填一项。"
            )
            with st.form("support_contact"):
                left, right = st.columns(2)
                unit = left.text_input(
                    "技术支持单位 *", value=current.unit if current else "", key="support_unit", max_chars=100
                )
                person = right.text_input(
                    "联系人", value=current.person if current else "", key="support_person", max_chars=50
                )
                phone = left.text_input(
                    "联系电话",
                    value=current.phone if current else "",
                    key="support_phone",
                    max_chars=50,
                    placeholder="0371-69691234",
                )
                email = right.text_input(
                    "电子邮箱",
                    value=current.email if current else "",
                    key="support_email",
                    max_chars=100,
                    placeholder="support@example.edu.cn",
                )
                hours = left.text_input(
                    "服务时间",
                    value=current.hours if current else "",
                    key="support_hours",
                    max_chars=100,
                    placeholder="工作日 8:30—17:30",
                )
                channel = right.text_input(
                    "其他联系渠道",
                    value=current.channel if current else "",
                    key="support_channel",
                    max_chars=200,
                    placeholder="如：工作群、QQ 群",
                )
                saved = st.form_submit_button("保存联系方式", type="primary", icon=":material/save:")
            if saved:
                support.set_contact(
                    actor,
                    support.ContactInput(
                        unit=unit, person=person, phone=phone, email=email, hours=hours, channel=channel
                    ),
                )
                flash_and_rerun(FLASH, "本级技术支持联系方式已保存。")

st.subheader("如何报告问题", anchor=False)
st.markdown(REPORT_GUIDE)

st.subheader("常用操作指南", anchor=False)
st.caption("下面按左侧菜单的页面名称，简要说明您的角色常做的工作。")
for title, text in howtos_for(actor):
    st.markdown(f"**{title}**：{text}")
