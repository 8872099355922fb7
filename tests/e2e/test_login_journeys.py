"""Login journeys in a real browser against `streamlit run`: log in, look around, log out.

The institution list is an ``st.dataframe``: its cells are drawn on a canvas, and the same text sits
in a hidden accessibility table. A row is therefore looked for in that table (attached, not visible),
and the server-side search box is used to show that another county's institution is out of reach.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or on CI fails) every test before this is used
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.e2e

DEMO_PASSWORD = "Demo#Portal2026"
COUNTY_HOME_TITLE = "河南省郑州市中牟县 · 工作台"
OWN_INSTITUTION = "中牟县官渡镇中心幼儿园"
OTHER_COUNTY_INSTITUTION = "郑州市中原区伊河路幼儿园"
WRONG_CREDENTIALS = "用户名或密码错误。"
COMPONENT_RERUN_MS = 3_000  # time for the rerun the login page's cookie component triggers once drawn


# --- helpers ---------------------------------------------------------------------------------


LOGIN_FOOTER = "连续 5 次输错密码"  # the login page's last line: once shown, the whole page is drawn


def login_heading(page: Page) -> Locator:
    return page.get_by_role("heading", name="用户登录")


def expect_login_page(page: Page) -> None:
    """The login page is drawn, once: during a rerun Streamlit can briefly keep a stale second copy."""
    expect(login_heading(page).first).to_be_visible()
    expect(page.get_by_text(LOGIN_FOOTER).first).to_be_visible()
    expect(login_heading(page)).to_have_count(1)
    expect(page.get_by_text(LOGIN_FOOTER)).to_have_count(1)


def logout_button(page: Page) -> Locator:
    return page.get_by_role("button", name="退出登录")


def table_cell(page: Page, text: str) -> Locator:
    """A cell of the page's ``st.dataframe`` (in its hidden accessibility table)."""
    return page.get_by_test_id("stDataFrame").get_by_text(text, exact=True)


def open_login_form(page: Page, url: str) -> None:
    page.goto(url)
    expect_login_page(page)


def submit_login(page: Page, username: str, password: str) -> None:
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录", exact=True).click()


def log_in(page: Page, base_url: str, username: str, password: str = DEMO_PASSWORD) -> None:
    open_login_form(page, base_url)
    submit_login(page, username, password)
    expect(logout_button(page)).to_be_visible()


def assert_no_institution_content(page: Page) -> None:
    expect(page.get_by_role("heading", name="机构名录")).to_have_count(0)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
    for name in (OWN_INSTITUTION, OTHER_COUNTY_INSTITUTION):
        expect(page.get_by_text(name)).to_have_count(0)


# --- journeys --------------------------------------------------------------------------------


def test_county_user_logs_in_and_sees_county_home(page: Page, portal_server: str) -> None:
    open_login_form(page, portal_server)
    submit_login(page, "demo-county", DEMO_PASSWORD)

    expect(page.get_by_role("heading", name=COUNTY_HOME_TITLE)).to_be_visible()
    expect(page.get_by_text("县级审核员").first).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(logout_button(page)).to_be_visible()
    nav_link = sidebar.get_by_role("link", name="机构名录")
    expect(nav_link).to_be_visible()

    nav_link.click()
    expect(page).to_have_url(f"{portal_server}/institutions")
    expect(page.get_by_role("heading", name="机构名录")).to_be_visible()
    expect(table_cell(page, OWN_INSTITUTION)).to_be_attached()
    expect(page.get_by_text(OTHER_COUNTY_INSTITUTION)).to_have_count(0)

    # The search runs on the server, over the user's scope only: another county's kindergarten
    # is not found even by its exact name.
    search = page.get_by_label("按名称或机构标识码查找")
    search.fill(OTHER_COUNTY_INSTITUTION)
    search.press("Enter")
    expect(page.get_by_text("没有符合条件的机构。")).to_be_visible()
    expect(page.get_by_text(OTHER_COUNTY_INSTITUTION)).to_have_count(0)

    logout_button(page).click()
    expect_login_page(page)
    expect(logout_button(page)).to_have_count(0)
    assert_no_institution_content(page)


def test_logout_notice_stays_on_the_login_page(page: Page, portal_server: str) -> None:
    # Regression: the notice used to be shown by the first run of the login page only, and the
    # rerun that the page's cookie component triggers right after drew the page without it.
    log_in(page, portal_server, "demo-township")
    logout_button(page).click()
    expect_login_page(page)
    page.wait_for_timeout(COMPONENT_RERUN_MS)
    expect(page.get_by_text("您已安全退出。")).to_be_visible(timeout=2_000)
    expect_login_page(page)


def test_wrong_password_is_refused(page: Page, portal_server: str) -> None:
    open_login_form(page, portal_server)
    submit_login(page, "demo-city", "Wrong@12345")  # not demo-county: its failure count stays at zero

    expect(page.get_by_text(WRONG_CREDENTIALS)).to_be_visible()
    expect_login_page(page)
    expect(logout_button(page)).to_have_count(0)
    expect(page.get_by_text(COUNTY_HOME_TITLE)).to_have_count(0)
    page.wait_for_timeout(COMPONENT_RERUN_MS)
    expect(page.get_by_text(WRONG_CREDENTIALS)).to_be_visible(timeout=2_000)


def test_unknown_user_gets_the_same_answer(page: Page, portal_server: str) -> None:
    open_login_form(page, portal_server)
    submit_login(page, "no-such-user", DEMO_PASSWORD)

    expect(page.get_by_text(WRONG_CREDENTIALS)).to_be_visible()
    expect(logout_button(page)).to_have_count(0)


def test_deep_link_without_login_shows_login_page(page: Page, fresh_server: str) -> None:
    # The very first request to this server names a page of the county role.
    open_login_form(page, f"{fresh_server}/institutions")
    expect(logout_button(page)).to_have_count(0)
    assert_no_institution_content(page)
    expect(page.get_by_role("dialog")).to_have_count(0)  # no "Page not found": the login form answers

    # Logging in from there leads to the page asked for, since the county role has it.
    submit_login(page, "demo-county", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="机构名录")).to_be_visible()
    expect(page).to_have_url(f"{fresh_server}/institutions")
    expect(table_cell(page, OWN_INSTITUTION)).to_be_attached()


def test_deep_link_to_page_of_another_role(page: Page, portal_server: str) -> None:
    # A new page load is a new Streamlit session: the login form answers at the audit log's address.
    open_login_form(page, f"{portal_server}/audit")
    expect(page.get_by_role("heading", name="审计日志")).to_have_count(0)
    expect(page.get_by_text("操作类型")).to_have_count(0)

    # A clerk who logs in there is told, in Chinese, that the page is not theirs; never the log.
    submit_login(page, "demo-clerk", DEMO_PASSWORD)
    expect(page.get_by_text("您没有访问此页面的权限。")).to_be_visible()
    expect(page.get_by_role("heading", name="审计日志")).to_have_count(0)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
    expect(page.get_by_text("操作类型")).to_have_count(0)

    # The way back leads to the clerk's own home.
    page.get_by_role("link", name="返回本园概况").click()
    expect(page.get_by_text("幼儿园数据填报员").first).to_be_visible()
    expect(page.get_by_role("heading", name="中牟县官渡镇小庙王村幼儿园")).to_be_visible()
