"""Bulletins (通报): issued by a leader for a date, ranked, summarised (first, last, who moved most
since the last one), archived as a workbook (read back with openpyxl) and a PDF with an embedded
Chinese font (rendered with pdftoppm when available), published to the levels below only."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from portal.auth.actor import Actor
from portal.auth.roles import Duty, Level
from portal.data import db
from portal.data.models import StatBaseline
from portal.services import bulletins, progress, workflow
from portal.services.errors import NotFound, ServiceError
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.services.test_progress import numbered_in_county


def leader(level: Level, region_code: str) -> Actor:
    from portal.auth.actor import SYSTEM_ACTOR
    from portal.services.accounts import NewUser, create_user

    username = f"leader-{region_code}"
    create_user(SYSTEM_ACTOR, NewUser(username, "测试领导", level, Duty.LEADER, DEMO_PASSWORD, region_code=region_code))
    return actor_for(username)


def needs_font() -> None:
    if bulletins.font_file() is None:
        from tests.conftest import skip_or_fail

        skip_or_fail("no CJK font for the PDF (install fonts-noto-cjk)")


def test_a_city_bulletin_ranked_summarised_archived_and_published_down(
    actors: dict[str, Actor], tmp_path: Path
) -> None:
    needs_font()
    numbered_in_county(actors, 3)
    with db.session_scope(write=True) as session:
        session.add(StatBaseline(county_code="410122", year=2026, province_code="41", city_code="410100", children=2))
        session.add(StatBaseline(county_code="410102", year=2026, province_code="41", city_code="410100", children=10))
    city_leader = leader(Level.CITY, "410100")
    first_id = bulletins.issue_bulletin(city_leader)
    (first,) = bulletins.list_bulletins(city_leader)
    assert first.id == first_id and "本期为首期通报" in first.summary
    assert "学籍号获取率最高的是中牟县（150.00%），最低的是" in first.summary
    name, data = bulletins.read_bulletin(city_leader, first_id, "xlsx")
    assert name.endswith(".xlsx") and "郑州市" in name
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    assert sheet["A1"].value.startswith("郑州市学前教育管理信息系统建设进度通报")
    assert [c.value for c in sheet[4]][:3] == ["序号", "县区", "系统内学前机构总数（个）"]
    assert [sheet.cell(row=5, column=c).value for c in (1, 2, 9, 10)] == ["1", "中牟县", 3, 1.5]  # ranked first
    assert sheet._charts  # the bar chart
    _, document = bulletins.read_bulletin(city_leader, first_id, "pdf")
    assert document.startswith(b"%PDF") and b"FontFile" in document  # the font is embedded
    if shutil.which("pdftoppm"):
        (tmp_path / "b.pdf").write_bytes(document)
        subprocess.run(
            ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(tmp_path / "b.pdf"), str(tmp_path / "p")],
            check=True,
        )
        assert list(tmp_path.glob("p*.png"))
        # The page's text carries the ranked table: 中牟县 (150%) ranked above 中原区 (0%).
        text = subprocess.run(
            ["pdftotext", "-layout", "-f", "1", "-l", "1", str(tmp_path / "b.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "郑州市学前教育管理信息系统建设进度通报" in text
        table = text[text.index("序号") :]
        assert table.index("中牟县") < table.index("中原区") and "150.00%" in table

    # A second bulletin after more children are numbered in 中原区: who moved most.
    from portal.services import children
    from tests.factories import clerk_of, reviewer_of, with_class
    from tests.services.test_children import enter

    other = clerk_of("4101020001")
    with_class(other)
    child_id = enter(other, name="张小华", sequence=9)
    children.submit_children(other, [child_id])
    reviewer = reviewer_of(Level.COUNTY, "410102")
    for row in workflow.queue(reviewer, kind=children.KIND_CHILD).rows:
        workflow.decide(reviewer, row.id, "approve")
    bulletins.issue_bulletin(city_leader)
    latest = bulletins.list_bulletins(city_leader)[0]
    assert "与上期通报相比，中原区进展最快，学籍号获取率提高 10.00 个百分点" in latest.summary

    # Published down: the county and its kindergarten read it; another city does not; the
    # province does not see a city's bulletin.
    assert [b.id for b in bulletins.list_bulletins(actors["county"])][-1] == first_id
    assert first_id in [b.id for b in bulletins.list_bulletins(actors["clerk"])]
    assert bulletins.list_bulletins(actors["province"]) == []
    with pytest.raises(NotFound):
        bulletins.read_bulletin(actors["province"], first_id, "pdf")


def test_only_leaders_issue_and_not_for_a_future_day(actors: dict[str, Actor]) -> None:
    with pytest.raises(ServiceError, match="领导发布"):
        bulletins.issue_bulletin(actors["county"])
    province_leader = actors["province"]
    with pytest.raises(ServiceError, match="不能晚于今天"):
        bulletins.issue_bulletin(province_leader, workflow.local_today() + timedelta(days=1))


def test_the_summary_without_institutions_and_without_a_baseline() -> None:
    rows = [
        progress.ProgressRow("410100", "郑州市", 10, 8, 6, None, 5, 0),
        progress.ProgressRow("410200", "开封市", 4, 1, 1, None, 0, 0),
    ]
    total = progress.ProgressRow("410000", "合计", 14, 9, 7, None, 5, 0)
    table = progress.ProgressTable("410000", "河南省", "province", "地市", None, rows, total)
    text = bulletins.summary_text(table, {"410100": 50.0, "410200": 0.0}, date(2026, 11, 28))
    assert "机构基本信息审核率最高的是郑州市（60.00%），最低的是开封市（25.00%）" in text
    assert "开封市进展最快，机构基本信息审核率提高 25.00 个百分点" in text
    empty = progress.ProgressTable(
        "410000", "河南省", "province", "地市", None, [], progress.ProgressRow("410000", "合计", 0, 0, 0, None, 0, 0)
    )
    assert "尚无学前教育机构纳入系统" in bulletins.summary_text(empty, None, date(2026, 11, 28))


def test_a_bulletin_for_an_earlier_date_uses_that_month_end(actors: dict[str, Actor]) -> None:
    from datetime import UTC, datetime

    from portal.services import snapshots

    needs_font()
    snapshots.take_due(now=datetime(2026, 9, 29, 16, 30, tzinfo=UTC))  # 30 September, 00:30 in Shanghai
    numbered_in_county(actors, 2)  # after September's month-end
    province = actors["province"]
    with pytest.raises(ServiceError, match="之前没有月末快照"):
        bulletins.issue_bulletin(province, date(2026, 9, 15))
    bulletin_id = bulletins.issue_bulletin(province, date(2026, 10, 20))
    (row,) = bulletins.list_bulletins(province)
    assert row.id == bulletin_id and row.as_of == date(2026, 9, 30)  # the month-end it shows
    assert "截至 2026年09月30日" in row.summary and "已获得学籍号的幼儿 0 人" in row.summary
    with pytest.raises(ServiceError, match="县级通报只能按当日数据生成"):
        bulletins.issue_bulletin(leader(Level.COUNTY, "410122"), date(2026, 10, 20))
