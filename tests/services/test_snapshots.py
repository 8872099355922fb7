"""Month-end snapshots and the monthly update's reminders (issue 6, R5.3): one snapshot per month and
region even when run twice, catch-up of missed month-ends with an injected clock, the 00:00
Asia/Shanghai boundary, rows the database refuses to change, the trend and the change since last
month in the user's scope, and the reminders from the 20th."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import func, select
from typer.testing import CliRunner

from portal.__main__ import app
from portal.auth.actor import Actor
from portal.data import db
from portal.data.models import MonthEndSnapshot, Region, StatBaseline
from portal.services import children, progress, snapshots
from portal.services.errors import NotFound, PermissionDenied
from tests.factories import TODAY, clerk_of, with_class
from tests.services.test_children import approve_all, enter

NOV_END = datetime(2026, 11, 29, 16, 0, tzinfo=UTC)  # 30 November 00:00 in Asia/Shanghai
OTHER = "4101220004"  # 中牟县实验幼儿园
ELSEWHERE = "4101020001"  # 郑州市中原区伊河路幼儿园


def stored(month: str | None = None) -> dict[tuple[str, str], MonthEndSnapshot]:
    with db.session_scope() as session:
        query = select(MonthEndSnapshot)
        if month:
            query = query.where(MonthEndSnapshot.month == month)
        return {(s.month, s.region_code): s for s in session.exec(query).all()}


def henan_regions() -> set[str]:
    with db.session_scope() as session:
        return set(
            session.exec(
                select(Region.code).where(Region.province_code == "41", Region.level.in_(snapshots.LEVELS))  # type: ignore[attr-defined]
            ).all()
        )


def figures(row: object) -> tuple[object, ...]:
    return tuple(getattr(row, name) for name in snapshots.FIGURES)


@pytest.fixture(autouse=True)
def fresh_check() -> None:
    snapshots._checked.clear()  # the portal's hourly check starts afresh in each test


def test_the_month_end_falls_at_midnight_in_shanghai() -> None:
    assert snapshots.due_at("2026-11") == NOV_END
    assert snapshots.due_at("2028-02") == datetime(2028, 2, 28, 16, 0, tzinfo=UTC)  # 29 February, a leap year
    assert snapshots.latest_due_month(NOV_END - timedelta(seconds=1)) == "2026-10"
    assert snapshots.latest_due_month(NOV_END) == "2026-11"
    assert snapshots.latest_due_month(datetime(2026, 12, 30, 16, 0, tzinfo=UTC)) == "2026-12"
    assert snapshots.latest_due_month(datetime(2027, 1, 1, 3, 0, tzinfo=UTC)) == "2026-12"
    assert snapshots.due_months("2026-11", datetime(2027, 2, 1, tzinfo=UTC)) == ["2026-12", "2027-01"]
    assert snapshots.due_months(None, datetime(2027, 2, 1, tzinfo=UTC)) == ["2027-01"]


def test_one_snapshot_per_month_and_region_even_when_run_twice(actors: dict[str, Actor]) -> None:
    with db.session_scope(write=True) as session:
        session.add(StatBaseline(county_code="410122", year=2026, province_code="41", city_code="410100", children=2))
    with_class(actors["clerk"])
    enter(actors["clerk"])
    assert snapshots.take_due(now=NOV_END) == ["2026-11"]
    assert snapshots.take_due(now=NOV_END) == []
    assert snapshots.take_due(now=NOV_END + timedelta(hours=20)) == []
    rows = stored()
    assert Counter(month for month, _ in rows) == {"2026-11": len(henan_regions())}
    assert {code for _, code in rows} == henan_regions()  # the province, its 18 cities and every county
    # The figures are the progress table's, per county, city and province.
    for actor, code in ((actors["county"], "410122"), (actors["city"], "410100"), (actors["province"], "410000")):
        total = progress.progress_table(actor).total
        assert figures(rows[("2026-11", code)]) == figures(total), code
    county = rows[("2026-11", "410122")]
    assert (county.entered, county.baseline, county.baseline_year) == (1, 2, 2026)
    assert (county.level, county.city_code, county.county_code) == ("county", "410100", "410122")
    assert rows[("2026-11", "410102")].baseline is None  # no statistics for 中原区
    assert rows[("2026-11", "410000")].baseline == 2
    assert not county.caught_up and county.taken_at == NOV_END
    # The unique index holds whoever inserts.
    with pytest.raises(IntegrityError), db.session_scope(write=True) as session:
        session.add(
            MonthEndSnapshot(
                month="2026-11", region_code="410122", level="county", province_code="41", taken_at=NOV_END
            )
        )


def test_the_boundary_is_midnight_in_shanghai(actors: dict[str, Actor]) -> None:
    before = NOV_END - timedelta(minutes=1)  # 29 November 23:59 in Shanghai
    assert snapshots.take_due(now=before) == ["2026-10"]  # a first run takes the latest due month-end only
    assert stored("2026-10")[("2026-10", "410122")].caught_up  # October had ended: caught up
    assert snapshots.take_due(now=before) == []  # November's is not due at 15:59 UTC
    assert snapshots.take_due(now=NOV_END) == ["2026-11"]
    november = stored("2026-11")[("2026-11", "410122")]
    assert not november.caught_up and november.taken_at == NOV_END


def test_missed_month_ends_are_caught_up_in_order_with_the_current_counters(actors: dict[str, Actor]) -> None:
    august = datetime(2026, 8, 30, 16, 0, tzinfo=UTC)  # 31 August 00:00 in Shanghai
    assert snapshots.take_due(now=august) == ["2026-08"]
    with_class(actors["clerk"])
    enter(actors["clerk"])
    enter(actors["clerk"], name="王小红", gender="女", sequence=2)
    later = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    assert snapshots.take_due(now=later) == ["2026-09", "2026-10"]
    rows = stored()
    assert sorted({month for month, _ in rows}) == ["2026-08", "2026-09", "2026-10"]
    for month in ("2026-09", "2026-10"):
        row = rows[(month, "410122")]
        assert (row.caught_up, row.taken_at, row.entered) == (True, later, 2)  # the counters of today
    assert (rows[("2026-08", "410122")].caught_up, rows[("2026-08", "410122")].entered) == (False, 0)
    assert snapshots.take_due(now=later) == []
    assert [r.month for r in snapshots.trend(actors["county"])] == ["2026-08", "2026-09", "2026-10"]


def test_the_command_takes_what_is_due_once(actors: dict[str, Actor]) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["snapshot"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("snapshot taken: ")
    second = runner.invoke(app, ["snapshot"])
    assert second.output.strip() == "no month-end snapshot due"
    with db.session_scope() as session:
        assert session.exec(select(func.count()).select_from(MonthEndSnapshot)).one() == len(henan_regions())


def test_the_portals_check_looks_at_most_once_an_hour(actors: dict[str, Actor]) -> None:
    first = NOV_END - timedelta(minutes=30)
    assert snapshots.check_due(now=first) == ["2026-10"]
    assert snapshots.check_due(now=NOV_END + timedelta(minutes=10)) == []  # due, but checked 40 minutes ago
    assert snapshots.check_due(now=first + timedelta(hours=1)) == ["2026-11"]
    assert snapshots.check_due(now=first + timedelta(hours=3)) == []


def test_a_snapshot_is_never_changed(actors: dict[str, Actor]) -> None:
    snapshots.take_due(now=NOV_END)
    before = stored()
    for statement in ("UPDATE month_end_snapshot SET numbered = 99", "DELETE FROM month_end_snapshot"):
        with pytest.raises(DBAPIError, match="append-only"), db.get_engine().begin() as conn:
            conn.execute(text(statement))
    after = stored()
    assert {k: figures(v) for k, v in after.items()} == {k: figures(v) for k, v in before.items()}


def test_trend_and_the_change_since_last_month(actors: dict[str, Actor]) -> None:
    county, city, province = actors["county"], actors["city"], actors["province"]
    clerk = actors["clerk"]
    nothing_yet = snapshots.since_last_month(county)
    assert nothing_yet.last is None and set(nothing_yet.difference.values()) == {None}
    with_class(clerk)
    enter(clerk)
    snapshots.take_due(now=datetime(2026, 10, 30, 16, 0, tzinfo=UTC))  # October
    enter(clerk, name="王小红", gender="女", sequence=2)
    enter(clerk, name="张小刚", sequence=3)
    children.submit_children(clerk, today=TODAY)
    approve_all(county)  # three numbered
    enter(clerk, name="赵小兰", gender="女", sequence=4)  # one entered
    snapshots.take_due(now=NOV_END)  # November
    enter(clerk, name="钱小东", sequence=5)
    trend = snapshots.trend(county)
    assert [(r.month, r.numbered, r.entered, r.caught_up) for r in trend] == [
        ("2026-10", 0, 1, False),
        ("2026-11", 3, 1, False),
    ]
    assert [r.month for r in snapshots.trend(county, months=1)] == ["2026-11"]
    assert [r.numbered for r in snapshots.trend(province, "410122")] == [0, 3]  # drill-down
    assert [r.numbered for r in snapshots.trend(city)] == [0, 3]
    change = snapshots.since_last_month(county)
    assert change.last is not None and change.last.month == "2026-11"
    assert change.difference == {
        "institutions": 0,
        "reported": 0,
        "reviewed": 0,
        "numbered": 0,
        "entered": 1,
        "baseline": None,  # no statistics imported
    }
    assert change.current["entered"] == 2
    assert snapshots.since_last_month(province).difference["entered"] == 1
    # The scope of the progress table: a county sees its county, a city its counties, ...
    for actor, code in ((county, "410102"), (county, "410100"), (city, "410300"), (city, "410000")):
        with pytest.raises(NotFound):
            snapshots.trend(actor, code)
        with pytest.raises(NotFound):
            snapshots.since_last_month(actor, code)
    with pytest.raises(NotFound):
        snapshots.trend(actors["township"])
    with pytest.raises(NotFound):
        snapshots.trend(province, "410122101")  # a township: not a snapshot's region
    with pytest.raises(PermissionDenied):
        snapshots.trend(actors["sysadmin"])
    with pytest.raises(NotFound):
        snapshots.trend(clerk)


def test_the_reminder_from_the_20th_and_the_countys_list(actors: dict[str, Actor]) -> None:
    clerk, county = actors["clerk"], actors["county"]
    other, elsewhere = clerk_of(OTHER), clerk_of(ELSEWHERE)
    for who in (clerk, other, elsewhere):
        with_class(who)
    assert snapshots.monthly_reminder(clerk, today=date(2026, 11, 21)) is None  # nothing entered: done
    enter(clerk)
    enter(other, name="王小红", gender="女", sequence=2)
    enter(other, name="张小刚", sequence=3)
    enter(elsewhere, name="赵小兰", gender="女", sequence=4)
    assert snapshots.monthly_reminder(clerk, today=date(2026, 11, 19)) is None  # before the 20th
    reminder = snapshots.monthly_reminder(clerk, today=date(2026, 11, 20))
    assert reminder is not None
    assert "本月幼儿信息变动录入并提交" in reminder and "11 月 25 日截止（还有 5 天）" in reminder
    assert "还有 1 条记录未提交审核" in reminder
    late = snapshots.monthly_reminder(clerk, today=date(2026, 11, 27))
    assert late is not None and "已过期 2 天" in late
    assert snapshots.monthly_update_laggards(county, today=date(2026, 11, 19)) == []
    listed = snapshots.monthly_update_laggards(county, today=date(2026, 11, 20))
    assert [(r.code, r.unsent) for r in listed] == [("4101220002", 1), (OTHER, 2)]  # not 中原区's
    children.submit_children(clerk, today=TODAY)
    assert snapshots.monthly_reminder(clerk, today=date(2026, 11, 20)) is None  # done
    assert [r.code for r in snapshots.monthly_update_laggards(county, today=date(2026, 11, 20))] == [OTHER]
    with pytest.raises(NotFound):
        snapshots.monthly_update_laggards(actors["city"], today=date(2026, 11, 20))
    with pytest.raises(PermissionDenied):
        snapshots.monthly_update_laggards(actors["sysadmin"], today=date(2026, 11, 20))


def test_a_returned_record_keeps_the_update_undone(actors: dict[str, Actor]) -> None:
    from portal.services import workflow

    clerk, county = actors["clerk"], actors["county"]
    with_class(clerk)
    enter(clerk)
    children.submit_children(clerk, today=TODAY)
    assert snapshots.monthly_reminder(clerk, today=date(2026, 11, 22)) is None  # submitted: done
    for row in workflow.queue(county, kind=children.KIND_CHILD).rows:
        workflow.decide(county, row.id, "return", "证件号码有误")
    reminder = snapshots.monthly_reminder(clerk, today=date(2026, 11, 22))
    assert reminder is not None and "还有 1 条记录未提交审核" in reminder
    assert [r.unsent for r in snapshots.monthly_update_laggards(county, today=date(2026, 11, 22))] == [1]
