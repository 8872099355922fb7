"""学前教育项目 and 项目进展看板 through AppTest: the county records a project on the page and
submits it, the city approves it in its queue, the county enters the month's progress; a bad form
shows the service's message and writes nothing; the ministry records central funds; the province's
leader opens the dashboard. The chart builders are plain functions, tested on their figures."""

from __future__ import annotations

from decimal import Decimal

from sqlmodel import func, select
from streamlit.testing.v1 import AppTest

from portal.auth.actor import Actor
from portal.auth.roles import Level
from portal.data import db
from portal.data.models import CentralFund, Project, ProjectProgress
from portal.services import projects, workflow
from portal.services.projects import DashboardRow, ProjectInput
from portal.services.snapshots import ProjectTrendRow
from portal.ui.projects import allocation_chart, trend_chart
from tests.conftest import DEMO_PASSWORD
from tests.pages.conftest import ROOT, click, login, texts
from tests.services.test_projects import ministry_reviewer

PAGE = "portal/pages/common/projects.py"
DASHBOARD = "portal/pages/bureau/project_dashboard.py"
QUEUE = "portal/pages/common/review_queue.py"


def open_page(username: str, page: str = PAGE) -> AppTest:
    at = login(username, DEMO_PASSWORD)
    at.switch_page(str(ROOT / page)).run()
    assert not at.exception, at.exception
    return at


def stored_projects() -> list[Project]:
    with db.session_scope() as session:
        return list(session.exec(select(Project)).all())


def fill_new(at: AppTest, **values: str) -> AppTest:
    for name, value in values.items():
        widget = at.text_area(key=f"project_new_{name}") if name in ("purpose", "institutions") else None
        (widget or at.text_input(key=f"project_new_{name}")).input(value)
    return click(at, "保存项目")


def test_the_county_records_and_submits_the_city_approves_the_county_updates(actors: dict[str, Actor]) -> None:
    at = open_page("demo-county")
    assert "学前教育项目" in [t.value for t in at.title]
    assert "还没有本级项目" in texts(at)
    at = fill_new(at, name="中牟县幼儿园安全设施改造", amount="450000.00", institutions="4101220002:200000")
    assert not at.exception, at.exception
    assert any("已保存" in s.value for s in at.success), texts(at)
    [saved] = stored_projects()
    assert (saved.name, saved.amount, saved.state, saved.county_code) == (
        "中牟县幼儿园安全设施改造",
        Decimal("450000.00"),
        "saved",
        "410122",
    )
    at = click(at, "提交审核")
    assert any("已提交上级审核" in s.value for s in at.success), texts(at)
    assert stored_projects()[0].state == "submitted"

    city = open_page("demo-city", QUEUE)
    assert "学前教育项目：中牟县幼儿园安全设施改造" in texts(city)
    frames = [d.value for d in city.dataframe if "项目" in d.value.columns]
    assert any("450,000.00 元" in list(frame["新值"]) for frame in frames), frames
    city = click(city, "审核通过")
    assert not city.exception, city.exception
    assert stored_projects()[0].state == "approved"

    at = open_page("demo-county")
    pid = saved.id or 0
    at.text_input(key=f"progress_spent_{pid}").input("120000.5")
    at.text_input(key=f"progress_percent_{pid}").input("30")
    at = click(at, "保存本月进展")
    assert not at.exception, at.exception
    assert any("累计支出 120,000.50 元" in s.value for s in at.success), texts(at)
    with db.session_scope() as session:
        row = session.exec(select(ProjectProgress)).one()
        assert (row.spent, row.percent) == (Decimal("120000.50"), Decimal("30.00"))


def test_a_bad_form_shows_the_message_and_writes_nothing(actors: dict[str, Actor]) -> None:
    at = open_page("demo-county")
    at = fill_new(at, name="", amount="12.345", institutions="4101020001")
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any("请填写项目名称" in e for e in errors) and any("最多保留两位小数" in e for e in errors), errors
    at = fill_new(at, name="培训项目", amount="1000", institutions="4101020001")
    assert any("不在本项目所属地区（中牟县）内" in e.value for e in at.error), texts(at)
    assert stored_projects() == []


def test_the_ministry_records_central_funds_on_the_page(actors: dict[str, Actor]) -> None:
    ministry_reviewer()
    at = open_page("reviewer-ministry")
    assert "还没有录入中央资金" in texts(at)
    at.text_input(key="fund_amount").input("1.5e8")
    at = click(at, "保存")
    assert any("不是有效的数字" in e.value for e in at.error)
    at.text_input(key="fund_amount").input("128000000.00")
    at = click(at, "保存")
    assert any("128,000,000.00 元" in s.value for s in at.success), texts(at)
    with db.session_scope() as session:
        assert session.exec(select(func.count()).select_from(CentralFund)).one() == 1
    funds = next(d.value for d in at.dataframe if "中央资金(元)" in d.value.columns)
    assert list(funds["省份"]) == ["河南省"]


def test_the_dashboard_renders_for_the_province(actors: dict[str, Actor]) -> None:
    from tests.factories import reviewer_of

    county, city = actors["county"], actors["city"]
    today = workflow.local_today()
    pid = projects.save_project(
        county, ProjectInput("中牟县公办幼儿园扩容工程", "central", today.year, "3200000.00", institutions="4101220001")
    )
    workflow.decide(city, projects.submit_project(county, pid), "approve")
    projects.update_progress(county, pid, spent="800000", percent="25")
    other = projects.save_project(city, ProjectInput("郑州市学前教育信息化建设", "city", today.year, "1500000"))
    workflow.decide(reviewer_of(Level.PROVINCE, "410000"), projects.submit_project(city, other), "approve")
    at = open_page("demo-province", DASHBOARD)
    assert "项目进展看板" in [t.value for t in at.title]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["审核通过的项目"] == "2 个" and metrics["安排金额"] == "470.00 万元"
    table = next(d.value for d in at.dataframe if "地市" in d.value.columns)
    assert list(table["地市"]) == ["郑州市", "合计"]
    assert list(table["支出比例"]) == ["17.02%", "17.02%"]
    assert len(at.get("plotly_chart")) >= 1
    drilled = next(d.value for d in at.dataframe if "项目名称" in d.value.columns)
    assert sorted(drilled["项目名称"]) == ["中牟县公办幼儿园扩容工程", "郑州市学前教育信息化建设"]


def test_the_charts_are_built_from_the_rows() -> None:
    rows = [
        DashboardRow("410200", "开封市", 2, Decimal("1100000.30"), Decimal("110000.03"), Decimal("20.01"), 2),
        DashboardRow("410100", "郑州市", 3, Decimal("3250000.51"), Decimal("1883333.38"), Decimal("122.50"), 2),
    ]
    figure = allocation_chart(rows, "地市")
    allocated, spent = figure.data
    assert list(allocated.x) == ["开封市", "郑州市"]
    assert list(allocated.y) == [110.0, 325.0] and list(spent.y) == [11.0, 188.33]
    assert list(spent.customdata) == [10.0, 57.95]
    assert figure.layout.title.text == "各地市项目资金安排与支出（万元）"
    trend = trend_chart(
        [
            ProjectTrendRow("2026-10", 2, Decimal("4060000.00"), Decimal("250000.25"), Decimal("30.50")),
            ProjectTrendRow("2026-11", 2, Decimal("4060000.00"), Decimal("400000.00"), Decimal("50.00")),
        ],
        "郑州市",
    )
    share, progress = trend.data
    assert list(share.x) == ["2026-10", "2026-11"]
    assert list(share.y) == [6.16, 9.85] and list(progress.y) == [15.25, 25.0]
