"""Funding computed from the records (R4.2, Notice 二): a small province of two cities and three
counties, built through the real services, whose amounts are worked out by hand here and compared
to the cent with the runs; a transferred child counts once, at the right place under each rule;
children without a number, closed, not yet approved or numbered after the reference date do not
count; the runs are frozen; readers and computers are the finance users of the region."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, func, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.policy import PermissionDenied
from portal.auth.roles import Duty, Level
from portal.clock import LOCAL_TZ
from portal.data import db
from portal.data.models import AuditLog, Child, FundingChild, FundingLine, FundingRun, Transfer
from portal.services import children, funding, leaving, transfers, workflow
from portal.services.accounts import NewUser, create_user
from portal.services.errors import NotFound, ServiceError
from portal.services.institutions import InstitutionInput, register_institution
from portal.settings import reset_settings_cache
from tests.conftest import DEMO_PASSWORD, actor_for, load_henan_regions
from tests.factories import child_values, clerk_of, resident_id, reviewer_of

# The dates, relative to today so that the records stay valid whenever the tests run: the period
# starts S, the transfer completes at MOVED, the reference date is D.
TODAY = workflow.local_today()
D = TODAY - timedelta(days=30)
S = D - timedelta(days=150)
MOVED = S + timedelta(days=60)
YEAR = D.year

# The setting: "*" defaults, this year's province entry, a city's and two counties' overrides, and
# an all-years county entry that loses to this year's province entry (the year comes first).
RATES = {
    "*": {
        "*": {"per_child": "600.00", "poverty": "900.00", "inclusive": "300.00"},
        "410102": {"per_child": "999.99"},
    },
    str(YEAR): {
        "410000": {"per_child": "650.50", "poverty": "1000.00", "inclusive": "400.00"},
        "410100": {"per_child": "700.25"},
        "410122": {"inclusive": "450.75"},
        "410225": {"poverty": "1200.10"},
    },
}
# The same, resolved by hand per county.
RESOLVED = {
    "410122": {"per_child": Decimal("700.25"), "poverty": Decimal("1000.00"), "inclusive": Decimal("450.75")},
    "410102": {"per_child": Decimal("700.25"), "poverty": Decimal("1000.00"), "inclusive": Decimal("400.00")},
    "410225": {"per_child": Decimal("650.50"), "poverty": Decimal("1200.10"), "inclusive": Decimal("400.00")},
}

# key: (code, name, ownership, inclusive, county, city)
INSTITUTIONS = {
    "A": ("4101229001", "中牟县第一公办幼儿园", "公办", True, "410122", "410100"),
    "B": ("4101229002", "中牟县阳光普惠幼儿园", "民办", True, "410122", "410100"),
    "C": ("4101029001", "中原区贝贝民办幼儿园", "民办", False, "410102", "410100"),
    "D": ("4102259001", "兰考县第一公办幼儿园", "公办", True, "410225", "410200"),
}


@dataclass
class Province:
    kids: dict[str, int] = field(default_factory=dict)  # child key -> id
    places: dict[str, int] = field(default_factory=dict)  # institution key -> id
    transfer_id: int = 0
    finance: Actor | None = None


def local_noon(day: date) -> datetime:
    return datetime.combine(day, time(12), LOCAL_TZ).astimezone(UTC)


def finance_user(username: str, level: Level, region: str | None) -> Actor:
    create_user(
        SYSTEM_ACTOR,
        NewUser(username, "测试财务", level, Duty.FINANCE, DEMO_PASSWORD, region_code=region, is_demo=True),
    )
    return actor_for(username)


def approve_children(county: str) -> None:
    reviewer = reviewer_of(Level.COUNTY, county)
    rows = workflow.queue(reviewer, kind=children.KIND_CHILD, limit=100).rows
    outcomes = workflow.decide_many(reviewer, [r.id for r in rows], "approve")
    assert all(not message for _, message in outcomes), outcomes


def build_province(monkeypatch: pytest.MonkeyPatch) -> Province:
    """Four kindergartens in three counties of two cities, fifteen children, one transfer."""
    monkeypatch.setenv("PORTAL_FUNDING_RATES", json.dumps(RATES))
    reset_settings_cache()
    load_henan_regions()
    province = Province()
    school_year = children.school_year_of(TODAY)
    clerks: dict[str, Actor] = {}
    classes: dict[str, int] = {}
    for key, (code, name, ownership, inclusive, county, _city) in INSTITUTIONS.items():
        place = register_institution(
            SYSTEM_ACTOR, InstitutionInput(code, name, "独立设置幼儿园", ownership, inclusive, "主城区", county)
        )
        province.places[key] = place.id or 0
        clerks[key] = clerk_of(code)
        classes[key] = children.create_class(
            clerks[key], {"name": "中一班", "grade": "中班", "school_year": school_year}
        ).id

    birth = S - timedelta(days=1300)
    enrolled = (S - timedelta(days=120)).isoformat()
    # key: (institution, name, poverty); every child numbered before D unless said otherwise.
    plan = {
        "a1": ("A", "张小明", False),
        "a2": ("A", "王丽华", True),
        "moved": ("A", "赵子轩", False),  # A → B on MOVED
        "no_number": ("A", "孙一", False),  # approved, but its record has no student number
        "b1": ("B", "李梓涵", False),
        "b2": ("B", "周雨桐", True),
        "b_late": ("B", "吴浩然", False),  # numbered after D (today): not counted on D
        "c1": ("C", "郑可馨", False),  # a private non-inclusive kindergarten: no category
        "c2": ("C", "冯思远", True),  # ... but the poverty aid follows the child
        "d1": ("D", "陈一鸣", False),
        "d2": ("D", "褚佳怡", True),
        "d_closed": ("D", "卫明轩", False),  # left before D
        "d_left_later": ("D", "蒋欣然", False),  # left after D: in school on D
        "d_submitted": ("D", "沈嘉懿", False),  # submitted, not approved
        "d_saved": ("D", "韩雪", True),  # saved only
    }
    for sequence, (key, (where, name, poverty)) in enumerate(plan.items(), start=1):
        county = INSTITUTIONS[where][4]
        values = child_values(
            name=name,
            birth=birth,
            sequence=sequence,
            enrolment_date=enrolled,
            class_name="中一班",
            flag_poverty=poverty,
            hukou_region="河南省",
        )
        values["document_number"] = resident_id(county, birth, sequence)
        province.kids[key] = children.save_child(clerks[where], values, today=TODAY).child_id
    for where in INSTITUTIONS:
        ids = [province.kids[k] for k, (w, _, _) in plan.items() if w == where and k != "d_saved"]
        children.submit_children(clerks[where], ids, today=TODAY)
    with db.session_scope() as session:  # d_submitted waits in the queue: take it out of it
        submitted = session.get(Child, province.kids["d_submitted"])
        assert submitted is not None
        submitted_request = submitted.request_id
    for county in ("410122", "410102"):
        approve_children(county)
    reviewer = reviewer_of(Level.COUNTY, "410225")
    rows = [
        r.id for r in workflow.queue(reviewer, kind=children.KIND_CHILD, limit=100).rows if r.id != submitted_request
    ]
    assert all(not message for _, message in workflow.decide_many(reviewer, rows, "approve"))

    # The transfer A → B, through the real services (one county: no county review).
    with db.session_scope() as session:
        moved = session.get(Child, province.kids["moved"])
        assert moved is not None
        number = children.number_of(moved)
    province.transfer_id = transfers.start_transfer(clerks["B"], number, "赵子轩", classes["B"], "随父母搬家")
    transfers.agree(clerks["A"], province.transfer_id)
    transfers.complete(clerks["B"], province.transfer_id, classes["B"])

    # Two leavings, reviewed by the county: one before D, one after it.
    for key, day in (("d_closed", S + timedelta(days=90)), ("d_left_later", D + timedelta(days=10))):
        leaving.request_leave(clerks["D"], province.kids[key], "left", day, "随父母迁居外省", today=TODAY)
    for row in workflow.queue(reviewer, kind=leaving.KIND_LEAVE).rows:
        workflow.decide(reviewer, row.id, "approve")

    # The records' history as it would be on the reference date: numbered shortly after the
    # period began (b_late keeps today's number), the transfer completed on MOVED; one approved
    # record never got a number.
    early = [province.kids[k] for k in plan if k not in ("b_late", "d_submitted", "d_saved")]
    with db.get_engine().begin() as conn:
        conn.execute(
            Child.__table__.update()
            .where(col(Child.id).in_(early))
            .values(numbered_at=local_noon(S + timedelta(days=5)))
        )
        conn.execute(
            Transfer.__table__.update()
            .where(col(Transfer.id) == province.transfer_id)
            .values(closed_at=local_noon(MOVED))
        )
        conn.execute(
            Child.__table__.update()
            .where(col(Child.id) == province.kids["no_number"])
            .values(student_number_hash=None, student_number_cipher=None, student_number_kind=None, numbered_at=None)
        )
    province.finance = finance_user("fin-province", Level.PROVINCE, "410000")
    return province


# --- the figures by hand ----------------------------------------------------------------------------

PLACE_OF = {
    key: (INSTITUTIONS[key][4], INSTITUTIONS[key][5], INSTITUTIONS[key][2] == "公办", INSTITUTIONS[key][3])
    for key in INSTITUTIONS
}


def by_hand(counted: dict[str, list[tuple[str, bool]]]) -> dict[str, dict[str, Decimal]]:
    """Amounts per institution, county, city and the province from the children counted
    (institution key -> [(child, poverty)]), with the categories worked out here."""
    totals: dict[str, dict[str, Decimal]] = {"institution": {}, "county": {}, "city": {}, "province": {}}
    for key, kids in counted.items():
        county, city, public, inclusive = PLACE_OF[key]
        rates = RESOLVED[county]
        amount = Decimal("0.00")
        for _child, poverty in kids:
            if public or inclusive:
                amount += rates["per_child"]
            if inclusive and not public:
                amount += rates["inclusive"]
            if poverty:
                amount += rates["poverty"]
        name = INSTITUTIONS[key][1]
        for level, code in (("institution", name), ("county", county), ("city", city), ("province", "41")):
            totals[level][code] = totals[level].get(code, Decimal("0.00")) + amount
    return {level: {k: v for k, v in found.items() if v} for level, found in totals.items()}


def figures(actor: Actor, run_id: int) -> dict[str, dict[str, Decimal]]:
    found = {}
    for level in ("institution", "county", "city", "province"):
        rows = funding.run_totals(actor, run_id, level).rows
        found[level] = {(r.name if level == "institution" else r.code): r.total for r in rows}
    return found


def use_rule(monkeypatch: pytest.MonkeyPatch, rule: str) -> None:
    monkeypatch.setenv("PORTAL_FUNDING_TRANSFER_RULE", rule)
    reset_settings_cache()


# --- the rates setting --------------------------------------------------------------------------------


def test_the_rates_setting_is_read_exactly_and_the_most_specific_entry_wins() -> None:
    rates = funding.parse_rates(json.dumps(RATES))
    for county, expected in RESOLVED.items():
        city = county[:4] + "00"
        assert funding.rates_for(rates, YEAR, county, city) == expected
        assert all(isinstance(v, Decimal) for v in funding.rates_for(rates, YEAR, county, city).values())
    # Another year: only the "*" entries apply, the county's own first.
    assert funding.rates_for(rates, YEAR + 1, "410102", "410100")["per_child"] == Decimal("999.99")
    assert funding.rates_for(rates, YEAR + 1, "410122", "410100")["per_child"] == Decimal("600.00")
    # JSON numbers are read as written, never through a float.
    assert funding.parse_rates('{"*": {"*": {"per_child": 600.1, "poverty": 0, "inclusive": "0.00"}}}')["*"]["*"] == {
        "per_child": Decimal("600.10"),
        "poverty": Decimal("0.00"),
        "inclusive": Decimal("0.00"),
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "不是有效的 JSON"),
        ('{"*": {"*": {"per_child": "-1.00", "poverty": "1", "inclusive": "1"}}}', "不能为负数"),
        ('{"*": {"*": {"per_child": 600.123}}}', "超过两位小数"),
        ('{"*": {"*": {"per_child": "600.001"}}}', "超过两位小数"),
        ('{"*": {"*": {"per_child": "abc"}}}', "不是金额"),
        ('{"*": {"*": {"per_child": "1_000"}}}', "不是金额"),
        ('{"*": {"*": {"per_child": "６００"}}}', "不是金额"),
        ('{"*": {"*": {"per_child": "6e2"}}}', "不是金额"),
        ('{"*": {"*": {"per_child": NaN}}}', "不是有效的 JSON"),
        ('{"*": {"*": {"per_child": "NaN"}}}', "不是金额"),
        ('{"*": {"*": {"per_child": true}}}', "金额"),
        ('{"*": {"*": {"tuition": "1.00"}}}', "未知的类别“tuition”"),
        ('{"26": {"*": {"per_child": "1.00"}}}', "年度“26”"),
        ('{"*": {"4101": {"per_child": "1.00"}}}', "地区代码“4101”"),
        ("[]", "JSON 对象"),
    ],
)
def test_a_malformed_rates_setting_is_refused_naming_the_setting(
    raw: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ServiceError, match=message) as refused:
        funding.parse_rates(raw)
    assert "PORTAL_FUNDING_RATES" in str(refused.value)
    monkeypatch.setenv("PORTAL_FUNDING_RATES", raw)
    reset_settings_cache()
    with pytest.raises(ServiceError, match="PORTAL_FUNDING_RATES"):
        funding.validate_rates_setting()


def test_a_category_without_any_rate_is_refused() -> None:
    rates = funding.parse_rates('{"2026": {"410000": {"per_child": "1.00", "poverty": "2.00"}}}')
    with pytest.raises(ServiceError, match="普惠性民办园补助"):
        funding.rates_for(rates, 2026, "410122", "410100")
    with pytest.raises(ServiceError, match="生均财政拨款"):
        funding.rates_for(rates, 2027, "410122", "410100")


def test_names_are_masked() -> None:
    assert funding.masked_name("张小明") == "张*明"
    assert funding.masked_name("欧阳小明") == "欧**明"
    assert funding.masked_name("李明") == "李*"


# --- runs -----------------------------------------------------------------------------------------------


def test_a_run_counts_each_child_once_to_the_cent_under_both_rules(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    province = build_province(monkeypatch)
    finance = province.finance
    assert finance is not None
    steps: list[tuple[int, int]] = []
    run_id = funding.compute_run(
        finance, reference_date=D, period_start=S, note="年度测算", on_progress=lambda d, t: steps.append((d, t))
    )
    assert steps[-1][0] == steps[-1][1] and [d for d, _ in steps] == sorted(d for d, _ in steps)

    # On D, by the rule of the reference date: the transferred child at B (it moved before D).
    expected = by_hand(
        {
            "A": [("a1", False), ("a2", True)],
            "B": [("b1", False), ("b2", True), ("moved", False)],
            "C": [("c2", True)],  # c1: no category
            "D": [("d1", False), ("d2", True), ("d_left_later", False)],
        }
    )
    assert figures(finance, run_id) == expected
    assert expected["province"]["41"] == Decimal("11005.10")  # worked out on paper too
    assert expected["city"] == {"410100": Decimal("7853.50"), "410200": Decimal("3151.60")}
    run = funding.get_run(finance, run_id).run
    assert (run.children, run.total, run.transfer_rule, run.period_start, run.year) == (
        9,
        Decimal("11005.10"),
        "reference_date",
        S,
        YEAR,
    )
    totals = funding.run_totals(finance, run_id, "county")
    assert totals.total.total == Decimal("11005.10")
    zhongmu = next(r for r in totals.rows if r.code == "410122")
    assert zhongmu.children == {"per_child": 5, "poverty": 2, "inclusive": 3}
    assert zhongmu.amounts["inclusive"] == Decimal("1352.25")

    # The drill-down: B's children, masked, with why they count; the transferred child once.
    b = funding.institution_children(finance, run_id, province.places["B"], limit=2)
    assert (b.children, b.amount, len(b.rows)) == (3, Decimal("4453.00"), 2)
    more = funding.institution_children(finance, run_id, province.places["B"], after_id=b.next_after, limit=2)
    rows = [*b.rows, *more.rows]
    assert more.next_after is None and len(rows) == 3
    names = {r.name: r for r in rows}
    assert set(names) == {"李*涵", "周*桐", "赵*轩"}
    assert names["赵*轩"].reason.endswith(f"{MOVED} 转入（按基准日所在园计）")
    assert names["赵*轩"].amount == Decimal("1151.00")
    assert "普惠性民办园补助" in names["周*桐"].categories and "建档立卡家庭幼儿资助" in names["周*桐"].categories
    assert all(r.student_number.startswith("G410") and "*" in r.student_number for r in rows)
    d_rows = funding.institution_children(finance, run_id, province.places["D"]).rows
    assert any("基准日后已离园或毕业" in r.reason for r in d_rows)
    with db.session_scope() as session:
        counted = set(session.exec(select(FundingChild.child_id).where(FundingChild.run_id == run_id)).all())
    skipped = {"no_number", "b_late", "c1", "d_closed", "d_submitted", "d_saved"}
    assert counted == {province.kids[k] for k in province.kids if k not in skipped}

    # By the rule of the period's start: the transferred child at A, where it was on S.
    use_rule(monkeypatch, "period_start")
    second = funding.compute_run(finance, reference_date=D, period_start=S)
    assert figures(finance, second) == by_hand(
        {
            "A": [("a1", False), ("a2", True), ("moved", False)],
            "B": [("b1", False), ("b2", True)],
            "C": [("c2", True)],
            "D": [("d1", False), ("d2", True), ("d_left_later", False)],
        }
    )
    a = funding.institution_children(finance, second, province.places["A"])
    assert next(r for r in a.rows if r.name == "赵*轩").reason.endswith(f"{MOVED} 转出（按测算期起始日所在园计）")

    # A reference date before the transfer: by the reference date's rule, the child is walked back to A.
    use_rule(monkeypatch, "reference_date")
    third = funding.compute_run(finance, reference_date=MOVED - timedelta(days=1), period_start=S)
    early = figures(finance, third)
    assert (
        early["institution"]["中牟县第一公办幼儿园"]
        == 3 * RESOLVED["410122"]["per_child"] + RESOLVED["410122"]["poverty"]
    )
    # ... and d_closed, who left after that day, counts too.
    assert early["province"]["41"] == Decimal("11005.10") - Decimal("1151.00") + Decimal("700.25") + Decimal("650.50")
    walked = funding.institution_children(finance, third, province.places["A"]).rows
    assert next(r for r in walked if r.name == "赵*轩").reason.endswith(f"{MOVED} 转出（按基准日所在园计）")

    # Every run listed for the province, newest first; each computation audited once.
    assert [r.id for r in funding.list_runs(finance)] == [third, second, run_id]
    with db.session_scope() as session:
        audited = session.exec(
            select(func.count()).select_from(AuditLog).where(AuditLog.action == "funding_compute")
        ).one()
    assert audited == 3


def test_a_run_is_frozen_exported_and_read_only_in_scope(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    province = build_province(monkeypatch)
    finance = province.finance
    assert finance is not None
    run_id = funding.compute_run(finance, reference_date=D, period_start=S)
    before = figures(finance, run_id)

    # The database refuses to change or delete it.
    for statement in (
        f"UPDATE funding_line SET amount = 0 WHERE run_id = {run_id}",
        f"UPDATE funding_run SET total = 0 WHERE id = {run_id}",
        f"DELETE FROM funding_child WHERE run_id = {run_id}",
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.get_engine().begin() as conn:
            conn.execute(text(statement))
    # A later change to a child does not move the run; a new run sees it.
    with db.get_engine().begin() as conn:
        conn.execute(Child.__table__.update().where(col(Child.id) == province.kids["a1"]).values(flag_poverty=True))
    assert figures(finance, run_id) == before
    later = funding.compute_run(finance, reference_date=D, period_start=S)
    assert figures(finance, later)["province"]["41"] == before["province"]["41"] + RESOLVED["410122"]["poverty"]

    # The workbook for finance: the totals, the parameters, the children masked; the download audited.
    name, data = funding.export_run(finance, run_id)
    assert name.endswith(".xlsx")
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["汇总", "机构明细", "参数", "幼儿明细"]
    summary = [list(r) for r in book["汇总"].iter_rows(values_only=True)]
    assert summary[-1][0] == "合计" and Decimal(str(summary[-1][-1])) == Decimal("11005.10")
    subtotals = {r[0]: Decimal(str(r[-1])) for r in summary if r[1] == "小计"}
    assert subtotals == {"郑州市": Decimal("7853.50"), "开封市": Decimal("3151.60")}
    counties = {r[1]: Decimal(str(r[-1])) for r in summary[2:-1] if r[1] != "小计"}
    assert counties == {"中牟县": Decimal("6853.50"), "中原区": Decimal("1000.00"), "兰考县": Decimal("3151.60")}
    lines = [list(r) for r in book["机构明细"].iter_rows(values_only=True)]
    assert Decimal(str(lines[-1][-1])) == Decimal("11005.10")
    assert sum(Decimal(str(r[-1])) for r in lines[1:-1]) == Decimal("11005.10")
    assert book["机构明细"].cell(row=2, column=8).number_format == "#,##0.00"
    parameters = {r[0]: r[1] for r in book["参数"].iter_rows(values_only=True) if r and r[0]}
    assert parameters["基准日"] == D.isoformat() and parameters["测算编号"] == run_id
    assert parameters["转园幼儿计算规则"] == "按基准日所在园计" and parameters["测算人"] == "测试财务"
    kids = [list(r) for r in book["幼儿明细"].iter_rows(values_only=True)]
    assert len(kids) == 1 + 9 + 1 and kids[-1][3] == "9 人" and Decimal(str(kids[-1][6])) == Decimal("11005.10")
    shown = {r[3] for r in kids[1:-1]}
    assert "张*明" in shown and "张小明" not in shown
    assert all("*" in r[4] for r in kids[1:-1])
    with db.session_scope() as session:
        exported = session.exec(
            select(AuditLog).where(AuditLog.action == "data_export", AuditLog.object_type == "funding_run")
        ).all()
    assert len(exported) == 1 and exported[0].object_id == str(run_id)

    # Records changing between the count and the insert: the run is refused whole, nothing kept.
    count_county = funding._count_county
    monkeypatch.setattr(funding, "_count_county", lambda *args: count_county(*args) + 1)
    with pytest.raises(ServiceError, match="数据发生了变化"):
        funding.compute_run(finance, reference_date=D, period_start=S)
    monkeypatch.setattr(funding, "_count_county", count_county)
    assert [r.id for r in funding.list_runs(finance)] == [later, run_id]

    # A county's finance user computes its own county only, and cannot read the province's run.
    zhongmu = finance_user("fin-410122", Level.COUNTY, "410122")
    own = funding.compute_run(zhongmu, reference_date=D, period_start=S)
    assert figures(zhongmu, own)["province"] == {"41": Decimal("6853.50") + RESOLVED["410122"]["poverty"]}  # a1 since
    assert [r.id for r in funding.list_runs(zhongmu)] == [own]
    lankao = finance_user("fin-410225", Level.COUNTY, "410225")
    for reader in (zhongmu, lankao):
        with pytest.raises(PermissionDenied):
            funding.run_totals(reader, run_id, "county")
        with pytest.raises(PermissionDenied):
            funding.export_run(reader, run_id)
    with pytest.raises(PermissionDenied):
        funding.institution_children(lankao, own, province.places["A"])
    assert own in [r.id for r in funding.list_runs(finance)]  # the province reads its counties' runs
    with pytest.raises(NotFound):
        funding.get_run(finance, 999_999)


def test_only_finance_users_of_a_bureau_compute_and_bad_dates_write_nothing(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_henan_regions()
    finance = finance_user("fin-province", Level.PROVINCE, "410000")
    reviewer = reviewer_of(Level.PROVINCE, "410000")
    ministry = finance_user("fin-ministry", Level.MINISTRY, None)
    for actor in (reviewer, ministry):
        with pytest.raises(PermissionDenied):
            funding.compute_run(actor, reference_date=D)
        with pytest.raises(PermissionDenied):
            funding.list_runs(actor)
    today = workflow.local_today()
    with pytest.raises(ServiceError, match="不能晚于今天"):
        funding.compute_run(finance, reference_date=today + timedelta(days=1))
    with pytest.raises(ServiceError, match="不能早于测算期起始日"):
        funding.compute_run(finance, reference_date=D, period_start=D + timedelta(days=1))
    with pytest.raises(ServiceError, match="备注"):
        funding.compute_run(finance, reference_date=D, note="x" * 501)
    monkeypatch.setenv("PORTAL_FUNDING_RATES", '{"*": {"*": {"per_child": "-5"}}}')
    reset_settings_cache()
    with pytest.raises(ServiceError, match="PORTAL_FUNDING_RATES"):
        funding.compute_run(finance, reference_date=D)
    with pytest.raises(ServiceError, match="PORTAL_FUNDING_RATES"):
        funding.rates_overview(finance)
    monkeypatch.setenv("PORTAL_FUNDING_RATES", json.dumps(RATES))
    monkeypatch.setenv("PORTAL_FUNDING_TRANSFER_RULE", "whenever")
    reset_settings_cache()
    with pytest.raises(ServiceError, match="PORTAL_FUNDING_TRANSFER_RULE"):
        funding.compute_run(finance, reference_date=D)
    with db.session_scope() as session:
        for model in (FundingRun, FundingLine, FundingChild):
            assert session.exec(select(func.count()).select_from(model)).one() == 0
        assert not session.exec(select(AuditLog).where(AuditLog.action == "funding_compute")).all()
    # With a good setting, the overview shows the entries that can apply here and the rule.
    monkeypatch.setenv("PORTAL_FUNDING_TRANSFER_RULE", "period_start")
    reset_settings_cache()
    overview = funding.rates_overview(finance)
    assert overview.rule_label == "按测算期起始日所在园计"
    assert {(e.year, e.region_code) for e in overview.entries} >= {(str(YEAR), "410122"), ("*", "*")}
    assert next(e for e in overview.entries if e.region_code == "410100").region_name == "郑州市"


def test_the_demo_run_is_computed_by_the_demo_finance_user(demo: str) -> None:
    funding.seed_demo(TODAY)
    runs = funding.list_runs(actor_for("demo-finance"))
    assert len(runs) == 1
    assert (runs[0].region_name, runs[0].created_by_name, runs[0].reference_date) == ("河南省", "钱敏", TODAY)
