"""账户锁定: accounts locked after failed logins; the security administrator may lift a lock."""

import pandas as pd
import streamlit as st

from portal.clock import format_local
from portal.services.login import list_locks, unlock
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash

actor = require_page("admin_locks")
page_header("账户锁定", actor)
st.caption("15 分钟内连续 5 次登录失败的账户锁定 30 分钟，到期自动解除；确认是本人后可提前解除。")
show_flash("locks_flash")
locks = list_locks(actor)
if not locks:
    st.success("当前没有被锁定的账户。", icon=":material/lock_open:")
else:
    frame = pd.DataFrame(
        [
            {
                "用户名": r.username,
                "姓名": r.real_name,
                "锁定时间": format_local(r.locked_at),
                "解锁时间": format_local(r.locked_until),
            }
            for r in locks
        ]
    )
    st.dataframe(frame, hide_index=True, width="stretch")
    with st.form("unlock_form"):
        username = st.selectbox("解除锁定的账户", [r.username for r in locks])
        confirmed = st.checkbox("我已核实该账户使用人的身份")
        if st.form_submit_button("解除锁定", type="primary"):
            if not confirmed:
                st.error("请先核实账户使用人的身份并勾选确认。")
            else:
                with service_errors():
                    unlock(actor, username)
                    flash_and_rerun("locks_flash", f"已解除 {username} 的锁定。")
