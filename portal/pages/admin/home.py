"""工作台 of the three administrators (system, security, audit)."""

import streamlit as st

from portal.auth.roles import Duty
from portal.services.overview import overview
from portal.ui.guard import require_page
from portal.ui.layout import page_header

DUTY_NOTES = {
    Duty.SYSADMIN: "系统管理员负责本级及下一级的用户账户和系统设置，不能查看或删除审计日志。",
    Duty.SECADMIN: "安全管理员负责安全策略、权限授予和账户锁定的处理。",
    Duty.AUDITOR: "审计管理员负责查阅和导出审计日志，不能管理账户。",
}

actor = require_page("admin_home")
page_header(f"{actor.role}工作台", actor)
summary = overview(actor)
st.info(DUTY_NOTES[actor.duty], icon=":material/admin_panel_settings:")
columns = st.columns(3)
columns[0].metric("管辖范围", summary.scope or "全国")
columns[1].metric("用户账户", f"{summary.users} 个")
if summary.active_locks is not None:
    columns[2].metric("当前锁定的账户", f"{summary.active_locks} 个")
elif summary.audit_last_24h is not None:
    columns[2].metric("近 24 小时审计记录", f"{summary.audit_last_24h} 条")
else:
    columns[2].metric("系统内机构", f"{summary.institutions} 所")
