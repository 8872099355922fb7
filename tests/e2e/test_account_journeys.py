"""An account's first day in a real browser: the province's system administrator opens it and
reads out the temporary password; its owner logs in, sets a password and enrols the second factor."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.e2e.helpers import choose
from tests.e2e.test_login_journeys import DEMO_PASSWORD, log_in, logout_button, open_login_form, submit_login

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or on CI fails) every test before this is used
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "Qz7!vR2#mK9p"


def test_a_new_reviewer_gets_a_temporary_password_and_enrols_the_second_factor(page: Page, fresh_server: str) -> None:
    import pyotp

    log_in(page, fresh_server, "demo-sysadmin", DEMO_PASSWORD)
    page.get_by_test_id("stSidebar").get_by_role("link", name="用户账户").click()
    expect(page.get_by_role("heading", name="用户账户")).to_be_visible()
    page.get_by_text("新建账户").click()
    choose(page, page.get_by_role("combobox", name="层级"), "地市级")
    expect(page.get_by_role("textbox", name="管辖区划代码")).to_be_visible()
    page.get_by_role("textbox", name="用户名（登录名）").fill("kf-reviewer")
    page.get_by_role("textbox", name="真实姓名").first.fill("开封审核员")
    page.get_by_role("textbox", name="管辖区划代码").fill("410200")
    page.get_by_role("button", name="创建账户").click()
    expect(page.get_by_text("签发临时密码").first).to_be_visible()
    temporary = page.get_by_test_id("stCode").first.inner_text().strip()
    assert len(temporary) >= 16
    logout_button(page).click()

    open_login_form(page, fresh_server)
    submit_login(page, "kf-reviewer", temporary)
    expect(page.get_by_text("临时密码").first).to_be_visible()
    page.get_by_label("新密码", exact=True).fill("weakpassword")
    page.get_by_label("再次输入新密码").fill("weakpassword")
    page.get_by_role("button", name="设置新密码").click()
    expect(page.get_by_text("至少三类")).to_be_visible()
    page.get_by_label("新密码", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("再次输入新密码").fill(NEW_PASSWORD)
    page.get_by_role("button", name="设置新密码").click()

    expect(page.get_by_text("请先绑定身份验证器")).to_be_visible()
    expect(page.get_by_role("img").first).to_be_visible()  # the QR code
    secret = page.get_by_test_id("stCode").first.inner_text().replace(" ", "").strip()
    page.get_by_label("动态口令").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="绑定并登录").click()
    expect(logout_button(page)).to_be_visible()
    expect(page.get_by_text("地市级审核员").first).to_be_visible()
