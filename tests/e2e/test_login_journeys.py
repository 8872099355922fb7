"""Login journeys in a real browser against `streamlit run`: log in, look around, log out.

The institution list is an ``st.dataframe``: its cells are drawn on a canvas, and the same text sits
in a hidden accessibility table. A row is therefore looked for in that table (attached, not visible),
and the server-side search box is used to show that another county's institution is out of reach.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or on CI fails) every test before these are used
    expect = PlaywrightTimeoutError = None  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

pytestmark = pytest.mark.e2e

DEMO_PASSWORD = "Demo@12345"
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


def dismiss_page_not_found(page: Page, wait_ms: int = 5_000) -> None:
    """Close Streamlit's "Page not found" dialog, if it comes: the URL names no page of the session.

    The dialog makes the page behind it inert, so it must be gone before the form is filled in.
    """
    dialog = page.get_by_role("dialog")
    try:
        dialog.wait_for(state="visible", timeout=wait_ms)
    except PlaywrightTimeoutError:
        return
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def open_login_form(page: Page, url: str, *, deep_link: bool = False) -> None:
    page.goto(url)
    expect_login_page(page)
    if deep_link:
        dismiss_page_not_found(page)


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
    open_login_form(page, f"{fresh_server}/institutions", deep_link=True)
    expect(logout_button(page)).to_have_count(0)
    assert_no_institution_content(page)

    open_login_form(page, f"{fresh_server}/audit", deep_link=True)
    expect(logout_button(page)).to_have_count(0)
    expect(page.get_by_role("heading", name="审计日志")).to_have_count(0)
    assert_no_institution_content(page)

    # The form reached through a deep link works: the user lands on the home page of the role.
    submit_login(page, "demo-county", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name=COUNTY_HOME_TITLE)).to_be_visible()


def test_deep_link_to_page_of_another_role(page: Page, portal_server: str) -> None:
    log_in(page, portal_server, "demo-clerk")
    expect(page.get_by_text("幼儿园数据填报员").first).to_be_visible()
    expect(page.get_by_role("link", name="审计日志")).to_have_count(0)

    page.goto(f"{portal_server}/audit")
    # A new page load is a new Streamlit session: without re-login by cookie it is the login page;
    # with it, the clerk's own home. Never the audit log.
    expect(login_heading(page).or_(logout_button(page)).first).to_be_visible()
    dismiss_page_not_found(page)
    if login_heading(page).count():
        expect_login_page(page)
    else:
        expect(page.get_by_text("幼儿园数据填报员").first).to_be_visible()
    expect(page.get_by_role("heading", name="审计日志")).to_have_count(0)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
    expect(page.get_by_text("操作类型")).to_have_count(0)
