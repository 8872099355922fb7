"""审计日志: who did what, when, before and after; read-only, for the audit administrator."""

import pandas as pd
import streamlit as st

from portal.clock import format_local
from portal.services.audit import ACTION_LABELS, list_entries
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.layout import page_header
from portal.ui.paging import KeysetPager

actor = require_page("admin_audit")
page_header("审计日志", actor)
left, right = st.columns(2)
action_label = left.selectbox("操作类型", ["全部", *ACTION_LABELS.values()], key="audit_action")
username = right.text_input("用户名", key="audit_user")
action = next((k for k, v in ACTION_LABELS.items() if v == action_label), None)

page_size = get_settings().page_size
pager = KeysetPager("audit_pager", (action, username))
result = list_entries(actor, action=action, username=username or None, before_id=pager.cursor, limit=page_size)
if not result.entries:
    st.info("没有符合条件的审计记录。")
else:
    frame = pd.DataFrame(
        [
            {
                "时间": format_local(e.at, with_seconds=True),
                "用户名": e.username,
                "姓名": e.real_name,
                "角色": e.role,
                "操作": e.action_label,
                "对象": f"{e.object_type} {e.object_id}".strip(),
                "说明": e.detail,
                "变更前": e.before or "",
                "变更后": e.after or "",
            }
            for e in result.entries
        ]
    )
    st.dataframe(frame, hide_index=True, width="stretch")
pager.controls(result.next_cursor, result.total, page_size)
