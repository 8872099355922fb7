"""Keyset paging on the server: the page keeps a stack of cursors in the session state."""

from __future__ import annotations

from typing import Any

import streamlit as st


class KeysetPager:
    """Cursors for "previous / next" over a keyset-paged service call.

    ``cursor`` is what to pass to the service for the current page (None for the first).
    Changing the filters resets the pager (pass them as ``filters``).
    """

    def __init__(self, key: str, filters: tuple[Any, ...] = ()) -> None:
        self.key = key
        state = st.session_state.get(key)
        if state is None or state["filters"] != filters:
            state = {"filters": filters, "stack": [None]}
            st.session_state[key] = state
        self._state = state

    @property
    def cursor(self) -> Any:
        return self._state["stack"][-1]

    @property
    def page_number(self) -> int:
        return len(self._state["stack"])

    def controls(self, next_cursor: Any, total: int, page_size: int, *, more: bool = False) -> None:
        """Previous / next and where we are; ``more``: ``total`` is a floor (a capped count)."""
        pages = max(1, -(-total // page_size))
        left, middle, right = st.columns([1, 4, 1], vertical_alignment="center")
        if left.button("上一页", key=f"{self.key}_prev", disabled=self.page_number == 1, width="stretch"):
            self._state["stack"].pop()
            st.rerun()
        if more:
            middle.caption(f"第 {self.page_number} 页，共 {total}+ 条")
        else:
            middle.caption(f"第 {self.page_number} / {pages} 页，共 {total} 条")
        if right.button("下一页", key=f"{self.key}_next", disabled=next_cursor is None, width="stretch"):
            self._state["stack"].append(next_cursor)
            st.rerun()
