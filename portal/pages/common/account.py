"""我的账户: one's own account: the password, the second factor, lending the password (§18.3)."""

from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st

from portal.auth import totp
from portal.clock import LOCAL_TZ, format_local, to_local, utcnow
from portal.services.credentials import change_own_password, enrol_own_second_factor, second_factor_status
from portal.services.loans import end_loan, my_loans, request_loan
from portal.services.security_policy import current_policy
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.login_steps import policy_text
from portal.ui.text import md

SECRET_KEY = "account_new_totp_secret"

actor = require_page("account")
page_header("我的账户", actor)
show_flash("account_flash")
st.markdown(f"**用户名**：{md(actor.username)}　**角色**：{md(actor.role)}　**范围**：{md(actor.scope_label)}")
if actor.loan_id is not None:
    st.warning(f"本次会话处于密码借用期间（借用单 {actor.loan_id}），所有操作均记录在案。", icon=":material/warning:")

password_tab, factor_tab, loan_tab = st.tabs(["修改密码", "动态口令", "密码借用"])

with password_tab:
    st.caption(policy_text())
    with st.form("account_password", clear_on_submit=True):
        current = st.text_input("当前密码", type="password")
        new = st.text_input("新密码", type="password")
        confirm = st.text_input("再次输入新密码", type="password")
        if st.form_submit_button("修改密码", type="primary"):
            with service_errors():
                change_own_password(actor, current, new, confirm)
                flash_and_rerun("account_flash", "密码已修改。您在其他设备上的登录已结束。")

with factor_tab:
    enrolled, required = second_factor_status(actor)
    st.markdown(
        f"状态：**{'已绑定' if enrolled else '未绑定'}**　"
        + ("本岗位必须使用动态口令。" if required else "本岗位可选使用动态口令，建议绑定。")
    )
    if st.toggle("更换或绑定身份验证器" if enrolled else "绑定身份验证器", key="account_totp_open"):
        secret = st.session_state.get(SECRET_KEY)
        if secret is None:
            secret = st.session_state[SECRET_KEY] = totp.new_secret()
        left, right = st.columns([1, 2])
        left.image(totp.qr_png(totp.provisioning_uri(secret, actor.username)), width=200)
        right.markdown("用身份验证器扫描二维码，或手动输入密钥：")
        right.code(" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)), language=None)
        with st.form("account_totp"):
            current = st.text_input("当前密码", type="password")
            code = st.text_input("验证器显示的 6 位动态口令", max_chars=8)
            if st.form_submit_button("绑定", type="primary"):
                with service_errors():
                    enrol_own_second_factor(actor, current, secret, code)
                    st.session_state.pop(SECRET_KEY, None)
                    flash_and_rerun("account_flash", "动态口令已绑定。下次登录时须输入动态口令。")

with loan_tab:
    st.caption(
        "确因工作需要将账户交他人临时使用时，须事先经安全管理员批准，登记借用人、事由和期限；"
        "借用期间的操作在审计日志中标注，借用结束后须修改密码方可继续使用。"
    )
    loans = my_loans(actor)
    if loans:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "借用单": r.id,
                        "借用人": r.borrower_name,
                        "事由": r.reason,
                        "开始": format_local(r.starts_at),
                        "结束": format_local(r.ends_at),
                        "状态": r.state_label,
                        "审批意见": r.decision_note,
                    }
                    for r in loans
                ]
            ),
            hide_index=True,
            width="stretch",
            placeholder="—",
        )
    open_loans = [r for r in loans if r.state in ("requested", "approved")]
    if open_loans:
        loan = open_loans[0]
        label = "撤回申请" if loan.state == "requested" else "立即结束借用"
        if st.button(label, key="account_loan_end"):
            with service_errors():
                end_loan(actor, loan.id)
                flash_and_rerun("account_flash", "借用已结束。" if loan.state == "approved" else "申请已撤回。")
    else:
        max_days = current_policy().loan_max_days
        today = to_local(utcnow()).date()
        with st.form("account_loan"):
            borrower = st.text_input("借用人真实姓名", max_chars=64)
            phone = st.text_input("借用人联系电话", max_chars=20)
            reason = st.text_area("借用事由", max_chars=500)
            until = st.date_input(
                "借用截止日期（当日 24 时结束）",
                value=today + timedelta(days=1),
                min_value=today,
                max_value=today + timedelta(days=max_days - 1),
            )
            if st.form_submit_button("提交借用申请", type="primary"):
                ends_at = datetime.combine(until + timedelta(days=1), time(0, 0), tzinfo=LOCAL_TZ)
                with service_errors():
                    loan_id = request_loan(
                        actor, borrower_name=borrower, borrower_phone=phone, reason=reason, ends_at=ends_at
                    )
                    flash_and_rerun("account_flash", f"借用申请（借用单 {loan_id}）已提交，待安全管理员审批。")
