"""The login's steps after the password: the second factor's code, a forced password change, the
enrolment of the second factor. Each form calls one service function of ``portal.services.login``."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from portal.auth import totp
from portal.auth.session import ENROL_SECRET_KEY
from portal.services import login as login_service
from portal.services.errors import ServiceError, ValidationError
from portal.services.security_policy import current_policy
from portal.ui.text import md


def policy_text() -> str:
    p = current_policy()
    return (
        f"密码要求：{p.min_length}–{p.max_length} 个字符，"
        f"包含大写字母、小写字母、数字、符号中的至少{'三' if p.min_classes <= 3 else '四'}类；"
        "不能包含用户名、姓名、所在地区或单位的名称和代码，不能是常见密码；"
        f"不能与最近 {p.history} 次使用过的密码相同；每 {p.max_age_days} 天须更换。"
    )


def _errors(exc: ValidationError) -> None:
    for message in exc.errors.values():
        st.error(message, icon=":material/error:")


def render_step(
    pending: login_service.PendingLogin,
    advance: Callable[[login_service.PendingLogin], None],
    cancel: Callable[..., None],
) -> None:
    st.subheader(f"{md(pending.real_name)}，您好")
    step = pending.step
    if step == login_service.STEP_TOTP:
        st.caption("请打开手机上的身份验证器，输入本系统当前显示的 6 位动态口令。")
        with st.form("login_totp"):
            code = st.text_input("动态口令", max_chars=8, key="login_totp_code")
            submitted = st.form_submit_button("验证", type="primary")
        if submitted:
            result = login_service.verify_second_factor(pending, code)
            if isinstance(result, login_service.PendingLogin):
                advance(result)
            elif result.locked_until is not None:
                cancel(result.message, error=True)
            else:
                st.error(result.message, icon=":material/error:")
    elif step == login_service.STEP_CHANGE_PASSWORD:
        st.info(pending.change_reason or "请设置新密码。", icon=":material/password:")
        st.caption(policy_text())
        with st.form("login_change_password"):
            new = st.text_input("新密码", type="password", key="login_new_password")
            confirm = st.text_input("再次输入新密码", type="password", key="login_confirm_password")
            submitted = st.form_submit_button("设置新密码", type="primary")
        if submitted:
            try:
                advance(login_service.complete_password_change(pending, new, confirm))
            except ValidationError as exc:
                _errors(exc)
            except ServiceError as exc:
                cancel(str(exc), error=True)
    elif step == login_service.STEP_ENROL_TOTP:
        st.info("您的岗位须使用动态口令（第二重身份验证）。请先绑定身份验证器。", icon=":material/phonelink_lock:")
        secret = st.session_state.get(ENROL_SECRET_KEY)
        if secret is None:
            secret = st.session_state[ENROL_SECRET_KEY] = totp.new_secret()
        left, right = st.columns([1, 2])
        with left:
            st.image(totp.qr_png(totp.provisioning_uri(secret, pending.username)), width=200)
        with right:
            st.markdown("1. 在手机上安装身份验证器（如“腾讯身份验证器”“Microsoft Authenticator”）；")
            st.markdown("2. 扫描左侧二维码，或手动输入密钥：")
            st.code(" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)), language=None)
            st.markdown("3. 输入验证器显示的 6 位动态口令完成绑定。")
        with st.form("login_enrol"):
            code = st.text_input("动态口令", max_chars=8, key="login_enrol_code")
            submitted = st.form_submit_button("绑定并登录", type="primary")
        if submitted:
            try:
                advance(login_service.complete_enrolment(pending, secret, code))
            except ValidationError as exc:
                _errors(exc)
            except ServiceError as exc:
                cancel(str(exc), error=True)
    if st.button("返回登录页", key="login_step_cancel"):
        cancel("已取消本次登录。")
