"""密码借用: requests to lend a password wait here for the security administrator (§18.3)."""

import pandas as pd
import streamlit as st

from portal.clock import format_local
from portal.services.loans import decide_loan, end_loan, loans_to_decide
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash

actor = require_page("admin_loans")
page_header("密码借用审批", actor)
st.caption("借用须事先批准并登记借用人、事由和期限；借用期间的操作在审计日志中标注借用单，结束后须修改密码。")
show_flash("loans_flash")
include_closed = st.toggle("包括已结束和未批准的", key="loans_closed")
rows = loans_to_decide(actor, include_closed=include_closed)
if not rows:
    st.success("没有待审批或进行中的密码借用。", icon=":material/task_alt:")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "借用单": r.id,
                    "账户": f"{r.owner_real_name}（{r.owner_username}）",
                    "借用人": r.borrower_name,
                    "借用人电话": r.borrower_phone,
                    "事由": r.reason,
                    "开始": format_local(r.starts_at),
                    "结束": format_local(r.ends_at),
                    "状态": r.state_label,
                    "审批意见": r.decision_note,
                }
                for r in rows
            ]
        ),
        hide_index=True,
        width="stretch",
        placeholder="—",
    )
    waiting = [r for r in rows if r.state == "requested"]
    if waiting:
        with st.form("loan_decide"):
            chosen = st.selectbox(
                "待审批的申请", waiting, format_func=lambda r: f"{r.id} · {r.owner_username} → {r.borrower_name}"
            )
            note = st.text_input("审批意见（不批准时必填）", max_chars=500)
            approve, refuse = st.columns(2)
            if approve.form_submit_button("批准", type="primary"):
                with service_errors():
                    decide_loan(actor, chosen.id, True, note)
                    flash_and_rerun("loans_flash", f"借用单 {chosen.id} 已批准。")
            if refuse.form_submit_button("不批准"):
                with service_errors():
                    decide_loan(actor, chosen.id, False, note)
                    flash_and_rerun("loans_flash", f"借用单 {chosen.id} 未批准。")
    active = [r for r in rows if r.state == "approved"]
    if active:
        with st.form("loan_end"):
            chosen = st.selectbox(
                "进行中的借用", active, format_func=lambda r: f"{r.id} · {r.owner_username} → {r.borrower_name}"
            )
            if st.form_submit_button("立即结束借用"):
                with service_errors():
                    end_loan(actor, chosen.id)
                    flash_and_rerun("loans_flash", f"借用单 {chosen.id} 已结束，该账户须修改密码后方可使用。")
