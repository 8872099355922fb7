"""Page furniture: the demo banner, the user card in the sidebar, headings, error display."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import streamlit as st

from portal.auth.actor import Actor
from portal.services import notices
from portal.services.errors import (
    DatabaseBusyError,
    PermissionDenied,
    ServiceError,
    ValidationError,
)
from portal.ui.text import md

T = TypeVar("T")

APP_TITLE = "全国学前教育管理信息系统"


def demo_banner() -> None:
    st.warning(
        "演示环境：本系统中的机构、人员均为演示数据，请勿录入真实的幼儿或家庭信息。",
        icon=":material/science:",
    )


def user_card(actor: Actor, on_logout: Callable[[], None]) -> None:
    with st.sidebar:
        st.markdown(f"**{md(actor.real_name)}**（{md(actor.username)}）")
        st.caption(f"{md(actor.role)} · {md(actor.scope_label)}")
        unread = notices.unread_count(actor)
        if unread:
            st.info(f"您有 {unread} 条未读通知，请在“通知公告”中查看。", icon=":material/notifications:")
        if st.button("退出登录", key="portal_logout", icon=":material/logout:", width="stretch"):
            on_logout()
            st.rerun()


def page_header(title: str, actor: Actor | None = None) -> None:
    st.title(title)
    if actor is not None:
        st.caption(f"{md(actor.real_name)} · {md(actor.role)} · {md(actor.scope_label)}")


@contextmanager
def service_errors() -> Iterator[None]:
    """Show a service's refusal as a Chinese message instead of a traceback."""
    try:
        yield
    except ValidationError as exc:
        for message in exc.errors.values():
            st.error(md(message), icon=":material/error:")
    except (ServiceError, PermissionDenied, DatabaseBusyError) as exc:
        st.error(md(exc), icon=":material/error:")


def yes_no(value: bool) -> str:
    return "是" if value else "否"


def show_flash(key: str) -> None:
    """Show (once) the success message a page left for itself before its last rerun (as text:
    the messages quote what users typed)."""
    message = st.session_state.pop(key, None)
    if message:
        st.success(md(message), icon=":material/check_circle:")


def flash_and_rerun(key: str, message: str) -> None:
    """Leave a success message for the next run of the page, and rerun it."""
    st.session_state[key] = message
    st.rerun()
