"""Hostile strings typed into the real screens (AppTest): no exception element, no traceback, and
what was stored is drawn as text, never as Markdown or HTML."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from portal.auth.actor import Actor
from portal.services import children, login, workflow
from portal.ui.text import md
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.factories import child_values
from tests.hostile.catalogue import COMPACT, TEXTS
from tests.hostile.conftest import World, parametrize_cases
from tests.pages.conftest import ROOT, click, new_app, texts

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
LOGIN_NAMES = [
    "sql-or",
    "sql-drop",
    "html-script",
    "md-link",
    "ctl-bell",
    "ctl-crlf",
    "bidi-rlo",
    "long-ascii",
    "emoji",
]


def everything_shown(at: AppTest) -> str:
    """Every text the run drew, widgets' labels included (for the traceback check)."""
    parts = [texts(at)]
    parts += [str(e.value) for e in at.exception]
    parts += [str(getattr(e, "label", "")) for e in at.button]
    parts += [str(e.value) for e in at.get("text")]
    parts += [str(e.value) for e in at.get("code")]
    return "\n".join(parts)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    shown = everything_shown(at)
    for marker in ("Traceback", 'File "', "Error:", "psycopg", "sqlalchemy", "sqlite3"):
        assert marker not in shown, f"{marker!r} shown on the screen"


def open_page(username: str, page: str) -> AppTest:
    at = new_app().run()
    at.text_input[0].input(username)
    at.text_input[1].input(DEMO_PASSWORD)
    at.button[0].click().run()
    assert_clean(at)
    at.switch_page(str(ROOT / page)).run()
    assert_clean(at)
    return at


def _try_login(at: AppTest, name: str) -> None:
    at.text_input[0].input(name)
    at.text_input[1].input("Wrong#Password1")
    at.button[0].click().run()
    assert_clean(at)
    errors = [str(e.value) for e in at.error]
    assert errors == [login.WRONG_CREDENTIALS], (name[:20], errors)


def test_a_hostile_login_name_gets_the_one_message(demo: str) -> None:
    """Whatever is typed as the name, the answer is 用户名或密码错误 and nothing else."""
    at = new_app().run()
    for key in LOGIN_NAMES:
        _try_login(at, TEXTS[key])


def test_a_nul_in_the_login_name(demo: str) -> None:
    _try_login(new_app().run(), TEXTS["ctl-nul"])


@parametrize_cases(COMPACT)
def test_a_hostile_login_name_through_the_service(world: World, key: str, hostile: str) -> None:
    result = login.authenticate(hostile, "Wrong#Password1")
    assert not result.ok and result.message == login.WRONG_CREDENTIALS


@SQLITE_ONLY
def test_a_class_name_is_shown_as_text(demo: str) -> None:
    at = open_page("demo-clerk", "portal/pages/kindergarten/classes.py")
    for key in ("md-bold", "md-link", "html-script", "md-colour", "ctl-bell", "bidi-rlo", "long-ascii"):
        name = TEXTS[key]
        at.text_input(key="class_new_name").input(name)
        at.selectbox(key="class_new_grade").select("小班")
        click(at, "建立班级")
        assert_clean(at)
        stored = {c.name for c in children.list_classes(actor_for("demo-clerk"))}
        if name in stored:
            successes = [str(e.value) for e in at.success]
            assert any(md(name) in s for s in successes), successes  # escaped in the message
            assert all(name not in s for s in successes if name != md(name))
            frame = at.dataframe[0].value
            assert name in list(frame["班级名称"])  # the table shows it exactly
        else:
            assert at.error, f"{key}: neither stored nor refused"
            assert all(e.value and "\x07" not in str(e.value) for e in at.error)


@SQLITE_ONLY
def test_a_return_reason_is_shown_as_text(demo: str) -> None:
    """The county returns a child's record with Markdown and HTML in the reason; the clerk sees
    the reason's characters, escaped, not a link."""
    clerk: Actor = actor_for("demo-clerk")
    children.create_class(
        clerk, {"name": "小一班", "grade": "小班", "school_year": children.school_year_of(workflow.local_today())}
    )
    child_id = children.save_child(clerk, child_values()).child_id
    children.submit_children(clerk, [child_id])
    request_id = children.get_child(clerk, child_id).request_id
    reason = "[点我](javascript:alert(1)) **请核对** <img src=x onerror=alert(1)>\n# 标题"
    workflow.decide(actor_for("demo-county"), request_id or 0, "return", reason)
    at = open_page("demo-clerk", "portal/pages/kindergarten/children.py")
    shown = [str(e.value) for e in at.error]
    assert any(md(reason) in s for s in shown), shown
    assert all("[点我](javascript" not in s for s in shown)
