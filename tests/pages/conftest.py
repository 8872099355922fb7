"""AppTest helpers: run the real entrypoint in-process against the test database."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = str(ROOT / "streamlit_app.py")


def new_app() -> AppTest:
    return AppTest.from_file(ENTRYPOINT, default_timeout=60)


def login(username: str, password: str) -> AppTest:
    at = new_app().run()
    assert not at.exception, at.exception
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def registered_pages(at: AppTest) -> set[str]:
    """The titles of the pages st.navigation registered in the last run (not the hidden
    "no permission" pages that answer at the other addresses)."""
    from portal.ui.navigation import NO_PERMISSION_TITLE

    return {str(info.get("page_name")) for info in at._registered_pages.values()} - {NO_PERMISSION_TITLE}


def texts(at: AppTest) -> str:
    """Every title, header, caption, markdown, alert and metric value, joined (for assertions)."""
    parts: list[str] = []
    for kind in ("title", "subheader", "caption", "markdown", "error", "warning", "info", "success"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)


@pytest.fixture
def app_demo(demo: str) -> str:
    return demo


def click(at: AppTest, label: str) -> AppTest:
    """Click the (form submit) button with this label and run the script again."""
    matches = [b for b in at.button if b.label == label]
    assert matches, f"no button {label!r}: {[b.label for b in at.button]}"
    return matches[0].click().run()
