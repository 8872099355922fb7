"""Funding computed from the records (经费测算, MISSION.md R4.2, Notice 二).

The province pays per child with a student number: per-child funding (生均财政拨款) for the children
of public and inclusive kindergartens, aid per child of a registered poor family (建档立卡家庭幼儿
资助, in any kindergarten) and a subsidy per child to inclusive private kindergartens (普惠性民办园
补助). A finance user of a province, city or county bureau computes, for a reference date, the
amounts of every institution in their region; the result is a run (``FundingRun`` with its
``FundingLine`` per institution and category and its ``FundingChild`` per child counted), frozen
by database triggers: a new computation is a new run.

Who counts, on the reference date D: a record approved and holding a student number (numbered on
or before D), enrolled on or before D and not closed on D (a child who left or graduated after D
was in school on D and counts). A child transferred during the period counts once, by the setting
``funding_transfer_rule``: at the institution it belonged to on D (``reference_date``), or on the
period's first day (``period_start``); completed transfers after that day are walked back.

The rates are the setting ``funding_rates`` (JSON ``{year or "*": {region code or "*": {category:
"amount"}}}``); for each category the most specific entry wins: the year before "*", then the
county's code, the city's, the province's, "*". The rates used are frozen with the run.

Scale: a province has millions of children. The counting is SQL: per county one grouped count and
one ``INSERT … SELECT`` of the county's children (categories, amount and reason as CASE
expressions), so no child is loaded into Python; only the few children with a transfer in the
period are walked in Python and inserted in bulk. The run's lines come from the grouped counts and
are checked against the inserted children before the commit.
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from sqlalchemy import String, and_, case, insert, literal, or_, type_coerce
from sqlmodel import Session, col, func, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, require, scope_filter
from portal.auth.roles import Level
from portal.clock import LOCAL_TZ, format_local
from portal.data import crypto, db
from portal.data.models import Child, FundingChild, FundingLine, FundingRun, Institution, Region, Transfer, User
from portal.data.text import without_bad_characters
from portal.data.types import Hundredths
from portal.services import audit, children, exports, workflow
from portal.services.errors import NotFound, ServiceError
from portal.services.inputs import check_text
from portal.settings import get_settings

CATEGORIES = ("per_child", "poverty", "inclusive")
CATEGORY_LABELS = {"per_child": "生均财政拨款", "poverty": "建档立卡家庭幼儿资助", "inclusive": "普惠性民办园补助"}
RULE_LABELS = {"reference_date": "按基准日所在园计", "period_start": "按测算期起始日所在园计"}
LEVEL_LABELS = {"province": "省", "city": "市", "county": "县（区）", "institution": "机构"}
RATES_SETTING = "PORTAL_FUNDING_RATES"
RULE_SETTING = "PORTAL_FUNDING_TRANSFER_RULE"
PUBLIC = "公办"
COUNTED_STATES = ("approved", "graduated", "left")  # closed after D: in school on D
BASE_REASON = "审核通过并有学籍号"
CLOSED_LATER = "基准日后已离园或毕业"
CENT = Decimal("0.01")
MAX_RATE = Decimal("10000000")
CHUNK = 5000
SHEET_ROWS = 1_000_000  # an Excel sheet holds 1,048,576 rows: the children are split before that
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MONEY_FORMAT = "#,##0.00"
CHANGED_MEANWHILE = "测算期间幼儿数据发生了变化，本次测算未保存，请重新测算。"

Rates = dict[str, dict[str, dict[str, Decimal]]]
Progress = Callable[[int, int], None]


# --- the rates ----------------------------------------------------------------------------------


def _bad_rates(message: str) -> ServiceError:
    return ServiceError(f"经费标准设置 {RATES_SETTING} 有误：{message}请系统管理员更正设置后再测算。")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"不允许 {name}")


_PLAIN_AMOUNT = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


def _amount(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | Decimal):
        raise _bad_rates(f'{where} 的标准应写成带引号的金额，如 "600.00"。')
    if isinstance(value, str):
        value = value.strip()
        # Plain ASCII digits only: Decimal() would also take "1_000", "1e3" and full-width digits.
        if not _PLAIN_AMOUNT.fullmatch(value):
            shown = without_bad_characters(value[:40], "")
            raise _bad_rates(f'{where} 的标准“{shown}”不是金额（应写成如 "600.00" 的数字）。')
    try:
        amount = Decimal(value) if isinstance(value, str) else value
    except InvalidOperation:
        raise _bad_rates(f"{where} 的标准不是金额。") from None
    if not amount.is_finite():
        raise _bad_rates(f"{where} 的标准“{value}”不是金额。")
    if amount < 0:
        raise _bad_rates(f"{where} 的标准不能为负数（{value}）。")
    if amount > MAX_RATE:
        raise _bad_rates(f"{where} 的标准 {value} 超过 {MAX_RATE} 元，请核对。")
    if amount != amount.quantize(CENT):
        raise _bad_rates(f"{where} 的标准 {value} 超过两位小数（金额精确到分）。")
    return amount.quantize(CENT)


def parse_rates(raw: str) -> Rates:
    """The setting's JSON as exact amounts; a malformed setting raises a ServiceError that names
    the setting and the entry that is wrong (bad JSON, an unknown year, region or category, an
    amount that is negative, not a number or has more than two decimal places)."""
    try:
        data = json.loads(raw, parse_float=Decimal, parse_int=Decimal, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise _bad_rates(f"不是有效的 JSON（{str(exc)[:80]}）。") from None
    if not isinstance(data, dict) or not data:
        raise _bad_rates("应为 {年度: {地区代码: {类别: 金额}}} 形式的 JSON 对象。")
    rates: Rates = {}
    for year, regions in data.items():
        if year != "*" and not (len(year) == 4 and year.isascii() and year.isdigit()):
            raise _bad_rates(f'年度“{year}”应为 4 位数字或 "*"。')
        if not isinstance(regions, dict) or not regions:
            raise _bad_rates(f"“{year}”下应为 {{地区代码: {{类别: 金额}}}}。")
        rates[year] = {}
        for region, amounts in regions.items():
            if region != "*" and not (len(region) == 6 and region.isascii() and region.isdigit()):
                raise _bad_rates(f'地区代码“{region}”应为 6 位数字（如 410000、410100、410122）或 "*"。')
            if not isinstance(amounts, dict) or not amounts:
                raise _bad_rates(f"“{year}”→“{region}”下应为 {{类别: 金额}}。")
            rates[year][region] = {}
            for category, value in amounts.items():
                if category not in CATEGORIES:
                    raise _bad_rates(f"未知的类别“{category}”（可用：{'、'.join(CATEGORIES)}）。")
                rates[year][region][category] = _amount(value, f"“{year}”→“{region}”→“{category}”")
    return rates


def validate_rates_setting() -> Rates:
    """The rates of the setting ``funding_rates``, checked (a ServiceError naming the setting if
    it is malformed)."""
    return parse_rates(get_settings().funding_rates)


def transfer_rule() -> str:
    """The setting ``funding_transfer_rule``, checked."""
    rule = get_settings().funding_transfer_rule.strip()
    if rule not in RULE_LABELS:
        raise ServiceError(f"转园计算规则设置 {RULE_SETTING} 有误：应为 reference_date 或 period_start，现为“{rule}”。")
    return rule


def _province6(code: str) -> str:
    return code[:2] + "0000"


def rates_for(rates: Rates, year: int, county_code: str, city_code: str | None = None) -> dict[str, Decimal]:
    """The rates of each category for an institution of this county (and city) in ``year``: per
    category, the first entry found for (the year, then "*") × (the county, its city, its
    province, "*"). A category without any entry is refused (set it to "0.00" if it is not paid)."""
    regions: list[str] = []
    for code in (county_code, city_code or county_code[:4] + "00", _province6(county_code), "*"):
        if code not in regions:
            regions.append(code)
    found: dict[str, Decimal] = {}
    for category in CATEGORIES:
        for year_key in (str(year), "*"):
            entries = rates.get(year_key, {})
            amount = next((entries[r][category] for r in regions if category in entries.get(r, {})), None)
            if amount is not None:
                found[category] = amount
                break
        else:
            raise _bad_rates(
                f"没有适用于 {year} 年、地区 {county_code} 的“{CATEGORY_LABELS[category]}”（{category}）标准"
                '（不发放的类别请设为 "0.00"）。'
            )
    return found


@dataclass(frozen=True)
class RateEntry:
    year: str  # "2026" or "*"
    region_code: str  # a 6-digit code or "*"
    region_name: str
    amounts: dict[str, Decimal]

    @property
    def year_label(self) -> str:
        return "各年度（默认）" if self.year == "*" else f"{self.year} 年"


@dataclass(frozen=True)
class RatesOverview:
    rule: str
    rule_label: str
    entries: list[RateEntry]


def _relevant(actor: Actor, code: str) -> bool:
    """An entry of the setting that can apply in the actor's region (above it or inside it)."""
    if code == "*":
        return True
    region = actor.region_code or ""
    if code in (_province6(region), region[:4] + "00"):
        return True
    match actor.level:
        case Level.PROVINCE:
            return code[:2] == region[:2]
        case Level.CITY:
            return code[:4] == region[:4]
    return code == region


def rates_overview(actor: Actor) -> RatesOverview:
    """The rates in effect (the setting's entries that can apply in the actor's region) and the
    transfer rule, for the page's information box; a malformed setting raises a ServiceError."""
    require(actor, Action.COMPUTE_FUNDING)
    rates = validate_rates_setting()
    rule = transfer_rule()
    codes = {r for entries in rates.values() for r in entries if r != "*"}
    with db.session_scope() as session:
        names = _region_names(session, codes)
    entries = [
        RateEntry(year, region, names.get(region, region) if region != "*" else "各地区（默认）", amounts)
        for year in sorted(rates, key=lambda y: (y == "*", y))
        for region, amounts in sorted(rates[year].items(), key=lambda item: (item[0] == "*", item[0]))
        if _relevant(actor, region)
    ]
    return RatesOverview(rule, RULE_LABELS[rule], entries)


def _region_names(session: Session, codes: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    wanted = sorted(codes)
    for start in range(0, len(wanted), 900):
        chunk = wanted[start : start + 900]
        names.update(session.exec(select(Region.code, Region.name).where(col(Region.code).in_(chunk))).all())
    return names


# --- computing a run ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    id: int
    name: str
    public: bool
    inclusive: bool
    province_code: str
    city_code: str
    county_code: str


def categories_of(public: bool, inclusive: bool, poverty: bool) -> tuple[str, ...]:
    """A child's categories: per-child funding in a public or inclusive kindergarten, the subsidy
    in an inclusive private one, the aid for a child of a registered poor family anywhere."""
    found = []
    if public or inclusive:
        found.append("per_child")
    if poverty:
        found.append("poverty")
    if inclusive and not public:
        found.append("inclusive")
    return tuple(found)


def _reason(public: bool, categories: Sequence[str], note: str = "") -> str:
    parts = [BASE_REASON]
    if "per_child" in categories:
        parts.append("公办园生均拨款" if public else "普惠性民办园生均拨款")
    if "inclusive" in categories:
        parts.append("普惠性民办园补助")
    if "poverty" in categories:
        parts.append("建档立卡家庭幼儿资助")
    if note:
        parts.append(note)
    return "；".join(parts)


def _local_start(day: date) -> datetime:
    """The first instant of a day in Asia/Shanghai, as aware UTC."""
    return datetime.combine(day, time(0), LOCAL_TZ).astimezone(UTC)


def _local_day(moment: datetime) -> date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL_TZ).date()


def _eligible(reference_date: date) -> list[Any]:
    """In school with a student number on the reference date (region aside)."""
    return [
        col(Child.state).in_(COUNTED_STATES),
        or_(col(Child.closed_on).is_(None), col(Child.closed_on) > reference_date),
        col(Child.student_number_hash).is_not(None),
        or_(
            col(Child.numbered_at).is_(None), col(Child.numbered_at) < _local_start(reference_date + timedelta(days=1))
        ),
        col(Child.enrolment_date) <= reference_date,
    ]


def _moved_in_period(period_start: date) -> Any:
    """A completed transfer on or after the period's first day: such children are walked in Python."""
    return and_(col(Transfer.state) == "completed", col(Transfer.closed_at) >= _local_start(period_start))


def _region_condition(actor: Actor, prefix: str) -> Any:
    """The actor's region on the transfer's ``from_*`` or ``to_*`` codes."""
    match actor.level:
        case Level.PROVINCE:
            return getattr(Transfer, f"{prefix}_province_code") == actor.province_code
        case Level.CITY:
            return getattr(Transfer, f"{prefix}_city_code") == actor.city_code
    return getattr(Transfer, f"{prefix}_county_code") == actor.county_code


@dataclass
class _Tally:
    """Children and amounts per institution and category, as the run's lines are built."""

    counts: dict[tuple[int, str], int]
    children: int = 0
    total: Decimal = Decimal("0.00")

    def add(self, institution_id: int, categories: Sequence[str], amount: Decimal, how_many: int = 1) -> None:
        for category in categories:
            self.counts[(institution_id, category)] = self.counts.get((institution_id, category), 0) + how_many
        self.children += how_many
        self.total += amount * how_many


def _walk(child: Any, moves: Sequence[Any], rule: str, reference_date: date, period_start: date) -> tuple[int, str]:
    """The institution where a child with transfers in the period counts, and the note saying why."""
    cutoff = reference_date if rule == "reference_date" else period_start
    label = RULE_LABELS[rule]
    place = child.institution_id
    left_on: date | None = None
    arrived_on: date | None = None
    for move in sorted(moves, key=lambda m: m.closed_at, reverse=True):
        day = _local_day(move.closed_at)
        if day > cutoff:
            if move.to_institution_id == place:
                place, left_on = move.from_institution_id, day
        elif arrived_on is None and move.to_institution_id == place:
            arrived_on = day
    if left_on is not None:
        return place, f"{left_on.isoformat()} 转出（{label}）"
    if arrived_on is not None and arrived_on >= period_start:
        return place, f"{arrived_on.isoformat()} 转入（{label}）"
    return place, ""


def compute_run(
    actor: Actor,
    *,
    reference_date: date,
    period_start: date | None = None,
    year: int | None = None,
    note: str = "",
    on_progress: Progress | None = None,
    today: date | None = None,
) -> int:
    """Compute and freeze the funding of the actor's region on ``reference_date``; returns the run's
    id. ``year`` chooses the rates (default: the reference date's year), ``period_start`` the
    first day of the period (default: 1 January of the year). ``on_progress(done, total)`` is
    called as the counties are done. Refused with a Chinese message, nothing written: not a
    finance user of a province, city or county; a reference date in the future or before the
    period's start; a malformed rates setting."""
    require(actor, Action.COMPUTE_FUNDING)
    today = today or workflow.local_today()
    year = year or reference_date.year
    period_start = period_start or date(year, 1, 1)
    if not 2000 <= year <= today.year + 1:
        raise ServiceError(f"测算年度应在 2000 年到 {today.year + 1} 年之间。")
    if reference_date > today:
        raise ServiceError(f"基准日（{reference_date}）不能晚于今天（{today}）：只能测算已经发生的在园情况。")
    if reference_date < period_start:
        raise ServiceError(f"基准日（{reference_date}）不能早于测算期起始日（{period_start}）。")
    note = (note or "").strip()
    check_text(note, field="note", label="备注", max_length=500)
    rates = validate_rates_setting()
    rule = transfer_rule()
    report = on_progress or (lambda done, total: None)

    with db.session_scope(write=True) as session:
        places = _places(session, actor)
        counties = sorted({(p.county_code, p.city_code) for p in places.values()})
        county_rates = {county: rates_for(rates, year, county, city) for county, city in counties}
        steps, done = 2 * len(counties) + 2, 0
        report(done, steps)

        # 1. The children with a transfer in the period, placed by the rule (Python, few).
        tally = _Tally(counts={})
        moved_rows = _moved_children(session, actor, places, county_rates, rule, reference_date, period_start, tally)
        done += 1
        report(done, steps)
        # 2. Everyone else, counted per county and institution in SQL.
        expected: dict[str, int] = {}
        for county, _city in counties:
            expected[county] = _count_county(
                session, places, county, county_rates[county], reference_date, period_start, tally
            )
            done += 1
            report(done, steps)
        # 3. The run with its totals and lines, then its children: per county INSERT … SELECT, each
        #    checked against the count, and the transferred children in bulk.
        run_id = _write_run(
            session, actor, year, reference_date, period_start, note, rule, rates, county_rates, places, tally
        )
        for county, _city in counties:
            # Core, not the ORM's bulk path, and asked to keep the row count (an INSERT's is not by default).
            statement = insert(FundingChild).from_select(
                ["run_id", "child_id", "institution_id", "categories", "amount", "reason"],
                _county_children(run_id, county, county_rates[county], reference_date, period_start),
            )
            inserted = session.connection().execute(statement.execution_options(preserve_rowcount=True)).rowcount
            if inserted != expected[county]:
                raise ServiceError(CHANGED_MEANWHILE)
            done += 1
            report(done, steps)
        for row in moved_rows:
            row["run_id"] = run_id
        for start in range(0, len(moved_rows), CHUNK):
            session.execute(insert(FundingChild), moved_rows[start : start + CHUNK])
        # 4. The children written add up to the lines, or nothing is kept.
        _verify(session, run_id, tally)
        done += 1
        report(done, steps)
        audit.record(
            session,
            actor,
            "funding_compute",
            object_type="funding_run",
            object_id=run_id,
            after={
                "year": year,
                "reference_date": reference_date,
                "period_start": period_start,
                "transfer_rule": rule,
                "children": tally.children,
                "total": str(tally.total),
            },
            detail=f"{actor.region_name} {reference_date} 经费测算：{tally.children} 人，{tally.total} 元",
        )
        return run_id


def _places(session: Session, actor: Actor) -> dict[int, _Place]:
    """The institutions of the actor's region, with what decides their children's categories."""
    found = session.exec(
        select(
            Institution.id,
            Institution.name,
            Institution.ownership,
            Institution.inclusive,
            Institution.province_code,
            Institution.city_code,
            Institution.county_code,
        ).where(scope_filter(actor, Institution))
    ).all()
    return {row[0]: _Place(row[0], row[1], row[2] == PUBLIC, bool(row[3]), row[4], row[5], row[6]) for row in found}


def _count_county(
    session: Session,
    places: Mapping[int, _Place],
    county: str,
    rates: Mapping[str, Decimal],
    reference_date: date,
    period_start: date,
    tally: _Tally,
) -> int:
    """Count the county's children (without a transfer in the period) per institution and poverty
    flag into ``tally``; returns how many."""
    found = session.exec(
        select(Child.institution_id, Child.flag_poverty, func.count())
        .join(Institution, col(Institution.id) == col(Child.institution_id))
        .where(*_county_conditions(county, reference_date, period_start))
        .group_by(col(Child.institution_id), col(Child.flag_poverty))
    ).all()
    total = 0
    for institution_id, poverty, how_many in found:
        place = places[institution_id]
        cats = categories_of(place.public, place.inclusive, bool(poverty))
        tally.add(institution_id, cats, sum((rates[c] for c in cats), Decimal("0.00")), how_many)
        total += how_many
    return total


def _write_run(
    session: Session,
    actor: Actor,
    year: int,
    reference_date: date,
    period_start: date,
    note: str,
    rule: str,
    rates: Rates,
    county_rates: Mapping[str, Mapping[str, Decimal]],
    places: Mapping[int, _Place],
    tally: _Tally,
) -> int:
    """The run (with the rates used, frozen) and its lines; returns the run's id."""
    run = FundingRun(
        year=year,
        reference_date=reference_date,
        period_start=period_start,
        region_code=actor.region_code or "",
        region_name=actor.region_name[:64],
        level=actor.level.value,
        province_code=actor.province_code or (actor.region_code or "")[:2],
        city_code=actor.city_code if actor.level in (Level.CITY, Level.COUNTY) else None,
        county_code=actor.county_code if actor.level is Level.COUNTY else None,
        rates_json=json.dumps(
            {
                "year": year,
                "setting": {y: {r: _texts(v) for r, v in entries.items()} for y, entries in rates.items()},
                "counties": {county: _texts(v) for county, v in county_rates.items()},
            },
            ensure_ascii=False,
            sort_keys=True,
        ),
        transfer_rule=rule,
        children=tally.children,
        total=tally.total,
        note=note,
        created_by=actor.user_id or None,
        created_by_name=actor.real_name[:64],
    )
    session.add(run)
    session.flush()
    assert run.id is not None
    lines = []
    for (institution_id, category), how_many in sorted(tally.counts.items()):
        place = places[institution_id]
        rate = county_rates[place.county_code][category]
        lines.append(
            {
                "run_id": run.id,
                "institution_id": institution_id,
                "institution_name": place.name,
                "province_code": place.province_code,
                "city_code": place.city_code,
                "county_code": place.county_code,
                "category": category,
                "children": how_many,
                "rate": rate,
                "amount": rate * how_many,
            }
        )
    for start in range(0, len(lines), CHUNK):
        session.execute(insert(FundingLine), lines[start : start + CHUNK])
    return run.id


def _texts(amounts: Mapping[str, Decimal]) -> dict[str, str]:
    return {category: str(amount) for category, amount in amounts.items()}


def _county_conditions(county: str, reference_date: date, period_start: date) -> list[Any]:
    """The county's children counted at their current institution (no transfer in the period),
    and only those in at least one category. Used by the count and by the insert alike."""
    # NOT IN an uncorrelated subquery: one hashed set of the period's transferred children (a
    # correlated NOT EXISTS may be planned as a scan of the transfers per child on stale statistics).
    moved = select(Transfer.child_id).where(_moved_in_period(period_start))
    return [
        col(Child.county_code) == county,
        col(Institution.county_code) == county,
        *_eligible(reference_date),
        col(Child.id).not_in(moved),
        or_(
            col(Institution.ownership) == PUBLIC,
            col(Institution.inclusive).is_(True),
            col(Child.flag_poverty).is_(True),
        ),
    ]


def _county_children(
    run_id: int, county: str, rates: Mapping[str, Decimal], reference_date: date, period_start: date
) -> Any:
    """SELECT of the county's counted children as funding_child rows: the categories, the amount
    (in hundredths, as the column stores it) and the reason are CASE expressions over a key
    public×4 + inclusive×2 + poverty."""
    key = (
        case((col(Institution.ownership) == PUBLIC, 4), else_=0)
        + case((col(Institution.inclusive).is_(True), 2), else_=0)
        + case((col(Child.flag_poverty).is_(True), 1), else_=0)
    )
    names: dict[int, str] = {}
    cents: dict[int, int] = {}
    reasons: dict[int, str] = {}
    for value in range(8):
        public, inclusive, poverty = bool(value & 4), bool(value & 2), bool(value & 1)
        cats = categories_of(public, inclusive, poverty)
        if not cats:
            continue
        names[value] = ",".join(cats)
        cents[value] = int(sum((rates[c] for c in cats), Decimal(0)) * 100)
        reasons[value] = _reason(public, cats)
    closed = case((col(Child.closed_on).is_not(None), "；" + CLOSED_LATER), else_="")
    reason = type_coerce(case(reasons, value=key, else_=""), String).concat(closed)
    return (
        select(
            literal(run_id),
            col(Child.id),
            col(Child.institution_id),
            case(names, value=key, else_=""),
            case(cents, value=key, else_=0),
            reason,
        )
        .select_from(Child)
        .join(Institution, col(Institution.id) == col(Child.institution_id))
        .where(*_county_conditions(county, reference_date, period_start))
    )


def _moved_children(
    session: Session,
    actor: Actor,
    places: Mapping[int, _Place],
    county_rates: Mapping[str, Mapping[str, Decimal]],
    rule: str,
    reference_date: date,
    period_start: date,
    tally: _Tally,
) -> list[dict[str, Any]]:
    """The children with a completed transfer in the period (or after it) that touches the region:
    each is placed by the rule, and kept if that place is in the region."""
    columns = (Transfer.child_id, Transfer.from_institution_id, Transfer.to_institution_id, Transfer.closed_at)
    ids = sorted(
        set(
            session.exec(
                select(Transfer.child_id).where(
                    _moved_in_period(period_start),
                    or_(_region_condition(actor, "from"), _region_condition(actor, "to")),
                )
            ).all()
        )
    )
    # Every completed transfer in the period of these children, wherever it was, and the children
    # among them in school with a number on the reference date.
    moves_by_child: dict[int, list[Any]] = defaultdict(list)
    eligible: list[Any] = []
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        for move in session.exec(
            select(*columns).where(_moved_in_period(period_start), col(Transfer.child_id).in_(chunk))
        ).all():
            moves_by_child[move.child_id].append(move)
        eligible += session.exec(
            select(Child.id, Child.institution_id, Child.flag_poverty, Child.closed_on).where(
                col(Child.id).in_(chunk), *_eligible(reference_date)
            )
        ).all()
    rows: list[dict[str, Any]] = []
    for child in eligible:
        place_id, transfer_note = _walk(child, moves_by_child[child.id], rule, reference_date, period_start)
        place = places.get(place_id)
        if place is None:  # counted in another region
            continue
        cats = categories_of(place.public, place.inclusive, bool(child.flag_poverty))
        if not cats:
            continue
        amount = sum((county_rates[place.county_code][c] for c in cats), Decimal("0.00"))
        notes = [n for n in (CLOSED_LATER if child.closed_on else "", transfer_note) if n]
        rows.append(
            {
                "child_id": child.id,
                "institution_id": place_id,
                "categories": ",".join(cats),
                "amount": amount,
                "reason": _reason(place.public, cats, "；".join(notes))[:500],
            }
        )
        tally.add(place_id, cats, amount)
    return rows


def _verify(session: Session, run_id: int, tally: _Tally) -> None:
    """The children written add up to the lines (a change to the records between the count and
    the insert would show here): otherwise the whole run is rolled back."""
    counts: dict[tuple[int, str], int] = {}
    children_count = 0
    total = Decimal("0.00")
    for institution_id, categories, how_many, amount in session.exec(
        select(
            FundingChild.institution_id,
            FundingChild.categories,
            func.count(),
            type_coerce(func.sum(FundingChild.amount), Hundredths()),
        )
        .where(FundingChild.run_id == run_id)
        .group_by(col(FundingChild.institution_id), col(FundingChild.categories))
    ).all():
        for category in categories.split(","):
            counts[(institution_id, category)] = counts.get((institution_id, category), 0) + how_many
        children_count += how_many
        total += amount or Decimal(0)
    if counts != tally.counts or children_count != tally.children or total != tally.total:
        raise ServiceError(CHANGED_MEANWHILE)


# --- reading runs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRow:
    id: int
    year: int
    reference_date: date
    period_start: date
    region_name: str
    level: str
    transfer_rule: str
    children: int
    total: Decimal
    note: str
    created_by_name: str
    created_at: datetime

    @property
    def rule_label(self) -> str:
        return RULE_LABELS.get(self.transfer_rule, self.transfer_rule)

    @property
    def label(self) -> str:
        return f"第 {self.id} 号 · {self.region_name} · 基准日 {self.reference_date} · {self.total:,.2f} 元"


@dataclass(frozen=True)
class CountyRates:
    county_code: str
    county_name: str
    amounts: dict[str, Decimal]


@dataclass(frozen=True)
class RunDetail:
    run: RunRow
    rates: list[CountyRates]


def _row(run: FundingRun) -> RunRow:
    return RunRow(
        id=run.id or 0,
        year=run.year,
        reference_date=run.reference_date,
        period_start=run.period_start,
        region_name=run.region_name,
        level=run.level,
        transfer_rule=run.transfer_rule,
        children=run.children,
        total=run.total,
        note=run.note,
        created_by_name=run.created_by_name,
        created_at=run.created_at,
    )


def _run_in_scope(session: Session, actor: Actor, run_id: int) -> FundingRun:
    require(actor, Action.COMPUTE_FUNDING)
    run = session.get(FundingRun, run_id)
    if run is None:
        raise NotFound("经费测算记录不存在。")
    require(actor, Action.COMPUTE_FUNDING, run)  # refused outside the actor's region
    return run


def list_runs(actor: Actor, limit: int = 50) -> list[RunRow]:
    """The runs of the actor's region and of the regions inside it, newest first."""
    require(actor, Action.COMPUTE_FUNDING)
    with db.session_scope() as session:
        runs = session.exec(
            select(FundingRun).where(scope_filter(actor, FundingRun)).order_by(col(FundingRun.id).desc()).limit(limit)
        ).all()
        return [_row(run) for run in runs]


def get_run(actor: Actor, run_id: int) -> RunDetail:
    """A run with the rates it used per county."""
    with db.session_scope() as session:
        run = _run_in_scope(session, actor, run_id)
        used = json.loads(run.rates_json).get("counties", {})
        names = _region_names(session, set(used))
        rates = [
            CountyRates(code, names.get(code, code), {c: Decimal(a) for c, a in amounts.items()})
            for code, amounts in sorted(used.items())
        ]
        return RunDetail(_row(run), rates)


@dataclass(frozen=True)
class TotalRow:
    code: str  # the region's code, or the institution's id as text
    name: str
    children: dict[str, int]  # per category
    amounts: dict[str, Decimal]  # per category
    total: Decimal
    parent: str = ""  # the county of an institution, the city of a county (names)


@dataclass(frozen=True)
class RunTotals:
    run: RunRow
    level: str
    rows: list[TotalRow]
    total: TotalRow


def _empty() -> tuple[dict[str, int], dict[str, Decimal]]:
    return {c: 0 for c in CATEGORIES}, {c: Decimal("0.00") for c in CATEGORIES}


def run_totals(actor: Actor, run_id: int, level: str = "county") -> RunTotals:
    """A run's amounts per province, city, county or institution (``level``), per category, with
    the total; summed in SQL from the run's lines."""
    if level not in LEVEL_LABELS:
        raise ServiceError("请选择汇总层级：省、市、县（区）或机构。")
    with db.session_scope() as session:
        run = _run_in_scope(session, actor, run_id)
        keys: list[Any]
        match level:
            case "province":
                keys = [col(FundingLine.province_code)]
            case "city":
                keys = [col(FundingLine.city_code)]
            case "county":
                keys = [col(FundingLine.city_code), col(FundingLine.county_code)]
            case _:
                keys = [
                    col(FundingLine.county_code),
                    col(FundingLine.institution_id),
                    col(FundingLine.institution_name),
                ]
        found = session.exec(
            select(
                *keys,
                FundingLine.category,
                func.sum(FundingLine.children),
                type_coerce(func.sum(FundingLine.amount), Hundredths()),
            )
            .where(FundingLine.run_id == run_id)
            .group_by(*keys, col(FundingLine.category))
        ).all()
        grouped: dict[tuple[str, ...], tuple[dict[str, int], dict[str, Decimal]]] = {}
        for row in found:
            *key, category, how_many, amount = row
            counts, amounts = grouped.setdefault(tuple(str(k) for k in key), _empty())
            counts[category] += int(how_many or 0)
            amounts[category] += amount or Decimal(0)
        codes = {_province6(k[0]) if level == "province" else k[0] for k in grouped}
        if level == "county":
            codes |= {k[1] for k in grouped}
        names = _region_names(session, codes)
        rows: list[TotalRow] = []
        # In code order (cities, then counties within their city); institutions by name in their county.
        order = (lambda k: (k[0], k[2], int(k[1]))) if level == "institution" else (lambda k: k)
        for key, (counts, amounts) in sorted(grouped.items(), key=lambda item: order(item[0])):
            if level == "province":
                rows.append(
                    TotalRow(key[0], names.get(_province6(key[0]), key[0]), counts, amounts, sum(amounts.values()))
                )
            elif level == "city":
                rows.append(TotalRow(key[0], names.get(key[0], key[0]), counts, amounts, sum(amounts.values())))
            elif level == "county":
                rows.append(
                    TotalRow(
                        key[1],
                        names.get(key[1], key[1]),
                        counts,
                        amounts,
                        sum(amounts.values()),
                        names.get(key[0], key[0]),
                    )
                )
            else:
                rows.append(TotalRow(key[1], key[2], counts, amounts, sum(amounts.values()), names.get(key[0], key[0])))
        counts, amounts = _empty()
        for row in rows:
            for category in CATEGORIES:
                counts[category] += row.children[category]
                amounts[category] += row.amounts[category]
        total = TotalRow("", "合计", counts, amounts, sum(amounts.values(), Decimal("0.00")))
        return RunTotals(_row(run), level, rows, total)


@dataclass(frozen=True)
class CountedChild:
    id: int  # the funding_child row (the page's cursor)
    name: str  # masked: 张*明
    student_number: str  # masked: G410122*********1234
    categories: str  # in words
    amount: Decimal
    reason: str


@dataclass(frozen=True)
class InstitutionChildren:
    institution_id: int
    institution_name: str
    lines: list[tuple[str, int, Decimal, Decimal]]  # category label, children, rate, amount
    amount: Decimal
    children: int
    rows: list[CountedChild]
    next_after: int | None


def masked_name(name: str) -> str:
    """张*明 (the middle hidden; a two-character name keeps its first character only)."""
    if len(name) <= 2:
        return name[:1] + "*" * (len(name) - 1)
    return crypto.mask(name, 1, 1)


def _categories_label(categories: str) -> str:
    return "、".join(CATEGORY_LABELS.get(c, c) for c in categories.split(",") if c)


def _masked_number(cipher: str | None) -> str:
    return crypto.mask(children.decrypt_field(cipher, children.CTX_STUDENT_NUMBER), 7, 4)


def institution_children(
    actor: Actor, run_id: int, institution_id: int, *, after_id: int | None = None, limit: int = 50
) -> InstitutionChildren:
    """One institution's amount in a run and the children counted (masked), keyset-paged."""
    limit = max(1, min(int(limit), 500))
    with db.session_scope() as session:
        _run_in_scope(session, actor, run_id)
        lines = session.exec(
            select(FundingLine)
            .where(FundingLine.run_id == run_id, FundingLine.institution_id == institution_id)
            .order_by(col(FundingLine.category))
        ).all()
        if not lines:
            raise NotFound("该机构在本次测算中没有计入的幼儿。")
        condition = and_(col(FundingChild.run_id) == run_id, col(FundingChild.institution_id) == institution_id)
        how_many = session.exec(select(func.count()).select_from(FundingChild).where(condition)).one()
        query = (
            select(
                FundingChild.id,
                FundingChild.categories,
                FundingChild.amount,
                FundingChild.reason,
                Child.name,
                Child.student_number_cipher,
            )
            .join(Child, col(Child.id) == col(FundingChild.child_id))
            .where(condition)
        )
        if after_id:
            query = query.where(col(FundingChild.id) > after_id)
        found = session.exec(query.order_by(col(FundingChild.id)).limit(limit + 1)).all()
        rows = [
            CountedChild(row_id, masked_name(name), _masked_number(cipher), _categories_label(cats), amount, reason)
            for row_id, cats, amount, reason, name, cipher in found[:limit]
        ]
        order = {c: i for i, c in enumerate(CATEGORIES)}
        ordered = sorted(lines, key=lambda line: order.get(line.category, 9))
        return InstitutionChildren(
            institution_id=institution_id,
            institution_name=lines[0].institution_name,
            lines=[(CATEGORY_LABELS[li.category], li.children, li.rate, li.amount) for li in ordered],
            amount=sum((li.amount for li in lines), Decimal("0.00")),
            children=how_many,
            rows=rows,
            next_after=rows[-1].id if len(found) > limit and rows else None,
        )


# --- the Excel workbook for finance ---------------------------------------------------------------


BOLD = Font(bold=True)


def _cells(sheet: WriteOnlyWorksheet, values: Sequence[Any], *, bold: bool = False) -> list[Any]:
    """A row for a write-only sheet: text neutralised (never a formula), amounts as numbers with two
    decimals; plain values where no style is needed (a styled cell costs several times more)."""
    cells: list[Any] = []
    for value in values:
        if isinstance(value, Decimal) or bold:
            cell = WriteOnlyCell(sheet, value=exports.neutralise(value))
            if isinstance(value, Decimal):
                cell.number_format = MONEY_FORMAT
            if bold:
                cell.font = BOLD
            cells.append(cell)
        else:
            cells.append(exports.neutralise(value))
    return cells


SUMMARY_HEADER = [
    "地市",
    "县（区）",
    *(f"{CATEGORY_LABELS[c]}{what}" for c in CATEGORIES for what in ("人数", "金额（元）")),
    "合计金额（元）",
]


def _figures(row: TotalRow) -> list[Any]:
    values: list[Any] = []
    for category in CATEGORIES:
        values += [row.children[category], row.amounts[category]]
    return [*values, row.total]


def export_run(actor: Actor, run_id: int, *, with_children: bool = True) -> tuple[str, bytes]:
    """The run as an .xlsx for finance: 汇总 (per city and county, with subtotals and the total),
    机构明细 (per institution and category), 参数 (dates, rule, rates, who computed it) and, if
    asked, 幼儿明细 (the children counted, masked). Returns (file name, bytes); audited."""
    detail = get_run(actor, run_id)
    run = detail.run
    counties = run_totals(actor, run_id, "county")
    cities = {row.code: row for row in run_totals(actor, run_id, "city").rows}
    book = Workbook(write_only=True)
    rows_written = 0

    summary = book.create_sheet("汇总")
    summary.append(
        _cells(summary, [f"{run.region_name}经费测算汇总（基准日 {run.reference_date}，第 {run.id} 号）"], bold=True)
    )
    summary.append(_cells(summary, SUMMARY_HEADER, bold=True))
    by_city: dict[str, list[TotalRow]] = defaultdict(list)
    for row in counties.rows:
        by_city[row.parent].append(row)
    for city in sorted(cities.values(), key=lambda c: c.code):
        for row in by_city.get(city.name, []):
            summary.append(_cells(summary, [city.name, row.name, *_figures(row)]))
        summary.append(_cells(summary, [city.name, "小计", *_figures(city)], bold=True))
        rows_written += len(by_city.get(city.name, [])) + 1
    summary.append(_cells(summary, ["合计", "", *_figures(counties.total)], bold=True))

    lines = book.create_sheet("机构明细")
    lines.append(
        _cells(
            lines,
            ["地市", "县（区）", "机构标识码", "机构名称", "类别", "人数", "标准（元/人）", "金额（元）"],
            bold=True,
        )
    )
    with db.session_scope() as session:
        found = session.exec(
            select(FundingLine, Institution.code)
            .join(Institution, col(Institution.id) == col(FundingLine.institution_id))
            .where(FundingLine.run_id == run_id)
            .order_by(col(FundingLine.county_code), col(FundingLine.institution_id), col(FundingLine.category))
        ).all()
        names = _region_names(session, {li.city_code for li, _ in found} | {li.county_code for li, _ in found})
        for line, code in found:
            lines.append(
                _cells(
                    lines,
                    [
                        names.get(line.city_code, line.city_code),
                        names.get(line.county_code, line.county_code),
                        code,
                        line.institution_name,
                        CATEGORY_LABELS.get(line.category, line.category),
                        line.children,
                        line.rate,
                        line.amount,
                    ],
                )
            )
        rows_written += len(found)
        lines.append(_cells(lines, ["合计", "", "", "", "", "", "", run.total], bold=True))

        parameters = book.create_sheet("参数")
        for label, value in (
            ("测算编号", run.id),
            ("测算地区", run.region_name),
            ("测算年度", run.year),
            ("基准日", run.reference_date.isoformat()),
            ("测算期", f"{run.period_start.isoformat()} 至 {run.reference_date.isoformat()}"),
            ("转园幼儿计算规则", run.rule_label),
            ("计入幼儿数", run.children),
            ("合计金额（元）", run.total),
            ("测算人", run.created_by_name),
            ("测算时间", format_local(run.created_at, with_seconds=True)),
            ("备注", run.note),
        ):
            parameters.append(_cells(parameters, [label, value]))
        parameters.append([])
        parameters.append(_cells(parameters, ["所用经费标准（元/人·年）"], bold=True))
        parameters.append(
            _cells(parameters, ["县（区）代码", "县（区）", *(CATEGORY_LABELS[c] for c in CATEGORIES)], bold=True)
        )
        for rates in detail.rates:
            parameters.append(
                _cells(parameters, [rates.county_code, rates.county_name, *(rates.amounts.get(c) for c in CATEGORIES)])
            )

        if with_children:
            rows_written += _children_sheets(book, session, run, names)
    buffer = io.BytesIO()
    book.save(buffer)
    with db.session_scope(write=True) as session:
        exports.record(
            session,
            actor,
            f"经费测算导出（第 {run.id} 号，{run.region_name}，基准日 {run.reference_date}"
            + ("，含幼儿明细" if with_children else "")
            + "）",
            rows_written,
            object_type="funding_run",
            object_id=run.id,
        )
    return f"经费测算_{run.region_name}_{run.reference_date}_第{run.id}号.xlsx", buffer.getvalue()


def _children_sheets(book: Workbook, session: Session, run: RunRow, names: Mapping[str, str]) -> int:
    """幼儿明细, masked, streamed from the database; a new sheet every million rows."""
    header = ["地市", "县（区）", "机构名称", "姓名", "学籍号", "类别", "金额（元）", "计入说明"]
    query = (
        select(
            FundingChild.institution_id,
            FundingChild.categories,
            FundingChild.amount,
            FundingChild.reason,
            Child.name,
            Child.student_number_cipher,
        )
        .join(Child, col(Child.id) == col(FundingChild.child_id))
        .where(FundingChild.run_id == run.id)
        .order_by(col(FundingChild.institution_id), col(FundingChild.id))
    )
    places = {
        row[0]: row[1:]
        for row in session.exec(
            select(
                FundingLine.institution_id, FundingLine.institution_name, FundingLine.city_code, FundingLine.county_code
            )
            .where(FundingLine.run_id == run.id)
            .distinct()
        ).all()
    }
    sheet: Any = None
    count = 0
    total = Decimal("0.00")
    for institution_id, cats, amount, reason, name, cipher in session.exec(query.execution_options(yield_per=CHUNK)):
        if count % SHEET_ROWS == 0:
            sheet = book.create_sheet("幼儿明细" if count == 0 else f"幼儿明细{count // SHEET_ROWS + 1}")
            sheet.append(_cells(sheet, header, bold=True))
        place_name, city, county = places.get(institution_id, ("", "", ""))
        sheet.append(
            _cells(
                sheet,
                [
                    names.get(city, city),
                    names.get(county, county),
                    place_name,
                    masked_name(name),
                    _masked_number(cipher),
                    _categories_label(cats),
                    amount,
                    reason,
                ],
            )
        )
        count += 1
        total += amount
    if sheet is None:
        sheet = book.create_sheet("幼儿明细")
        sheet.append(_cells(sheet, header, bold=True))
    sheet.append(_cells(sheet, ["合计", "", "", f"{count} 人", "", "", total, ""], bold=True))
    return count


# --- the demo -------------------------------------------------------------------------------------


def seed_demo(today: date) -> None:
    """One run for the demo province, computed by the demo finance user (demo-finance) on ``today``."""
    from portal.services.login import build_actor

    with db.session_scope() as session:
        user = session.exec(select(User).where(User.username == "demo-finance")).first()
        if user is None:
            raise ServiceError("演示账户 demo-finance 不存在：请先载入演示账户。")
        actor = build_actor(session, user)
    compute_run(
        actor,
        reference_date=today,
        period_start=date(today.year, 1, 1),
        note="演示数据：全省经费测算",
        today=today,
    )
