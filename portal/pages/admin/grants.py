"""授权登记: every role given, changed or taken away in the administrator's scope (their level and
every level below), filed with the level above (§18.1)."""

import pandas as pd
import streamlit as st

from portal.auth.policy import Action, may
from portal.clock import format_local
from portal.services.accounts import export_grants, list_grants, revoke_grant
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.paging import KeysetPager

actor = require_page("admin_grants")
page_header("授权登记", actor)
st.caption("本级及下级管理员每一次授予、变更、撤销角色都登记在此，供上级备案、查阅和导出。")
show_flash("grant_flash")
search = st.text_input("按用户名、姓名或授权人查找", key="grant_search")
page_size = get_settings().page_size
pager = KeysetPager("grant_pager", (search,))
page = list_grants(actor, search=search, before_id=pager.cursor, limit=page_size)
if not page.rows:
    st.info("没有授权记录。")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "时间": format_local(r.at),
                    "类别": r.change,
                    "用户名": r.grantee_username,
                    "姓名": r.grantee_real_name,
                    "角色": r.role,
                    "原角色": r.previous_role,
                    "范围": r.scope,
                    "授权人": r.grantor,
                    "授权人角色": r.grantor_role,
                    "理由": r.reason,
                }
                for r in page.rows
            ]
        ),
        hide_index=True,
        width="stretch",
        placeholder="—",
    )
pager.controls(page.next_before, page.total, page_size)
if page.total and st.button("准备导出（CSV）", key="grant_export"):
    with service_errors():
        st.session_state["grant_csv"] = export_grants(actor, search=search)
if "grant_csv" in st.session_state:
    st.download_button(
        "下载授权登记", st.session_state["grant_csv"], file_name="授权登记.csv", mime="text/csv", key="grant_download"
    )

if may(actor, Action.REVOKE_GRANT):
    with st.expander("撤销授权", icon=":material/person_off:"), st.form("grant_revoke"):
        st.caption("发现不当授权时，安全管理员可撤销：该账户立即停用，已登录的会话结束，撤销记入授权登记和审计日志。")
        username = st.text_input("用户名", max_chars=64, key="grant_revoke_username")
        reason = st.text_input("撤销理由", max_chars=500, key="grant_revoke_reason")
        if st.form_submit_button("撤销授权", type="primary"):
            with service_errors():
                revoke_grant(actor, username, reason)
                flash_and_rerun("grant_flash", f"已撤销 {username.strip()} 的授权，账户已停用。")
