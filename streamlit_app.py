"""Entrypoint: log in, build the page set of the user's role, run the chosen page.

It sits at the repository root, away from ``portal/pages/``: Streamlit serves a ``pages/`` folder
beside the entrypoint to anyone before ``st.navigation`` runs, and no such folder exists here.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from portal.auth import session as auth_session
from portal.services.accounts import demo_accounts_exist
from portal.services.regions import deployment_name
from portal.settings import SettingsError, get_settings
from portal.ui import layout
from portal.ui.navigation import build_pages

FAVICON = Path(__file__).resolve().parent / "portal" / "ui" / "assets" / "favicon.png"

# The icon is a file of the portal: a material icon would be fetched from Google's font server,
# which the production CSP (deploy/nginx) and many networks in China block.
st.set_page_config(page_title="全国学前教育管理信息系统", page_icon=str(FAVICON), layout="wide")

try:
    get_settings().require_secrets()
except SettingsError as exc:
    st.error(f"系统未配置密钥，拒绝启动。{exc}", icon=":material/key_off:")
    st.stop()


def login_page() -> None:
    _left, centre, _right = st.columns([1, 2, 1])
    with centre:
        st.title(layout.APP_TITLE)
        st.caption(f"{deployment_name()}学前教育管理信息平台 · 请使用本人实名账户登录")
        notice = auth_session.login_notice()
        if notice is not None:
            kind, message = notice
            if kind == "error":
                st.error(message, icon=":material/error:")
            else:
                st.info(message, icon=":material/info:")
        auth_session.login_form()
        settings = get_settings()
        st.caption(
            f"连续 {settings.login_max_failures} 次输错密码，账户将被锁定 {settings.lockout_minutes} 分钟。"
            "忘记密码请联系上一级管理员重置。"
        )


if demo_accounts_exist():
    layout.demo_banner()


actor = auth_session.current_actor()
if actor is not None:
    layout.user_card(actor, auth_session.logout)
# expanded=True: a bureau reviewer has 13 pages; folded after 10, the notice board would hide.
st.navigation(build_pages(actor, login_page), expanded=True).run()
