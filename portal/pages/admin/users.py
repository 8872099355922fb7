"""用户账户: the accounts in the administrator's scope."""

import pandas as pd
import streamlit as st

from portal.clock import format_local
from portal.services.accounts import list_users
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.layout import page_header
from portal.ui.paging import KeysetPager

actor = require_page("admin_users")
page_header("用户账户", actor)
search = st.text_input("按用户名或姓名查找", key="user_search")
page_size = get_settings().page_size
pager = KeysetPager("user_pager", (search,))
result = list_users(actor, search=search, after=pager.cursor, limit=page_size)
if not result.rows:
    st.info("没有符合条件的账户。")
else:
    frame = pd.DataFrame(
        [
            {
                "用户名": r.username,
                "姓名": r.real_name,
                "角色": r.role,
                "管辖范围": r.scope,
                "状态": "启用" if r.is_active else "停用",
                "最近登录": format_local(r.last_login_at) or "从未登录",
            }
            for r in result.rows
        ]
    )
    st.dataframe(frame, hide_index=True, width="stretch")
pager.controls(result.next_after, result.total, page_size)
