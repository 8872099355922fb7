"""Preschool projects (issue 8, §15, §16): central funds, projects through the review of the level
above (approved; returned, edited and resubmitted), scope, monthly progress (replaced within a
month, refused input changing nothing), the month-end snapshot of the projects, and the dashboard
(sums and the laggards' order computed independently here, to the cent)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.policy import PermissionDenied
from portal.auth.roles import Duty, Level
from portal.data import db
from portal.data.models import (
    AuditLog,
    CentralFund,
    Project,
    ProjectInstitution,
    ProjectProgress,
    ProjectSnapshot,
    Region,
    Request,
)
from portal.services import evidence, projects, snapshots, workflow
from portal.services.accounts import NewUser, create_user
from portal.services.errors import NotFound, ServiceError, ValidationError
from portal.services.projects import ProjectInput
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.factories import clerk_of, reviewer_of

YEAR = 2026
NOV = date(2026, 11, 10)  # before the 25th
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def _kinds_loaded() -> Iterator[None]:
    # The lead adds the module to workflow._load_kinds; importing it here registers the kind too.
    assert "project" in workflow.kinds()
    yield


def ministry_reviewer() -> Actor:
    try:
        return actor_for("reviewer-ministry")
    except Exception:
        create_user(
            SYSTEM_ACTOR,
            NewUser("reviewer-ministry", "部级审核员", Level.MINISTRY, Duty.REVIEWER, DEMO_PASSWORD, is_demo=True),
        )
        return actor_for("reviewer-ministry")


def data(**changes: object) -> ProjectInput:
    values: dict[str, object] = {
        "name": "中牟县公办幼儿园扩容工程",
        "source": "central",
        "year": YEAR,
        "amount": "3200000.00",
        "purpose": "新建、改扩建公办幼儿园园舍。",
        "institutions": "4101220001:1200000\n4101220004:1999999.50",
    }
    values.update(changes)
    return ProjectInput(**values)  # type: ignore[arg-type]


def project(pid: int) -> Project:
    with db.session_scope() as session:
        found = session.get(Project, pid)
        assert found is not None
        return found


def counts() -> tuple[int, ...]:
    """Everything a refused call must leave as it was."""
    with db.session_scope() as session:
        return tuple(
            session.exec(select(func.count()).select_from(model)).one()
            for model in (Project, ProjectInstitution, ProjectProgress, Request, AuditLog, CentralFund)
        )


def approved(recorder: Actor, reviewer: Actor, **changes: object) -> int:
    pid = projects.save_project(recorder, data(**changes))
    request_id = projects.submit_project(recorder, pid)
    workflow.decide(reviewer, request_id, "approve")
    return pid


def audit_actions(object_id: int) -> list[str]:
    with db.session_scope() as session:
        return list(
            session.exec(
                select(AuditLog.action)
                .where(AuditLog.object_type == "project", AuditLog.object_id == str(object_id))
                .order_by(col(AuditLog.id))
            ).all()
        )


# --- review -----------------------------------------------------------------------------------------


def test_a_county_project_is_reviewed_by_its_city(actors: dict[str, Actor]) -> None:
    county, city = actors["county"], actors["city"]
    pid = projects.save_project(county, data())
    saved = project(pid)
    assert (saved.level, saved.region_code, saved.province_code, saved.city_code, saved.county_code) == (
        "county",
        "410122",
        "41",
        "410100",
        "410122",
    )
    assert saved.amount == Decimal("3200000.00") and saved.state == "saved"
    detail = projects.project_detail(county, pid)
    assert [(i.code, i.amount) for i in detail.institutions] == [
        ("4101220001", Decimal("1200000.00")),
        ("4101220004", Decimal("1999999.50")),
    ]
    request_id = projects.submit_project(county, pid)
    assert project(pid).state == "submitted"
    with pytest.raises(ServiceError, match="不能修改"):
        projects.save_project(county, data(name="改名"), project_id=pid)
    # The wrong levels cannot decide: the county itself, the province.
    for wrong in (county, reviewer_of(Level.PROVINCE, "410000")):
        with pytest.raises(ServiceError, match="地市级审核员"):
            workflow.decide(wrong, request_id, "approve")
    assert [r.id for r in workflow.queue(county).rows] == []
    queue = workflow.queue(city)
    assert [(r.id, r.kind_label) for r in queue.rows] == [(request_id, "学前教育项目")]
    changes = {label: after for label, _before, after in workflow.detail(city, request_id).changes}
    assert changes["项目名称"] == "中牟县公办幼儿园扩容工程"
    assert changes["安排金额"] == "3,200,000.00 元" and changes["资金来源"] == "中央"
    assert changes["资助机构 4101220004"] == "中牟县实验幼儿园：1,999,999.50 元"
    workflow.decide(city, request_id, "approve")
    assert project(pid).state == "approved"
    assert audit_actions(pid) == ["project_create"]
    with pytest.raises(ServiceError, match="审核通过"):
        projects.delete_project(county, pid)


def test_returned_with_a_reason_edited_and_resubmitted(actors: dict[str, Actor]) -> None:
    county, city = actors["county"], actors["city"]
    pid = projects.save_project(county, data(institutions=""))
    first = projects.submit_project(county, pid)
    with pytest.raises(ServiceError, match="驳回必须填写理由"):
        workflow.decide(city, first, "return", "")
    workflow.decide(city, first, "return", "请补充资助机构名单")
    returned = project(pid)
    assert (returned.state, returned.return_reason) == ("returned", "请补充资助机构名单")
    assert projects.list_projects(county)[0].return_reason == "请补充资助机构名单"
    projects.save_project(
        county, data(amount="3000000", institutions="4101220001"), project_id=pid, version=returned.version
    )
    with pytest.raises(ServiceError, match="已被他人修改"):  # the version the user saw is stale now
        projects.save_project(county, data(), project_id=pid, version=returned.version)
    second = projects.submit_project(county, pid)
    changes = {label: (before, after) for label, before, after in workflow.detail(city, second).changes}
    assert changes["安排金额"] == ("3,200,000.00 元", "3,000,000.00 元")
    assert changes["资助机构 4101220001"] == ("", "中牟县官渡镇中心幼儿园")
    workflow.decide(city, second, "approve")
    final = project(pid)
    assert (final.state, final.return_reason, final.amount) == ("approved", "", Decimal("3000000.00"))
    assert audit_actions(pid) == ["project_create", "project_update"]


def test_a_city_project_goes_to_the_province_and_a_province_project_to_the_ministry(
    actors: dict[str, Actor],
) -> None:
    city, province_reviewer = actors["city"], reviewer_of(Level.PROVINCE, "410000")
    pid = projects.save_project(city, data(name="郑州市普惠园奖补", source="city", institutions="4101050002:100"))
    assert (project(pid).city_code, project(pid).county_code) == ("410100", None)
    request_id = projects.submit_project(city, pid)
    with pytest.raises(ServiceError, match="省级审核员"):
        workflow.decide(city, request_id, "approve")
    assert [r.id for r in workflow.queue(province_reviewer).rows] == [request_id]
    workflow.decide(province_reviewer, request_id, "approve")
    assert project(pid).state == "approved"

    finance = actor_for("demo-finance")
    with pytest.raises(ValidationError, match="资金来源只能是"):
        projects.save_project(finance, data(source="county", institutions=""))
    pid = projects.save_project(finance, data(name="河南省资助项目", source="provincial", institutions="4190010001"))
    assert (project(pid).province_code, project(pid).city_code) == ("41", None)
    request_id = projects.submit_project(finance, pid)
    with pytest.raises(ServiceError, match="教育部审核员"):
        workflow.decide(province_reviewer, request_id, "approve")
    workflow.decide(ministry_reviewer(), request_id, "approve")
    assert project(pid).state == "approved"
    with pytest.raises(ServiceError, match="省、市、县三级"):
        projects.save_project(ministry_reviewer(), data())


def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(actors: dict[str, Actor]) -> None:
    county = actors["county"]
    before = counts()
    cases: list[tuple[dict[str, object], str]] = [
        ({"name": "  "}, "请填写项目名称"),
        ({"name": "x" * 201}, "项目名称不超过 200 个字"),
        ({"year": 1999}, "年度须为 2010 至"),
        ({"year": "二〇二六"}, "年度须为"),
        ({"amount": ""}, "请填写安排金额"),
        ({"amount": "abc"}, "不是有效的数字"),
        ({"amount": 1.5}, "不接受浮点数"),
        ({"amount": "1.234"}, "最多保留两位小数"),
        ({"amount": "-5"}, "不能为负数"),
        ({"amount": "0"}, "必须大于 0"),
        ({"amount": "NaN"}, "不是有效的数字"),
        ({"amount": Decimal("NaN")}, "有限的数字"),
        ({"amount": "1e6"}, "不是有效的数字"),
        ({"source": "world"}, "请选择资金来源"),
        ({"institutions": "4101229999"}, "机构标识码不存在：4101229999"),
        ({"institutions": "4101020001"}, "不在本项目所属地区（中牟县）内"),
        ({"institutions": "4101220001, 4101220001"}, "4101220001 重复填写"),
        ({"institutions": "41012200"}, "格式不对"),
        ({"institutions": "4101220001:abc"}, "机构 4101220001 的分配金额"),
        (
            {"amount": "100", "institutions": "4101220001:60\n4101220004:40.01"},
            "合计 100.01 元，超过项目安排金额 100.00 元",
        ),
        ({"purpose": "用途\x00"}, "项目用途"),
    ]
    for changes, message in cases:
        with pytest.raises(ValidationError) as caught:
            projects.save_project(county, data(**changes))
        assert message in str(caught.value), (changes, str(caught.value))
    assert counts() == before
    # Several problems are named at once, each by its field.
    with pytest.raises(ValidationError) as caught:
        projects.save_project(county, data(name="", amount="x"))
    assert set(caught.value.errors) == {"name", "amount"}
    assert projects.parse_money("1,234.5") == Decimal("1234.50")


def test_out_of_scope_bureaus_neither_see_nor_change(actors: dict[str, Actor]) -> None:
    county, city = actors["county"], actors["city"]
    pid = projects.save_project(county, data())
    other_county = reviewer_of(Level.COUNTY, "410102")  # 中原区
    other_city = reviewer_of(Level.CITY, "410200")  # 开封市
    for outsider in (other_county, other_city):
        assert projects.list_projects(outsider) == [] and projects.list_projects(outsider, below=True) == []
        with pytest.raises(NotFound):
            projects.project_detail(outsider, pid)
        with pytest.raises(NotFound):
            projects.save_project(outsider, data(name="改名"), project_id=pid)
        with pytest.raises(NotFound):
            projects.submit_project(outsider, pid)
        with pytest.raises(NotFound):
            projects.delete_project(outsider, pid)
    # The city sees a county's draft neither in its list nor by id; it never changes it.
    assert projects.list_projects(city, below=True) == []
    with pytest.raises(NotFound):
        projects.project_detail(city, pid)
    with pytest.raises(ServiceError, match="只能维护本级录入的项目"):
        projects.save_project(city, data(name="改名"), project_id=pid)
    request_id = projects.submit_project(county, pid)
    assert [r.id for r in projects.list_projects(city, below=True)] == [pid]
    with pytest.raises(NotFound):
        workflow.decide(other_city, request_id, "approve")
    with pytest.raises(PermissionDenied):
        projects.save_project(actors["province"], data())  # a leader reads, never records
    with pytest.raises(PermissionDenied):
        projects.list_projects(clerk_of("4101220002"))
    assert project(pid).name == "中牟县公办幼儿园扩容工程"


def test_a_saved_project_is_deleted_out_of_every_list(actors: dict[str, Actor]) -> None:
    county = actors["county"]
    pid = projects.save_project(county, data())
    with pytest.raises(ServiceError, match="已被他人修改"):
        projects.delete_project(county, pid, version=project(pid).version + 1)
    projects.delete_project(county, pid, version=project(pid).version)
    assert project(pid).state == "deleted" and projects.list_projects(county) == []
    with pytest.raises(NotFound):
        projects.submit_project(county, pid)
    assert audit_actions(pid) == ["project_create", "project_delete"]


# --- central funds ----------------------------------------------------------------------------------


def test_central_funds_recorded_changed_and_read_by_the_province(actors: dict[str, Actor]) -> None:
    ministry = ministry_reviewer()
    row = projects.record_central_fund(ministry, province_code="41", year=YEAR, amount="128000000.00", note="首批")
    assert (row.province_name, row.amount, row.version) == ("河南省", Decimal("128000000.00"), 1)
    before = counts()
    for kwargs, message in (
        ({"amount": 1.0e8}, "不接受浮点数"),
        ({"amount": "0"}, "必须大于 0"),
        ({"amount": "12.345"}, "两位小数"),
        ({"province_code": "99"}, "不是有效的省级行政区划代码"),
        ({"year": 2200}, "年度须为"),
        ({"amount": "130000000"}, "已录入"),  # a second row for the same province and year needs its version
        ({"amount": "130000000", "version": 7}, "已被他人修改"),
    ):
        arguments: dict[str, object] = {"province_code": "41", "year": YEAR, "amount": "1"} | kwargs
        with pytest.raises(ServiceError, match=message):
            projects.record_central_fund(ministry, **arguments)  # type: ignore[arg-type]
    assert counts() == before
    changed = projects.record_central_fund(
        ministry, province_code="410000", year=YEAR, amount="130000000.10", version=1
    )
    assert (changed.amount, changed.version) == (Decimal("130000000.10"), 2)
    with db.session_scope(write=True) as session:  # the demo loads Henan only
        session.add(Region(code="130000", name="河北省", level="province", province_code="13"))
    projects.record_central_fund(ministry, province_code="13", year=YEAR, amount="5")
    assert [(r.province_code, r.amount) for r in projects.list_central_funds(actors["province"])] == [
        ("41", Decimal("130000000.10"))
    ]
    assert len(projects.list_central_funds(actors["city"])) == 1
    assert len(projects.list_central_funds(ministry)) == 2
    with pytest.raises(PermissionDenied):
        projects.record_central_fund(actors["province"], province_code="41", year=YEAR, amount="1", version=2)
    with pytest.raises(PermissionDenied):
        projects.list_central_funds(actors["sysadmin"])
    with db.session_scope() as session:
        rows = session.exec(select(AuditLog).where(AuditLog.action == "central_fund_record")).all()
        assert len(rows) == 3 and '"130000000.10"' in (rows[1].after or "")


# --- monthly progress -------------------------------------------------------------------------------


def progress_rows(pid: int) -> list[tuple[str, Decimal, Decimal, str]]:
    with db.session_scope() as session:
        return [
            (p.month, p.spent, p.percent, p.notes)
            for p in session.exec(
                select(ProjectProgress).where(ProjectProgress.project_id == pid).order_by(col(ProjectProgress.month))
            ).all()
        ]


def test_monthly_updates_replace_within_the_month_and_refuse_bad_figures(actors: dict[str, Actor]) -> None:
    county, city = actors["county"], actors["city"]
    draft = projects.save_project(county, data())
    with pytest.raises(ServiceError, match="审核通过后才能填报"):
        projects.update_progress(county, draft, spent="1", percent="1", today=NOV)
    pid = approved(county, city)
    with pytest.raises(ServiceError, match="只能维护本级录入的项目"):
        projects.update_progress(city, pid, spent="1", percent="1", today=NOV)
    projects.update_progress(county, pid, spent="600000", percent="20", notes="设计招标", today=date(2026, 10, 12))
    projects.update_progress(county, pid, spent="1450000.5", percent="45.25", notes="主体施工", today=NOV)
    projects.update_progress(county, pid, spent="1500000.55", percent="47", notes="主体施工中", today=NOV)
    expected = [
        ("2026-10", Decimal("600000.00"), Decimal("20.00"), "设计招标"),
        ("2026-11", Decimal("1500000.55"), Decimal("47.00"), "主体施工中"),
    ]
    assert progress_rows(pid) == expected
    with db.session_scope() as session:
        replaced = session.exec(
            select(AuditLog).where(AuditLog.action == "project_progress").order_by(col(AuditLog.id).desc())
        ).first()
        assert replaced is not None and '"1450000.50"' in (replaced.before or "")
        assert '"1500000.55"' in (replaced.after or "")
    before = counts()
    for kwargs, message in (
        ({"spent": "3200000.01"}, "超过项目安排金额 3,200,000.00 元"),
        ({"percent": "100.01"}, "须在 0 到 100"),
        ({"percent": "-1"}, "须在 0 到 100"),
        ({"spent": 1000.0}, "不接受浮点数"),
        ({"percent": float("nan")}, "不接受浮点数"),
        ({"spent": "NaN"}, "不是有效的数字"),
        ({"spent": Decimal("Infinity")}, "有限的数字"),
        ({"percent": "12.345"}, "两位小数"),
        ({"spent": ""}, "请填写累计支出金额"),
        ({"notes": "x" * 2001}, "进展说明不超过 2000 个字"),
    ):
        arguments: dict[str, object] = {"spent": "1600000", "percent": "50"} | kwargs
        with pytest.raises(ServiceError, match=message):
            projects.update_progress(county, pid, today=NOV, **arguments)  # type: ignore[arg-type]
    assert progress_rows(pid) == expected and counts() == before
    projects.update_progress(county, pid, spent="3200000", percent="100", today=date(2026, 12, 3))  # the limits hold
    assert progress_rows(pid)[-1][1:3] == (Decimal("3200000.00"), Decimal("100.00"))


def test_evidence_is_stored_read_in_scope_and_audited(actors: dict[str, Actor], tmp_path: Path) -> None:
    county, city = actors["county"], actors["city"]
    pid = approved(county, city)
    folder = evidence.evidence_dir()
    with pytest.raises(ServiceError, match="类型不支持"):
        projects.update_progress(county, pid, spent="1", percent="1", evidence_file=("x.exe", b"MZ..."), today=NOV)
    with pytest.raises(ServiceError, match="超过项目安排金额"):  # a refused update keeps no file either
        projects.update_progress(county, pid, spent="9999999", percent="1", evidence_file=("r.pdf", PDF), today=NOV)
    assert not folder.exists() or list(folder.iterdir()) == []
    entry = projects.update_progress(
        county, pid, spent="10", percent="1", evidence_file=("进度报告.pdf", PDF), today=NOV
    )
    assert entry.has_evidence and entry.evidence_name == "进度报告.pdf"
    projects.update_progress(county, pid, spent="20", percent="2", today=NOV)  # the file stays with the month
    content = projects.read_progress_evidence(city, pid, "2026-11")
    assert (content.data, content.content_type, content.filename) == (PDF, "application/pdf", "进度报告.pdf")
    with pytest.raises(NotFound):
        projects.read_progress_evidence(reviewer_of(Level.CITY, "410200"), pid, "2026-11")
    with pytest.raises(NotFound):
        projects.read_progress_evidence(city, pid, "2026-10")
    with db.session_scope() as session:
        assert (
            session.exec(
                select(func.count()).select_from(AuditLog).where(AuditLog.action == "project_evidence_download")
            ).one()
            == 1
        )


def test_the_update_status_after_the_25th(actors: dict[str, Actor]) -> None:
    county, city = actors["county"], actors["city"]
    pid = approved(county, city)
    status = {day: projects.list_projects(county, today=date(2026, 11, day))[0].update_status for day in (25, 26)}
    assert status == {25: projects.DUE, 26: projects.LATE}
    projects.update_progress(county, pid, spent="1", percent="1", today=date(2026, 11, 27))
    assert projects.list_projects(county, today=date(2026, 11, 28))[0].update_status == projects.UPDATED
    assert projects.list_projects(county, today=date(2026, 12, 1))[0].update_status == projects.DUE


# --- the month-end snapshot ---------------------------------------------------------------------------


def test_the_month_end_snapshot_keeps_every_project_with_its_latest_progress(actors: dict[str, Actor]) -> None:
    snapshots._checked.clear()
    county, city = actors["county"], actors["city"]
    building = approved(county, city)
    projects.update_progress(county, building, spent="100000.10", percent="10", today=date(2026, 9, 20))
    projects.update_progress(county, building, spent="250000.25", percent="30.5", today=date(2026, 10, 20))
    projects.update_progress(county, building, spent="400000", percent="50", today=date(2026, 11, 20))
    quiet = approved(county, city, name="玩教具配备", amount="860000", institutions="")  # approved, never updated
    waiting = projects.save_project(county, data(name="安全设施改造"))
    projects.submit_project(county, waiting)
    gone = projects.save_project(county, data(name="作废项目"))
    projects.delete_project(county, gone)

    assert snapshots.take_due(now=datetime(2026, 10, 30, 16, 30, tzinfo=UTC)) == ["2026-10"]  # 31 October
    assert snapshots.take_due(now=datetime(2026, 10, 30, 17, 0, tzinfo=UTC)) == []  # once
    assert snapshots.take_due(now=datetime(2026, 11, 29, 16, 0, tzinfo=UTC)) == ["2026-11"]  # 30 November
    with db.session_scope() as session:
        kept = {
            (s.month, s.project_id): (s.state, s.amount, s.spent, s.percent, s.progress_month)
            for s in session.exec(select(ProjectSnapshot)).all()
        }
    zero = Decimal("0.00")
    assert kept == {
        ("2026-10", building): ("approved", Decimal("3200000.00"), Decimal("250000.25"), Decimal("30.50"), "2026-10"),
        ("2026-10", quiet): ("approved", Decimal("860000.00"), zero, zero, None),
        ("2026-10", waiting): ("submitted", Decimal("3200000.00"), zero, zero, None),
        ("2026-11", building): ("approved", Decimal("3200000.00"), Decimal("400000.00"), Decimal("50.00"), "2026-11"),
        ("2026-11", quiet): ("approved", Decimal("860000.00"), zero, zero, None),
        ("2026-11", waiting): ("submitted", Decimal("3200000.00"), zero, zero, None),
    }
    trend = snapshots.project_trend(city, year=YEAR)
    assert [(t.month, t.projects, t.amount, t.spent) for t in trend] == [
        ("2026-10", 2, Decimal("4060000.00"), Decimal("250000.25")),
        ("2026-11", 2, Decimal("4060000.00"), Decimal("400000.00")),
    ]
    assert trend[1].spent_pct == Decimal("9.85") and trend[1].avg_percent == Decimal("25.00")
    assert snapshots.project_trend(reviewer_of(Level.CITY, "410200")) == []


# --- the dashboard ----------------------------------------------------------------------------------


def test_dashboard_sums_and_laggards_first_to_the_cent(actors: dict[str, Actor]) -> None:
    county, city, leader = actors["county"], actors["city"], actors["province"]
    province_reviewer = reviewer_of(Level.PROVINCE, "410000")
    kaifeng, lankao = reviewer_of(Level.CITY, "410200"), reviewer_of(Level.COUNTY, "410225")
    today = date(2026, 11, 27)  # after the 25th
    plan = [
        # recorder, reviewer, amount, (spent, percent) this month or None, source, earlier month's figures
        (county, city, "1000000.01", ("333333.33", "40"), "central", None),
        (county, city, "250000.50", None, "county", ("50000.05", "12.5")),
        (city, province_reviewer, "2000000.00", ("1500000.00", "70"), "city", None),
        (kaifeng, province_reviewer, "800000.00", ("80000.00", "10"), "central", None),
        (lankao, kaifeng, "300000.30", ("30000.03", "10.01"), "county", None),
    ]
    made = []
    for recorder, reviewer, amount, now, source, earlier in plan:
        pid = approved(recorder, reviewer, amount=amount, source=source, institutions="")
        if earlier:
            projects.update_progress(recorder, pid, spent=earlier[0], percent=earlier[1], today=date(2026, 10, 20))
        if now:
            projects.update_progress(recorder, pid, spent=now[0], percent=now[1], today=today)
        made.append((recorder, Decimal(amount), now or earlier, now is not None))
    approved(county, city, year=2025, amount="999", institutions="")  # another year: not counted
    projects.save_project(county, data(name="草稿"))  # not approved: not counted
    projects.record_central_fund(ministry_reviewer(), province_code="41", year=YEAR, amount="5000000")

    # Independently: per city of the province (郑州 = the county's two and the city's own one).
    def expect(members: list[int]) -> tuple[int, Decimal, Decimal, Decimal | None, Decimal | None, int]:
        amount = sum((made[i][1] for i in members), Decimal(0))
        spent = sum((Decimal(made[i][2][0]) for i in members), Decimal(0))
        percents = [Decimal(made[i][2][1]) for i in members]
        spent_pct = (spent * 100 / amount).quantize(Decimal("0.01"), ROUND_HALF_UP)  # 四舍五入
        avg = (sum(percents, Decimal(0)) / len(percents)).quantize(Decimal("0.01"), ROUND_HALF_UP)
        return len(members), amount, spent, spent_pct, avg, sum(1 for i in members if not made[i][3])

    board = projects.dashboard(leader, year=YEAR, today=today)
    got = {r.name: (r.projects, r.amount, r.spent, r.spent_pct, r.avg_percent, r.not_updated) for r in board.rows}
    assert got == {"郑州市": expect([0, 1, 2]), "开封市": expect([3, 4])}
    assert got["郑州市"][1] == Decimal("3250000.51") and got["郑州市"][2] == Decimal("1883333.38")
    expected_order = sorted(got, key=lambda name: (got[name][3], got[name][4]))
    assert [r.name for r in board.rows] == expected_order == ["开封市", "郑州市"]
    assert (board.total.amount, board.total.spent) == (Decimal("4350000.81"), Decimal("1993333.41"))
    assert board.late and board.total.not_updated == 1
    assert (board.central_funds, board.central_allocated) == (Decimal("5000000.00"), Decimal("1800000.01"))

    city_board = projects.dashboard(city, year=YEAR, today=today)
    assert [(r.name, r.own, r.amount) for r in city_board.rows] == [
        ("中牟县", False, Decimal("1250000.51")),
        ("市本级", True, Decimal("2000000.00")),
    ]
    drilled = projects.dashboard_projects(city, "410100", year=YEAR, today=today)
    assert [r.amount for r in drilled] == [Decimal("2000000.00")]
    drilled = projects.dashboard_projects(leader, "410100", year=YEAR, today=today)
    assert [r.amount for r in drilled] == [Decimal("250000.50"), Decimal("1000000.01"), Decimal("2000000.00")]
    county_board = projects.dashboard(county, year=YEAR, today=today)
    assert [(r.amount, r.spent_pct, r.not_updated) for r in county_board.rows] == [
        (Decimal("250000.50"), Decimal("20.00"), 1),
        (Decimal("1000000.01"), Decimal("33.33"), 0),
    ]
    ministry_board = projects.dashboard(ministry_reviewer(), year=YEAR, today=today)
    assert [(r.name, r.amount, r.central_funds) for r in ministry_board.rows] == [
        ("河南省", Decimal("4350000.81"), Decimal("5000000.00"))
    ]
    assert projects.dashboard(kaifeng, year=YEAR, today=today).total.amount == Decimal("1100000.30")


# --- the demo -------------------------------------------------------------------------------------------


def test_the_demo_projects(actors: dict[str, Actor]) -> None:
    today = date(2026, 11, 28)
    projects.seed_demo(today)
    county, city = actors["county"], actors["city"]
    states = {r.name: (r.state, r.update_status) for r in projects.list_projects(county, today=today)}
    assert states == {
        "中牟县公办幼儿园扩容工程": ("approved", projects.UPDATED),
        "中牟县农村幼儿园玩教具配备": ("approved", projects.LATE),
        "中牟县幼儿园安全设施改造": ("submitted", ""),
        "中牟县学前教育教师培训": ("returned", ""),
    }
    assert [r.title for r in workflow.queue(city).rows] == ["学前教育项目：中牟县幼儿园安全设施改造"]
    assert {r.state for r in projects.list_projects(city, today=today)} == {"approved"}
    board = projects.dashboard(actors["province"], year=2026, today=today)
    assert board.central_funds == Decimal("128000000.00") and board.total.projects == 4
