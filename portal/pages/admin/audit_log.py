"""审计日志: who did what, when, with what outcome, in which session; read-only, for the audit
administrator. Filters, keyset pages, export of the filtered rows, verification of the hash chain."""

import pandas as pd
import streamlit as st

from portal.clock import format_local
from portal.services.audit import (
    ACTION_LABELS,
    OBJECT_LABELS,
    OUTCOME_LABELS,
    AuditFilter,
    export_entries,
    list_entries,
)
from portal.services.audit_integrity import verify_chain
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.layout import page_header, service_errors
from portal.ui.paging import KeysetPager

ALL = "全部"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _key_of(labels: dict[str, str], label: str) -> str | None:
    return next((k for k, v in labels.items() if v == label), None)


actor = require_page("admin_audit")
page_header("审计日志", actor)

first, second, third = st.columns(3)
username = first.text_input("用户名", key="audit_user")
action_label = second.selectbox("操作类型", [ALL, *ACTION_LABELS.values()], key="audit_action")
outcome_label = third.selectbox("操作结果", [ALL, *OUTCOME_LABELS.values()], key="audit_outcome")
first, second, third, fourth = st.columns(4)
object_label = first.selectbox("对象类型", [ALL, *OBJECT_LABELS.values()], key="audit_object_type")
object_id = second.text_input("对象编号", key="audit_object_id")
from_day = third.date_input("开始日期", value=None, format="YYYY-MM-DD", key="audit_from")
to_day = fourth.date_input("结束日期", value=None, format="YYYY-MM-DD", key="audit_to")

filters = AuditFilter(
    action=_key_of(ACTION_LABELS, action_label),
    username=username or None,
    object_type=_key_of(OBJECT_LABELS, object_label),
    object_id=object_id or None,
    from_day=from_day,
    to_day=to_day,
    outcome=_key_of(OUTCOME_LABELS, outcome_label),
)
page_size = get_settings().page_size
pager = KeysetPager("audit_pager", (filters,))
result = None
with service_errors():
    result = list_entries(actor, filters=filters, before_id=pager.cursor, limit=page_size)
if result is not None:
    if not result.entries:
        st.info("没有符合条件的审计记录。")
    else:
        frame = pd.DataFrame(
            [
                {
                    "编号": e.id,
                    "时间": format_local(e.at, with_seconds=True),
                    "用户名": e.username,
                    "姓名": e.real_name,
                    "角色": e.role,
                    "操作": e.action_label,
                    "结果": e.outcome_label,
                    "对象": f"{e.object_type} {e.object_id}".strip(),
                    "说明": e.detail,
                    "会话": e.session_id,
                    "借用单": str(e.loan_id or ""),
                    "变更前": e.before or "",
                    "变更后": e.after or "",
                }
                for e in result.entries
            ]
        )
        st.dataframe(frame, hide_index=True, width="stretch")
    pager.controls(result.next_cursor, result.total, page_size)
    if result.total:
        left, right, _ = st.columns([1, 1, 2])
        left.download_button(
            "导出筛选结果（CSV）",
            data=lambda: export_entries(actor, filters, "csv"),
            file_name="审计日志.csv",
            mime="text/csv",
            key="audit_export_csv",
            icon=":material/download:",
        )
        right.download_button(
            "导出筛选结果（Excel）",
            data=lambda: export_entries(actor, filters, "xlsx"),
            file_name="审计日志.xlsx",
            mime=XLSX_MIME,
            key="audit_export_xlsx",
            icon=":material/download:",
        )

st.subheader("审计链核验")
st.caption("逐条核对每条审计记录的哈希及其与前一条记录的链接，发现改动、删除或插入时指出第一条断开的记录。")
if st.button("核验审计链", key="audit_verify", icon=":material/verified:"):
    with service_errors(), st.spinner("正在核验……"):
        report = verify_chain(actor)
        if report.ok:
            st.success(report.message, icon=":material/verified:")
        else:
            st.error(report.message, icon=":material/gpp_bad:")
