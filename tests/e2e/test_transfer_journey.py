"""A transfer between two demo kindergartens of 中牟县 in a real browser: 实验幼儿园's clerk asks for a
child of 小庙王村幼儿园 by student number and name (a wrong name refused first), 小庙王村's clerk
agrees, 实验幼儿园's clerk completes it into a class and finds the child in its list with the same
student number, masked."""

from __future__ import annotations

import re
from datetime import date

import pytest

from portal.services import children, workflow
from portal.services.demo import _CHILDREN, _resident_id
from tests.e2e.test_children_journey import open_nav, settle, sign_in
from tests.e2e.test_login_journeys import expect_login_page, logout_button, table_cell

try:
    from playwright.sync_api import Page, expect
except ImportError:  # the `browser` fixture skips (or on CI fails) every test before this is used
    expect = None  # type: ignore[assignment]
    Page = object  # type: ignore[assignment,misc]

pytestmark = pytest.mark.e2e

RECEIVER = "demo-clerk-4101220004"  # 中牟县实验幼儿园
CHILD = "李浩然"


def demo_student_number(name: str) -> str:
    """The G number the demo gave one of its children (G + the resident ID it made for him)."""
    index = next(i for i, row in enumerate(_CHILDREN) if row[0] == name)
    _, gender, age, month, day, *_ = _CHILDREN[index]
    start_year = int(children.school_year_of(workflow.local_today())[:4])
    return "G" + _resident_id("410122", date(start_year - age, month, day), 11 + index, gender == "男")


def pick(page: Page, label: str, option: str) -> None:
    page.get_by_label(label).click()
    page.get_by_role("option", name=re.compile(re.escape(option))).click()


def start_transfer(page: Page, number: str, name: str) -> None:
    page.get_by_label("学籍号 *").fill(number)
    page.get_by_label("幼儿姓名 *").fill(name)
    pick(page, "转入班级 *", "小一班")
    page.get_by_label("转园原因 *").fill("随父母搬至县城居住")
    page.get_by_role("button", name="发起转园").click()


def test_a_transfer_between_two_demo_kindergartens(page: Page, fresh_server: str) -> None:
    number = demo_student_number(CHILD)
    masked = number[:7] + "********" + number[-4:]

    sign_in(page, fresh_server, RECEIVER)
    open_nav(page, "转园", "转园办理")
    start_transfer(page, number, "李皓然")
    expect(page.get_by_text("学籍号与姓名不匹配")).to_be_visible()
    settle(page)
    start_transfer(page, number, CHILD)
    expect(page.get_by_text(re.compile(r"已发起转园（编号 \d+），等待转出园同意"))).to_be_visible()
    expect(table_cell(page, CHILD)).to_be_attached()

    logout_button(page).click()
    expect_login_page(page)
    sign_in(page, fresh_server, "demo-clerk")
    open_nav(page, "转园", "转园办理")
    page.get_by_role("tab", name=re.compile("转出本园")).click()
    agree = page.get_by_role("button", name="同意")
    request = page.get_by_test_id("stVerticalBlock").filter(has_text=CHILD).filter(has=agree).last
    expect(request).to_contain_text("中牟县实验幼儿园")
    request.get_by_role("button", name="同意").click()
    expect(page.get_by_text(f"已同意{CHILD}转往中牟县实验幼儿园。")).to_be_visible()

    logout_button(page).click()
    expect_login_page(page)
    sign_in(page, fresh_server, RECEIVER)
    open_nav(page, "转园", "转园办理")
    expect(page.get_by_text("待本园办理转入")).to_be_visible()
    page.get_by_role("button", name="办理转入").click()
    expect(page.get_by_text(f"{CHILD}已转入本园，学籍号不变。")).to_be_visible()

    open_nav(page, "幼儿信息")
    expect(table_cell(page, CHILD).first).to_be_attached()
    expect(table_cell(page, masked).first).to_be_attached()
    expect(page.get_by_text(number)).to_have_count(0)  # never in the clear
