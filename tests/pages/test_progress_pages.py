"""进度看板 through AppTest: the province's table of cities with a total row and the deadlines, a
drill-down to a city and back up by the breadcrumb, the county's institutions, a filter."""

from __future__ import annotations

import re

import pandas as pd
from streamlit.testing.v1 import AppTest

from portal.auth.actor import Actor
from tests.conftest import DEMO_PASSWORD
from tests.pages.conftest import ROOT, click, login, texts
from tests.services.test_progress import numbered_in_county

PAGE = "portal/pages/bureau/progress.py"


def open_page(username: str) -> AppTest:
    at = login(username, DEMO_PASSWORD)
    at.switch_page(str(ROOT / PAGE)).run()
    assert not at.exception, at.exception
    return at


def table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "名次" in d.value.columns)


def test_the_province_drills_down_to_a_city_and_back(actors: dict[str, Actor]) -> None:
    numbered_in_county(actors, 2)
    at = open_page("demo-province")
    assert "进度看板" in [t.value for t in at.title]
    assert "距“全部幼儿信息录入”截止" in [m.label for m in at.metric]
    assert "尚未导入统计基数" in texts(at)
    frame = table(at)
    assert len(frame) == 19 and list(frame["地市"])[-1] == "合计"  # 18 city-level units and the total
    zhengzhou = frame[frame["地市"] == "郑州市"].iloc[0]
    assert (zhengzhou["系统内学前机构总数"], zhengzhou["已获学籍号幼儿数"]) == (9, 2)
    at.session_state["progress_region"] = "410100"
    at.run()
    city = table(at)
    assert "县区" in city.columns and "中牟县" in list(city["县区"])
    click(at, "河南省")  # the breadcrumb back up
    assert "地市" in table(at).columns


def test_the_county_sees_its_institutions_and_a_filter_narrows_them(actors: dict[str, Actor]) -> None:
    at = open_page("demo-county")
    frame = table(at)
    assert "机构" in frame.columns and len(frame) == 6  # five institutions and the total
    at.selectbox(key="progress_ownership").select("民办").run()
    narrowed = table(at)
    assert [n for n in narrowed["机构"] if n != "合计"] == ["中牟县官渡镇小庙王村幼儿园（4101220002）"]


def test_the_provincial_leader_issues_a_bulletin_and_the_clerk_reads_it(actors: dict[str, Actor]) -> None:
    from tests.services.test_bulletins import needs_font

    needs_font()
    at = login("demo-province", DEMO_PASSWORD)
    at.switch_page(str(ROOT / "portal/pages/common/bulletins.py")).run()
    assert "还没有发给您所在地区的通报。" in texts(at)
    click(at, "生成并发布")
    assert not at.exception, at.exception
    assert any("通报已发布" in s.value for s in at.success)
    clerk = login("demo-clerk", DEMO_PASSWORD)
    clerk.switch_page(str(ROOT / "portal/pages/common/bulletins.py")).run()
    shown = texts(clerk)
    assert "河南省学前教育管理信息系统建设进度通报" in shown and "生成并发布" not in [b.label for b in clerk.button]
    clerk.toggle[0].set_value(True).run()
    assert not clerk.exception, clerk.exception


def test_the_dashboard_shows_the_change_since_the_last_month_end_and_the_trend(actors: dict[str, Actor]) -> None:
    from datetime import UTC, datetime, timedelta

    from portal.services import snapshots
    from portal.services.workflow import local_today

    # The two month-ends before today (the page takes a due one itself when it opens: the test
    # takes them first, so that the page compares with the latest, taken before the change).
    latest = local_today().replace(day=1) - timedelta(days=1)
    earlier = latest.replace(day=1) - timedelta(days=1)
    for day in (earlier, latest):  # 00:30 in Shanghai on the month's last day
        snapshots.take_due(now=datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=7, minutes=30))
    snapshots.take_due()  # today's, should today be a month's last day
    numbered_in_county(actors, 2)
    at = open_page("demo-county")
    numbered = next(m for m in at.metric if m.label == "中牟县·已获学籍号幼儿")
    assert numbered.value == "2"
    assert re.search(r"\+2（较 \d{4}-\d{2} 月末）", str(numbered.proto.delta)), numbered.proto.delta
    assert len(at.get("plotly_chart")) >= 1
