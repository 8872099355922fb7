"""Children's records in a real browser: the clerk uploads a workbook made from the import template
with good and bad rows, sees what was accepted and refused, and submits the good ones; the county
reviewer approves them in one batch in the review queue; the clerk then sees the children with
their student numbers, masked."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING

import pytest

from tests.e2e.test_login_journeys import (
    COMPONENT_RERUN_MS,
    DEMO_PASSWORD,
    expect_login_page,
    logout_button,
    open_login_form,
    submit_login,
    table_cell,
)
from tests.factories import child_values, resident_id

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or on CI fails) every test before this is used
    expect = None  # type: ignore[assignment]
    PlaywrightTimeoutError = TimeoutError  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Two children the demo does not have (born on days no demo child was), and one with a wrong number.
GOOD = [
    child_values(
        name="周小雨",
        gender="女",
        birth_date="2023-04-18",
        document_number=resident_id(birth=date(2023, 4, 18), sequence=41, male=False),
        guardian1_phone="13937135501",
    ),
    child_values(
        name="吴天佑",
        birth_date="2023-06-02",
        document_number=resident_id(birth=date(2023, 6, 2), sequence=42),
        guardian1_phone="13937135502",
    ),
]
_RIGHT = resident_id(birth=date(2023, 2, 9), sequence=43)
BAD = child_values(
    name="郑小凡",
    birth_date="2023-02-09",
    document_number=_RIGHT[:-1] + ("1" if _RIGHT.endswith("0") else "0"),  # a wrong check character
)


@pytest.fixture
def tall_page(browser: Browser) -> Iterator[Page]:
    """A browser page tall enough for the queue's batch form to open its list below the field."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1400})
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def settle(page: Page) -> None:
    """Wait out the rerun that the page's cookie component triggers once drawn: a rerun while a
    form is being filled in would reset what was chosen but not yet submitted."""
    page.wait_for_timeout(COMPONENT_RERUN_MS)
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)


def sign_in(page: Page, base_url: str, username: str) -> None:
    open_login_form(page, base_url)
    settle(page)
    submit_login(page, username, DEMO_PASSWORD)
    expect(logout_button(page)).to_be_visible()


def open_nav(page: Page, label: str, heading: str | None = None) -> None:
    page.get_by_test_id("stSidebar").get_by_role("link", name=label).click()
    expect(page.get_by_role("heading", name=heading or label)).to_be_visible()
    settle(page)


def choose(page: Page, label: str, *options: str) -> None:
    """Pick options of a multiselect, typing a part of each to filter the list. The list can fail
    to open on the first click (a popover of another widget closing): then it is tried again."""
    field = page.get_by_label(label)
    chosen = page.get_by_test_id("stMultiSelect").filter(has_text=label)
    for option in options:
        for _attempt in range(3):
            field.click()
            field.fill("")
            field.press_sequentially(option)
            try:
                page.get_by_role("option", name=re.compile(re.escape(option))).click(timeout=5_000)
            except PlaywrightTimeoutError:
                pass
            page.keyboard.press("Escape")
            try:
                expect(chosen).to_contain_text(option, timeout=3_000)
                break
            except AssertionError:
                continue
    for option in options:
        expect(chosen).to_contain_text(option)


def tick(page: Page, label: str) -> None:
    box = page.get_by_role("checkbox", name=label)
    page.get_by_text(label).click()
    expect(box).to_be_checked()


def masked_student_number(document_number: str) -> str:
    return "G" + document_number[:6] + "********" + document_number[-4:]


def test_clerk_imports_submits_county_approves_clerk_sees_masked_numbers(tall_page: Page, fresh_server: str) -> None:
    page = tall_page
    from tests.pages.test_children_pages import workbook_with

    workbook = workbook_with([GOOD[0], BAD, GOOD[1]])

    sign_in(page, fresh_server, "demo-clerk")
    open_nav(page, "批量导入", "批量导入幼儿信息")
    expect(page.get_by_role("button", name="下载幼儿信息导入模板（Excel）")).to_be_visible()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": "小一班幼儿.xlsx", "mimeType": XLSX, "buffer": workbook}]
    )
    start = page.get_by_role("button", name="开始导入")
    expect(start).to_be_enabled()
    start.click()
    expect(page.get_by_text("已导入 2 名，另有 1 行有错误未导入")).to_be_visible()
    expect(page.get_by_test_id("stMetric").filter(has_text="新增")).to_contain_text("2 名")
    expect(page.get_by_test_id("stMetric").filter(has_text="未导入")).to_contain_text("1 行")
    expect(table_cell(page, "郑小凡")).to_be_attached()  # the refused row, with what is wrong
    expect(page.get_by_role("button", name="下载标注了错误的表格")).to_be_visible()

    open_nav(page, "幼儿信息")
    page.get_by_role("tab", name=re.compile("提交审核")).click()
    choose(page, "或只提交所选幼儿", "周小雨", "吴天佑")
    tick(page, "我已核对所提交幼儿的信息真实、准确，确认提交县级教育部门审核")
    page.locator("button:visible", has_text="提交审核").last.click()
    expect(page.get_by_text("已提交 2 名幼儿的信息，等待县级教育部门审核。")).to_be_visible()

    logout_button(page).click()
    expect_login_page(page)
    sign_in(page, fresh_server, "demo-county")
    open_nav(page, "审核队列")
    expect(table_cell(page, "幼儿信息：吴天佑")).to_be_attached()
    page.get_by_text("批量审核通过").click()
    choose(page, "选择要通过的申请", "幼儿信息：周小雨", "幼儿信息：吴天佑")
    tick(page, "我已逐条核对所选申请的内容，确认全部审核通过")
    page.get_by_role("button", name="批量通过").click()
    expect(page.get_by_text("已通过 2 条申请。")).to_be_visible()

    logout_button(page).click()
    expect_login_page(page)
    sign_in(page, fresh_server, "demo-clerk")
    open_nav(page, "幼儿信息")
    page.get_by_label("姓名", exact=True).fill("周小雨")
    page.get_by_label("姓名", exact=True).press("Enter")
    # The list, and below it the opened record, show the number masked.
    expect(table_cell(page, masked_student_number(GOOD[0]["document_number"])).first).to_be_attached()
    expect(table_cell(page, "审核通过").first).to_be_attached()
    expect(page.get_by_text(GOOD[0]["document_number"])).to_have_count(0)  # never in the clear
    page.get_by_label("姓名", exact=True).fill("吴天佑")
    page.get_by_label("姓名", exact=True).press("Enter")
    expect(table_cell(page, masked_student_number(GOOD[1]["document_number"])).first).to_be_attached()
