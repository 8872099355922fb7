"""The provincial leader in a real browser: opens the progress dashboard, drills down to 郑州市 and
then 中牟县 (its kindergartens), goes back up by the breadcrumb, issues a bulletin and downloads
its PDF and workbook."""

from __future__ import annotations

import re

import pytest

from tests.e2e.helpers import choose
from tests.e2e.test_children_journey import open_nav, settle, sign_in
from tests.e2e.test_login_journeys import table_cell

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the `browser` fixture skips (or on CI fails) every test before this is used
    expect = None  # type: ignore[assignment]
    Page = object  # type: ignore[assignment,misc]

pytestmark = pytest.mark.e2e


def drill(page: Page, label: str, option: str) -> None:
    """Pick a region below and open it. The list can fail to open on the first click (the page's
    cookie component rerunning): then it is clicked again; typing filters it, Enter takes the match."""
    box = page.get_by_label(label)
    if box.input_value() != option:
        choose(page, box, option)
    expect(box).to_have_value(option)
    page.get_by_role("button", name="查看", exact=True).click()
    settle(page)


def test_the_leader_drills_down_and_downloads_a_bulletin(page: Page, fresh_server: str) -> None:
    sign_in(page, fresh_server, "demo-province")
    open_nav(page, "进度看板")
    settle(page)
    expect(table_cell(page, "郑州市")).to_be_attached()
    drill(page, "查看下一级（地市）", "郑州市")
    expect(table_cell(page, "中牟县")).to_be_attached()
    drill(page, "查看下一级（县区）", "中牟县")
    expect(table_cell(page, "中牟县官渡镇小庙王村幼儿园（4101220002）")).to_be_attached()
    expect(table_cell(page, "合计")).to_be_attached()
    page.get_by_role("button", name="河南省").click()
    expect(table_cell(page, "郑州市")).to_be_attached()

    open_nav(page, "通报")
    page.get_by_role("button", name="生成并发布").click()
    expect(page.get_by_text(re.compile(r"通报已发布（编号 \d+）"))).to_be_visible()
    page.get_by_text("下载文件").first.click()
    with page.expect_download() as pdf:
        page.get_by_role("button", name="PDF").click()
    assert pdf.value.suggested_filename.startswith("河南省学前教育管理信息系统建设进度通报")
    assert pdf.value.suggested_filename.endswith(".pdf")
    with page.expect_download() as workbook:
        page.get_by_role("button", name="Excel").click()
    assert workbook.value.suggested_filename.endswith(".xlsx")
