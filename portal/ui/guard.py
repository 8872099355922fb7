"""The guard every page starts with: no actor or no such page for the role, and the page stops."""

from __future__ import annotations

import streamlit as st

from portal.auth.actor import Actor
from portal.auth.session import ACTOR_KEY
from portal.ui.navigation import page_keys_for


def require_page(page_key: str) -> Actor:
    """The logged-in actor if their role has ``page_key``; otherwise a message and a stop."""
    actor: Actor | None = st.session_state.get(ACTOR_KEY)
    if actor is None:
        st.warning("请先登录。", icon=":material/login:")
        st.stop()
    if page_key not in page_keys_for(actor):
        st.error("您没有访问此页面的权限。", icon=":material/block:")
        st.stop()
    return actor
