"""The registry in a real browser: the clerk submits a section, the township and the county
approve it in their queues, and the clerk sees it approved."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.e2e.test_login_journeys import log_in, logout_button

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or on CI fails) every test before this is used
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

SECTION = "建筑信息"
TITLE = "中牟县官渡镇小庙王村幼儿园·建筑信息"


@pytest.fixture
def pages(browser: Browser) -> Iterator[list[Page]]:
    """Three browsers side by side: the clerk's, the township's and the county's."""
    contexts = [browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000}) for _ in range(3)]
    for context in contexts:
        context.set_default_timeout(30_000)
    yield [context.new_page() for context in contexts]
    for context in contexts:
        context.close()


def open_nav(page: Page, label: str) -> None:
    page.get_by_test_id("stSidebar").get_by_role("link", name=label).click()


def approve_in_queue(page: Page, base_url: str, username: str) -> None:
    log_in(page, base_url, username)
    open_nav(page, "审核队列")
    expect(page.get_by_role("heading", name="审核队列")).to_be_visible()
    page.get_by_label("打开申请").click()
    page.get_by_role("option", name=TITLE, exact=False).click()
    expect(page.get_by_text(f"{TITLE} · 状态：待审核")).to_be_visible()
    page.get_by_role("button", name="审核通过").click()
    expect(page.get_by_text("已审核通过")).to_be_visible()


def test_clerk_submits_township_and_county_approve_clerk_sees_it(pages: list[Page], portal_server: str) -> None:
    clerk, township, county = pages
    log_in(clerk, portal_server, "demo-clerk")
    open_nav(clerk, "信息填报")
    clerk.get_by_role("tab", name=f"{SECTION}（草稿）").click()
    clerk.locator("button:visible", has_text="提交审核").click()
    expect(clerk.get_by_text(f"{SECTION}已提交（机构信息上报）")).to_be_visible()
    expect(clerk.get_by_role("tab", name=f"{SECTION}（待审核）")).to_be_visible()

    approve_in_queue(township, portal_server, "demo-township")
    approve_in_queue(county, portal_server, "demo-county")

    open_nav(clerk, "本园概况")
    open_nav(clerk, "信息填报")
    expect(clerk.get_by_role("tab", name=f"{SECTION}（已审核）")).to_be_visible()
    clerk.get_by_role("tab", name=f"{SECTION}（已审核）").click()
    expect(clerk.locator("p:visible", has_text="填报人 陈静，审核人 张伟")).to_be_visible()
    expect(logout_button(clerk)).to_be_visible()
