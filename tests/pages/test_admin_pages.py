"""The administrators' screens and the institution list, through AppTest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.services.login import authenticate, list_locks
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.pages.conftest import ROOT, click, login, texts


def test_security_administrator_lifts_a_lock_after_confirming(app_demo: str) -> None:
    start = datetime.now(UTC) - timedelta(minutes=1)
    for i in range(5):
        authenticate("demo-clerk", "Wrong#Password1", now=start + timedelta(seconds=i))
    at = login("demo-secadmin", DEMO_PASSWORD)
    at.switch_page(str(ROOT / "portal/pages/admin/locks.py")).run()
    assert at.dataframe[0].value["用户名"].tolist() == ["demo-clerk"]
    click(at, "解除锁定")  # without ticking the confirmation
    assert "请先核实" in at.error[0].value
    assert list_locks(actor_for("demo-secadmin"))
    at.checkbox[0].check()  # form widgets take effect with the submit
    click(at, "解除锁定")
    assert "已解除 demo-clerk 的锁定" in texts(at)
    assert not list_locks(actor_for("demo-secadmin"))
    assert authenticate("demo-clerk", DEMO_PASSWORD).ok


def test_auditor_reads_logins_and_failures(app_demo: str) -> None:
    authenticate("demo-county", "Wrong#Password1")
    at = login("demo-auditor", DEMO_PASSWORD)
    at.switch_page(str(ROOT / "portal/pages/admin/audit_log.py")).run()
    frame = at.dataframe[0].value
    assert frame["操作"].iloc[0] == "登录" and frame["用户名"].iloc[0] == "demo-auditor"
    assert "登录失败" in frame["操作"].tolist() and "创建用户" in frame["操作"].tolist()
    at.selectbox(key="audit_action").select("登录失败").run()
    assert at.dataframe[0].value["操作"].tolist() == ["登录失败"]


def test_institution_list_pages_on_the_server(app_demo: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.settings import reset_settings_cache

    monkeypatch.setenv("PORTAL_PAGE_SIZE", "5")
    reset_settings_cache()
    at = login("demo-province", DEMO_PASSWORD)
    at.switch_page(str(ROOT / "portal/pages/common/institutions.py")).run()
    first = at.dataframe[0].value["机构标识码"].tolist()
    assert len(first) == 5 and "第 1 / 3 页，共 13 条" in texts(at)
    at.button(key="inst_pager_next").click().run()
    second = at.dataframe[0].value["机构标识码"].tolist()
    assert len(second) == 5 and second[0] > first[-1]
    at.button(key="inst_pager_prev").click().run()
    assert at.dataframe[0].value["机构标识码"].tolist() == first
    at.text_input(key="inst_search").input("济源").run()
    assert at.dataframe[0].value["机构名称"].tolist() == ["济源市第一幼儿园"]


def test_clerk_home_shows_the_institution(app_demo: str) -> None:
    at = login("demo-clerk", DEMO_PASSWORD)
    content = texts(at)
    assert "**机构标识码**：4101220002" in content and "**普惠性**：是" in content
    assert "**所在地区**：河南省郑州市中牟县官渡镇" in content
