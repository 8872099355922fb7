"""全国汇总 (R8.5): the ministry's national dashboard after two provinces' packages are imported."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from portal.auth.actor import SYSTEM_ACTOR
from portal.auth.roles import Duty, Level
from portal.services import exchange
from portal.services.accounts import NewUser, create_user
from portal.services.errors import ServiceError
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.pages.conftest import ROOT, login, registered_pages, texts
from tests.services.test_exchange import Deployment, two_provinces  # noqa: F401 (a fixture)

PAGE = "portal/pages/bureau/national.py"


def _ministry_leader() -> str:
    create_user(
        SYSTEM_ACTOR, NewUser("moe-leader", "部级领导", Level.MINISTRY, Duty.LEADER, DEMO_PASSWORD, is_demo=True)
    )
    return "moe-leader"


def _open(username: str) -> AppTest:
    at = login(username, DEMO_PASSWORD)
    at.switch_page(str(ROOT / PAGE)).run()
    assert not at.exception, at.exception
    return at


def test_the_national_dashboard_shows_each_province_from_its_latest_package(
    two_provinces: tuple[Deployment, dict[str, int]],  # noqa: F811
) -> None:
    deploy, _ = two_provinces
    packages = []
    for code in ("41", "13"):
        deploy.province(code)
        packages.append(exchange.export_package(SYSTEM_ACTOR).data)
    deploy.national()
    username = _ministry_leader()
    at = _open(username)
    assert "全国汇总" in registered_pages(at)
    assert "还没有导入任何省份的数据交换包" in texts(at)
    for data in packages:
        exchange.import_package(SYSTEM_ACTOR, data)
    at.run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "已报送省份 2 个" in shown and "已获得学籍的幼儿 3 人" in shown and "跨省重复学籍 2 人" in shown
    table = at.dataframe[0].value
    assert list(table["省份"]) == ["河北省", "河南省", "全国合计"]
    henan = table[table["省份"] == "河南省"].iloc[0]
    assert (henan["已获得学籍的幼儿数（人）"], henan["学籍占比"], henan["数据交换包"]) == (2, "50.00%", "第 1 期")
    assert len(at.dataframe[1].value) == 2  # the two imports
    # Outside the national deployment the page is not in the ministry's page set, and nothing breaks.
    deploy.province("41")
    at.run()
    assert not at.exception, at.exception
    assert "全国汇总" not in registered_pages(at) and "您没有访问此页面的权限" in texts(at)


def test_a_province_leader_does_not_get_the_national_dashboard(
    two_provinces: tuple[Deployment, dict[str, int]],  # noqa: F811
) -> None:
    deploy, _ = two_provinces
    deploy.national()
    create_user(
        SYSTEM_ACTOR,
        NewUser(
            "henan-leader", "省级领导", Level.PROVINCE, Duty.LEADER, DEMO_PASSWORD, region_code="410000", is_demo=True
        ),
    )
    at = login("henan-leader", DEMO_PASSWORD)
    assert not at.exception, at.exception
    assert "全国汇总" not in registered_pages(at) and "进度看板" in registered_pages(at)
    with pytest.raises(ServiceError, match="只对教育部的工作人员开放"):  # nor does the service answer
        exchange.national_dashboard(actor_for("henan-leader"))
