"""The screens, driven by AppTest from streamlit_app.py: login, role page sets, guards, logout."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from portal.auth.session import ACTIVITY_KEY, ACTOR_KEY
from portal.clock import utcnow
from portal.data import db
from portal.data.models import AuditLog, User
from portal.services.login import WRONG_CREDENTIALS
from tests.conftest import DEMO_PASSWORD
from tests.pages.conftest import ROOT, login, new_app, registered_pages, texts

ROLE_PAGES = {
    "demo-province": (
        {
            "我的账户",
            "通知公告",
            "帮助与支持",
            "工作台",
            "进度看板",
            "通报",
            "幼儿信息",
            "转园监管",
            "项目进展看板",
            "机构名录",
        },
        "河南省 · 工作台",
        "省级领导（查看）",
    ),
    "demo-city": (
        {
            "我的账户",
            "通知公告",
            "帮助与支持",
            "工作台",
            "进度看板",
            "通报",
            "审核队列",
            "幼儿信息",
            "转园监管",
            "问题学籍仲裁",
            "学前教育项目",
            "项目进展看板",
            "机构名录",
        },
        "河南省郑州市 · 工作台",
        "地市级审核员",
    ),
    "demo-county": (
        {
            "我的账户",
            "通知公告",
            "帮助与支持",
            "工作台",
            "进度看板",
            "通报",
            "审核队列",
            "幼儿信息",
            "转园监管",
            "问题学籍仲裁",
            "学前教育项目",
            "项目进展看板",
            "机构名录",
        },
        "河南省郑州市中牟县 · 工作台",
        "县级审核员",
    ),
    "demo-township": (
        {"我的账户", "通知公告", "帮助与支持", "工作台", "审核队列", "幼儿信息", "通报", "机构名录"},
        "乡镇中心园工作台",
        "乡镇中心园审核员",
    ),
    "demo-clerk": (
        {
            "我的账户",
            "通知公告",
            "帮助与支持",
            "本园概况",
            "信息填报",
            "班级管理",
            "幼儿信息",
            "学年工作",
            "批量导入",
            "问题学籍",
            "关键信息变更",
            "转园",
            "监管信息",
            "通报",
        },
        "中牟县官渡镇小庙王村幼儿园",
        "幼儿园数据填报员",
    ),
    "demo-sysadmin": (
        {
            "我的账户",
            "通知公告",
            "帮助与支持",
            "工作台",
            "用户账户",
            "授权登记",
            "机构名录",
            "监管表单",
            "乡镇导入",
            "统计基数",
        },
        "省级系统管理员工作台",
        "省级系统管理员",
    ),
    "demo-secadmin": (
        {
            "我的账户",
            "通知公告",
            "帮助与支持",
            "工作台",
            "账户锁定",
            "密码借用审批",
            "安全策略",
            "授权登记",
            "用户账户",
        },
        "省级安全管理员工作台",
        "省级安全管理员",
    ),
    "demo-auditor": (
        {"我的账户", "通知公告", "帮助与支持", "工作台", "审计日志"},
        "省级审计管理员工作台",
        "省级审计管理员",
    ),
    "demo-reviewer": (
        {"我的账户", "通知公告", "帮助与支持", "本园概况", "审核队列", "通报"},
        "中牟县官渡镇小庙王村幼儿园",
        "幼儿园审核员",
    ),
    "demo-province-reviewer": (
        {
            "我的账户",
            "通知公告",
            "帮助与支持",
            "工作台",
            "进度看板",
            "通报",
            "审核队列",
            "幼儿信息",
            "转园监管",
            "问题学籍仲裁",
            "学前教育项目",
            "项目进展看板",
            "机构名录",
        },
        "河南省 · 工作台",
        "省级审核员",
    ),
    "demo-finance": (
        {"我的账户", "通知公告", "帮助与支持", "经费测算", "学前教育项目", "项目进展看板"},
        "经费测算",
        "省级财务人员",
    ),
}


# Every page that is not a home page, with its title: each role may open exactly those it has.
# Two pages share the title 幼儿信息: the kindergarten's own and the bureaus' (by role, below).
OTHER_PAGE_FILES = {
    "portal/pages/common/institutions.py": "机构名录",
    "portal/pages/common/review_queue.py": "审核队列",
    "portal/pages/common/children.py": "幼儿信息",
    "portal/pages/common/arbitration.py": "问题学籍仲裁",
    "portal/pages/kindergarten/registry.py": "信息填报",
    "portal/pages/kindergarten/classes.py": "班级管理",
    "portal/pages/kindergarten/children.py": "幼儿信息",
    "portal/pages/kindergarten/cycle.py": "学年工作",
    "portal/pages/kindergarten/child_import.py": "批量导入",
    "portal/pages/kindergarten/problems.py": "问题学籍",
    "portal/pages/kindergarten/key_changes.py": "关键信息变更",
    "portal/pages/kindergarten/supervision.py": "监管信息",
    "portal/pages/kindergarten/transfers.py": "转园",
    "portal/pages/common/transfers.py": "转园监管",
    "portal/pages/admin/forms.py": "监管表单",
    "portal/pages/admin/users.py": "用户账户",
    "portal/pages/admin/townships.py": "乡镇导入",
    "portal/pages/admin/locks.py": "账户锁定",
    "portal/pages/admin/baseline.py": "统计基数",
    "portal/pages/bureau/progress.py": "进度看板",
    "portal/pages/common/bulletins.py": "通报",
    "portal/pages/admin/audit_log.py": "审计日志",
    "portal/pages/admin/grants.py": "授权登记",
    "portal/pages/admin/loans.py": "密码借用审批",
    "portal/pages/admin/policy.py": "安全策略",
    "portal/pages/common/projects.py": "学前教育项目",
    "portal/pages/bureau/project_dashboard.py": "项目进展看板",
    "portal/pages/finance/funding.py": "经费测算",
    "portal/pages/common/notices.py": "通知公告",
    "portal/pages/common/help.py": "帮助与支持",
}
KINDERGARTEN_ROLES = {"demo-clerk"}


def expected_to_open(username: str, page_file: str, titles: set[str]) -> bool:
    if OTHER_PAGE_FILES[page_file] not in titles:
        return False
    if page_file.endswith("children.py"):  # the kindergarten's list or the bureaus'
        return ("/kindergarten/" in page_file) == (username in KINDERGARTEN_ROLES)
    return True


def audit_actions(username: str) -> list[str]:
    with db.session_scope() as session:
        rows = session.exec(select(AuditLog).where(AuditLog.username == username).order_by(AuditLog.id)).all()  # type: ignore[arg-type]
        return [r.action for r in rows]


def test_logged_out_visitor_gets_only_the_login_page(app_demo: str) -> None:
    at = new_app().run()
    assert registered_pages(at) == {"登录"}
    assert [t.label for t in at.text_input] == ["用户名", "密码"]
    assert "演示环境" in texts(at)


@pytest.mark.parametrize("username", sorted(ROLE_PAGES))
def test_each_demo_account_gets_its_pages_and_no_others(app_demo: str, username: str) -> None:
    expected_pages, title, role = ROLE_PAGES[username]
    at = login(username, DEMO_PASSWORD)
    assert registered_pages(at) == expected_pages
    assert title in [t.value for t in at.title]
    assert role in texts(at)
    assert at.session_state[ACTOR_KEY].username == username
    for page_file, page_title in OTHER_PAGE_FILES.items():
        if expected_to_open(username, page_file, expected_pages):
            at.switch_page(str(ROOT / page_file)).run()
            assert not at.exception, (page_title, at.exception)
            assert not at.error, (page_title, [e.value for e in at.error])
            assert any(page_title in t.value for t in at.title), page_title
        else:
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(str(ROOT / page_file))


def test_wrong_password_shows_the_error_and_logs_nobody_in(app_demo: str) -> None:
    at = login("demo-county", "Wrong#Password1")
    assert [e.value for e in at.error] == [WRONG_CREDENTIALS]
    assert ACTOR_KEY not in at.session_state
    assert registered_pages(at) == {"登录"}
    assert audit_actions("demo-county") == ["login_failed"]


def test_a_busy_database_at_login_says_so_and_the_next_try_logs_in(
    app_demo: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite at a deadline peak: the login cannot be recorded. The page says so, in Chinese, and
    nobody is logged in; the next try, the database free again, logs in."""
    from portal.data.db import DatabaseBusyError
    from portal.services import login as login_service

    real = login_service.begin_login

    def busy(*args: object, **kwargs: object) -> object:
        raise DatabaseBusyError("数据库正忙，请稍后重试。")

    monkeypatch.setattr(login_service, "begin_login", busy)
    at = login("demo-county", DEMO_PASSWORD)
    assert not at.exception
    assert [e.value for e in at.error] == ["数据库正忙，请稍后重试。"]
    assert ACTOR_KEY not in at.session_state and registered_pages(at) == {"登录"}
    monkeypatch.setattr(login_service, "begin_login", real)
    at.text_input[0].input("demo-county")
    at.text_input[1].input(DEMO_PASSWORD)
    at.button[0].click().run()
    assert not at.exception and ACTOR_KEY in at.session_state


def test_unknown_user_gets_the_same_message(app_demo: str) -> None:
    at = login("nobody-here", "Wrong#Password1")
    assert [e.value for e in at.error] == [WRONG_CREDENTIALS]


def test_fifth_failure_locks_and_the_right_password_is_then_refused(app_demo: str) -> None:
    at = new_app().run()
    for _ in range(5):
        at.text_input[0].input("demo-clerk")
        at.text_input[1].input("Wrong#Password1")
        at.button[0].click().run()
    assert "锁定" in at.error[0].value
    at.text_input[0].input("demo-clerk")
    at.text_input[1].input(DEMO_PASSWORD)
    at.button[0].click().run()
    assert ACTOR_KEY not in at.session_state and "锁定" in at.error[0].value


def test_logout_returns_to_the_login_page(app_demo: str) -> None:
    at = login("demo-county", DEMO_PASSWORD)
    at.button(key="portal_logout").click().run()
    assert registered_pages(at) == {"登录"}
    assert ACTOR_KEY not in at.session_state
    assert "您已安全退出。" in texts(at)
    assert audit_actions("demo-county") == ["login", "logout"]
    # The next visitor of this browser session starts from an empty form.
    assert [t.value for t in at.text_input] == ["", ""]
    # The notice survives the reruns of the page's components, and goes with the next attempt.
    at.run()
    assert "您已安全退出。" in texts(at)
    at.text_input[0].input("demo-county")
    at.text_input[1].input("Wrong#Password1")
    at.button[0].click().run()
    at.run()
    assert "您已安全退出。" not in texts(at)
    assert [e.value for e in at.error] == [WRONG_CREDENTIALS]


def test_idle_session_ends_after_30_minutes(app_demo: str) -> None:
    at = login("demo-county", DEMO_PASSWORD)
    at.session_state[ACTIVITY_KEY] = utcnow() - timedelta(minutes=31)
    at.run()
    assert registered_pages(at) == {"登录"}
    assert "30 分钟未操作" in texts(at)
    assert audit_actions("demo-county") == ["login", "session_timeout"]


def test_a_recent_session_stays_open(app_demo: str) -> None:
    at = login("demo-county", DEMO_PASSWORD)
    at.session_state[ACTIVITY_KEY] = utcnow() - timedelta(minutes=29)
    at.run()
    assert "工作台" in registered_pages(at)


def test_a_disabled_account_is_logged_out_at_the_next_interaction(app_demo: str) -> None:
    at = login("demo-clerk", DEMO_PASSWORD)
    with db.session_scope() as session:
        user = session.exec(select(User).where(User.username == "demo-clerk")).one()
        user.is_active = False
        session.add(user)
    at.run()
    assert registered_pages(at) == {"登录"}
    assert "已停用" in texts(at)


@pytest.mark.parametrize("page", ["portal/pages/admin/audit_log.py", "portal/pages/common/institutions.py"])
def test_a_page_run_on_its_own_stops_without_login(app_demo: str, page: str) -> None:
    at = AppTest.from_file(str(ROOT / page), default_timeout=60).run()
    assert [w.value for w in at.warning] == ["请先登录。"]
    assert not at.dataframe


def test_a_page_run_on_its_own_refuses_another_role(app_demo: str) -> None:
    clerk = login("demo-clerk", DEMO_PASSWORD).session_state[ACTOR_KEY]
    at = AppTest.from_file(str(ROOT / "portal/pages/admin/audit_log.py"), default_timeout=60)
    at.session_state[ACTOR_KEY] = clerk
    at.run()
    assert [e.value for e in at.error] == ["您没有访问此页面的权限。"]
    assert not at.dataframe


def test_the_portal_refuses_to_start_without_secrets(app_demo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.settings import reset_settings_cache

    monkeypatch.delenv("PORTAL_COOKIE_KEY")
    reset_settings_cache()
    at = new_app().run()
    assert "拒绝启动" in at.error[0].value
    assert not at.text_input


def test_no_demo_banner_without_demo_accounts(database: str) -> None:
    at = new_app().run()
    assert "演示环境" not in texts(at)
