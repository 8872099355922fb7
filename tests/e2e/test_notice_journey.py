"""Notices in a real browser: the provincial leader publishes a notice with a PDF attached; the
clerk of a kindergarten logs in, sees it unread, reads it and downloads the attachment; the
province then sees it counted as read, with the clerk among the readers."""

from __future__ import annotations

import re

import pytest

from tests.e2e.test_children_journey import open_nav, settle, sign_in
from tests.e2e.test_login_journeys import expect_login_page, logout_button, table_cell

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the `browser` fixture skips (or on CI fails) every test before this is used
    expect = None  # type: ignore[assignment]
    Page = object  # type: ignore[assignment,misc]

pytestmark = pytest.mark.e2e

TITLE = "关于开展幼儿信息核查的通知"
BODY = "各幼儿园：请于本月底前核对本园幼儿信息。"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def open_page(page: Page, label: str) -> None:
    """Open a page of the sidebar; a long menu shows its first ten pages until "View N more"."""
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_role("link").first).to_be_visible()
    more = sidebar.get_by_text(re.compile(r"^View \d+ more$"))
    if more.count():
        more.click()
    open_nav(page, label)


def test_the_province_publishes_a_notice_and_the_clerk_reads_it(page: Page, fresh_server: str) -> None:
    sign_in(page, fresh_server, "demo-province")
    open_page(page, "通知公告")
    page.get_by_role("tab", name="发布通知").click()
    page.get_by_label("标题 *").fill(TITLE)
    page.get_by_label("正文 *").fill(BODY)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": "核查安排.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    expect(page.get_by_text("核查安排.pdf")).to_be_visible()
    page.get_by_role("button", name="发布通知").click()
    expect(page.get_by_text(f"通知“{TITLE}”已发布")).to_be_visible()

    logout_button(page).click()
    expect_login_page(page)
    sign_in(page, fresh_server, "demo-clerk")
    open_page(page, "通知公告")
    notice = page.get_by_test_id("stVerticalBlock").filter(has_text=TITLE).last
    expect(notice.get_by_text("未读", exact=True)).to_be_visible()
    notice.get_by_role("button", name="阅读").click()
    expect(page.get_by_text(BODY)).to_be_visible()
    expect(page.get_by_text(re.compile(r"首次阅读"))).to_be_visible()
    # The file is produced on click (and its download audited); a click during a rerun finds the
    # button of the run before, so wait until the page is idle first.
    settle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile(r"核查安排\.pdf")).click()
    assert download.value.suggested_filename == "核查安排.pdf"
    page.get_by_role("button", name="返回通知列表").click()
    notice = page.get_by_test_id("stVerticalBlock").filter(has_text=TITLE).last
    expect(notice.get_by_text("已读", exact=True)).to_be_visible()

    logout_button(page).click()
    expect_login_page(page)
    sign_in(page, fresh_server, "demo-province")
    open_page(page, "通知公告")
    page.get_by_role("tab", name="本单位已发布").click()
    settle(page)
    expect(table_cell(page, TITLE)).to_be_attached()
    total = page.get_by_test_id("stMetric").filter(has_text="合计已读")
    expect(total).to_contain_text(re.compile(r"1 / \d+"))
    page.get_by_test_id("stRadio").get_by_text("已读", exact=True).click()  # the list of readers
    expect(table_cell(page, "陈静")).to_be_attached()
