"""The progress counters and the table of 附件2 (issue 6, first part): the counters equal a fresh
count after any sequence of changes (hypothesis), the table agrees with counts made here, ratios
above 100% stay as they are, and a user only ever sees their scope."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, func, select
from typer.testing import CliRunner

from portal.__main__ import app
from portal.auth.actor import Actor
from portal.data import db
from portal.data.models import Child, Institution, InstitutionProgress, InstitutionRecord, RegionProgress, StatBaseline
from portal.services import children, leaving, progress, transfers, workflow
from portal.services.errors import NotFound, ServiceError
from tests.factories import clerk_of, with_class
from tests.services.test_children import enter

OTHER = "4101220004"


def fresh_counts() -> tuple[dict[int, tuple[int, int, int, int]], dict[tuple[str, ...], tuple[int, ...]]]:
    """Counted here from the rows, without the counters' code."""
    with db.session_scope() as session:
        institutions = session.exec(select(Institution)).all()
        states = Counter(
            (i, s)
            for i, s, n in session.exec(
                select(Child.institution_id, Child.state, func.count()).group_by(
                    col(Child.institution_id), col(Child.state)
                )
            ).all()
            for _ in range(n)
        )
        reviewed = set(
            session.exec(select(InstitutionRecord.institution_id).where(InstitutionRecord.section == "base")).all()
        )
        from portal.data.models import Request

        reported = {
            int(s.split(":")[0])
            for s in session.exec(
                select(Request.subject_id).where(
                    Request.subject_type == "institution_section", Request.state != "withdrawn"
                )
            ).all()
            if s.endswith(":base")
        } | reviewed
    per_institution = {}
    regions: dict[tuple[str, ...], list[int]] = {}
    for inst in institutions:
        entered = sum(states[(inst.id, s)] for s in ("saved", "submitted", "returned", "problem"))
        figures = (int(inst.id in reported), int(inst.id in reviewed), states[(inst.id, "approved")], entered)
        per_institution[inst.id or 0] = figures
        key = (inst.county_code, inst.kind, inst.ownership, str(inst.inclusive), inst.urban_rural)
        sums = regions.setdefault(key, [0, 0, 0, 0, 0])
        for index, value in enumerate((1, *figures)):
            sums[index] += value
    return per_institution, {k: tuple(v) for k, v in regions.items()}


def stored_counts() -> tuple[dict[int, tuple[int, int, int, int]], dict[tuple[str, ...], tuple[int, ...]]]:
    with db.session_scope() as session:
        per_institution = {
            p.institution_id: (p.reported, p.reviewed, p.numbered, p.entered)
            for p in session.exec(select(InstitutionProgress)).all()
        }
        regions = {
            (r.county_code, r.kind, r.ownership, str(r.inclusive), r.urban_rural): (
                r.institutions,
                r.reported,
                r.reviewed,
                r.numbered,
                r.entered,
            )
            for r in session.exec(select(RegionProgress)).all()
            if r.institutions
        }
    return per_institution, regions


OPERATIONS = ("enter", "submit", "approve", "return", "delete", "transfer", "leave")


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.sampled_from(OPERATIONS), min_size=3, max_size=10))
def test_the_counters_equal_a_fresh_count_after_any_changes(actors: dict[str, Actor], steps: list[str]) -> None:
    clerk, county = actors["clerk"], actors["county"]
    other = clerk_of(OTHER)
    if not children.list_classes(clerk):
        with_class(clerk)
    if not children.list_classes(other):
        with_class(other)
    for step in steps:
        try:
            match step:
                case "enter":
                    who = clerk if len(children.list_children(clerk).rows) % 2 == 0 else other
                    n = len(children.list_children(who, state=None).rows) + 40 * (who is other)
                    enter(who, name=f"测试{chr(0x4E00 + n)}", sequence=n + 50)
                case "submit":
                    children.submit_children(clerk)
                case "approve" | "return":
                    page = workflow.queue(county, kind=children.KIND_CHILD, limit=5)
                    for row in page.rows[:2]:
                        workflow.decide(county, row.id, "approve" if step == "approve" else "return", "核对")
                case "delete":
                    saved = children.list_children(clerk, state="saved").rows
                    if saved:
                        children.delete_child(clerk, saved[0].id)
                case "transfer":
                    approved = children.list_children(clerk, state="approved").rows
                    if approved:
                        child = approved[0]
                        number = children.number_of(db_child(child.id))
                        class_id = children.list_classes(other)[0].id
                        transfer_id = transfers.start_transfer(other, number, child.name, class_id, "迁居")
                        transfers.agree(clerk, transfer_id)
                        transfers.complete(other, transfer_id, class_id)
                case "leave":
                    approved = children.list_children(clerk, state="approved").rows
                    if approved:
                        leaving.request_leave(clerk, approved[0].id, "left", workflow.local_today(), "迁居")
                        for row in workflow.queue(county, kind=leaving.KIND_LEAVE).rows:
                            workflow.decide(county, row.id, "approve")
        except ServiceError:
            pass  # a refused step changes nothing; the counters must still agree
        assert stored_counts() == fresh_counts(), step


def db_child(child_id: int) -> Child:
    with db.session_scope() as session:
        child = session.get(Child, child_id)
        assert child is not None
        return child


def numbered_in_county(actors: dict[str, Actor], count: int) -> None:
    clerk = actors["clerk"]
    with_class(clerk)
    for n in range(count):
        enter(clerk, name=f"王{chr(0x4E00 + n)}", sequence=n + 1)
    children.submit_children(clerk)
    for row in workflow.queue(actors["county"], kind=children.KIND_CHILD, limit=50).rows:
        workflow.decide(actors["county"], row.id, "approve")


def test_the_table_for_each_level_agrees_with_counts_made_here(actors: dict[str, Actor]) -> None:
    numbered_in_county(actors, 3)
    with db.session_scope(write=True) as session:
        session.add(StatBaseline(county_code="410122", year=2026, province_code="41", city_code="410100", children=2))
        session.add(StatBaseline(county_code="410102", year=2026, province_code="41", city_code="410100", children=400))
    with db.session_scope() as session:
        institutions = Counter(session.exec(select(Institution.city_code)).all())
    province = progress.progress_table(actors["province"])
    assert (province.level, province.sub_label, province.baseline_year) == ("province", "地市", 2026)
    assert len(province.rows) == 18  # every city-level unit of 河南, 济源 included
    assert {r.code: r.institutions for r in province.rows if r.institutions} == dict(institutions)
    zhengzhou = next(r for r in province.rows if r.name == "郑州市")
    assert (zhengzhou.numbered, zhengzhou.baseline, zhengzhou.numbered_pct) == (3, 402, round(300 / 402, 2))
    assert province.total.institutions == sum(institutions.values())
    city = progress.progress_table(actors["city"])
    zhongmou = next(r for r in city.rows if r.code == "410122")
    assert (zhongmou.numbered, zhongmou.baseline, zhongmou.numbered_pct) == (3, 2, 150.0)  # above 100%: as it is
    county = progress.progress_table(actors["county"])
    assert county.sub_label == "机构" and county.total.numbered_pct == 150.0
    assert [r.numbered for r in county.rows if "小庙王村" in r.name] == [3]
    assert county.breadcrumb[-1] == ("410122", "中牟县")
    drilled = progress.progress_table(actors["province"], "410122")
    assert drilled.breadcrumb == [("410000", "河南省"), ("410100", "郑州市"), ("410122", "中牟县")]
    assert drilled.total == county.total


def test_a_user_sees_only_their_scope(actors: dict[str, Actor]) -> None:
    with pytest.raises(NotFound):
        progress.progress_table(actors["county"], "410102")  # another county
    with pytest.raises(NotFound):
        progress.progress_table(actors["city"], "410300")  # 洛阳, another city
    with pytest.raises(NotFound):
        progress.progress_table(actors["township"])
    with pytest.raises(Exception, match="无权"):
        progress.progress_table(actors["sysadmin"])


def test_the_filters_narrow_the_counts(actors: dict[str, Actor]) -> None:
    private = progress.progress_table(actors["county"], filters=progress.Filters(ownership="民办"))
    assert {r.name.split("（")[0] for r in private.rows} == {"中牟县官渡镇小庙王村幼儿园"}


def test_rebuild_and_the_command_line(actors: dict[str, Actor]) -> None:
    numbered_in_county(actors, 2)
    before = stored_counts()
    with db.session_scope(write=True) as session:
        session.exec(select(InstitutionProgress)).all()
        session.execute(RegionProgress.__table__.delete())  # type: ignore[attr-defined]
    assert stored_counts() != before
    runner = CliRunner()
    result = runner.invoke(app, ["progress", "--region", "410122", "--format", "csv", "--rebuild"])
    assert result.exit_code == 0, result.output
    assert stored_counts() == before == fresh_counts()
    lines = result.output.strip().splitlines()
    assert lines[0] == "counters rebuilt: 13 institutions"
    assert lines[1] == "中牟县学前教育机构信息上报及审核情况统计表（统计基数：未导入）"
    assert lines[2] == (
        "序号,机构,系统内学前机构总数（个）,机构基本信息已上报数（个）,占比,机构基本信息已被审核数（个）,占比,"
        "教育统计在园幼儿数（人）,已录入系统并获得学籍的幼儿数（个）,占比"
    )
    assert lines[-1] == ",合计,5,0,0.00%,0,0.00%,,2,"
    refused = runner.invoke(app, ["progress", "--region", "999999"])
    assert refused.exit_code == 1


def test_an_expired_transfer_leaves_the_counts_alone(actors: dict[str, Actor]) -> None:
    numbered_in_county(actors, 1)
    other = clerk_of(OTHER)
    child = children.list_children(actors["clerk"], state="approved").rows[0]
    number = children.number_of(db_child(child.id))
    old = workflow.local_today() - timedelta(days=70)
    transfers.start_transfer(other, number, child.name, with_class(other).id, "迁居", today=old)
    assert transfers.expire_transfers() == 1
    assert stored_counts() == fresh_counts()


def test_the_notices_deadlines_count_down_to_their_next_occurrence() -> None:
    from datetime import date

    entry, numbering = progress.deadlines(date(2026, 11, 28))
    assert (entry.label, entry.day, entry.days_left) == ("全部幼儿信息录入", date(2027, 5, 31), 184)
    assert (numbering.day, numbering.days_left) == (date(2027, 6, 30), 214)
    same_day = progress.deadlines(date(2027, 5, 31))[0]
    assert (same_day.day, same_day.days_left) == (date(2027, 5, 31), 0)
