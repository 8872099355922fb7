"""Preschool projects (学前教育项目, §15, §16; MISSION.md R4.1, R5.3).

The ministry records each province's central funds per year (``CentralFund``). Each bureau (province,
city, county) records its own level's projects for its own region: name, fund source (central /
provincial / city / county), year, purpose, the amount allocated and the institutions it funds
(each inside the project's region, with an optional amount; their sum never above the project's).

A project is saved (editable, deletable) → submitted (locked: a request of kind ``project`` in the
review engine, decided by the level above the recording bureau: a county's by its city, a city's by
its province, a province's by the ministry) → approved, or returned with the reviewer's reason
(editable again and submitted anew; the new request shows what changed since the returned one).

An approved project's progress is updated monthly by the ``monthly_update_day`` (25th): cumulative
amount spent (never above the allocation), progress %, notes and an optional evidence file. One row
per project and month: a second update in the same month replaces the figures (the audit row keeps
the earlier ones). After the 25th a project without this month's update is 未按时更新.

The month-end snapshot (``snapshots.take_due``) keeps every project's figures; the dashboard
(``dashboard``) sums allocation against spending per sub-region in SQL, laggards first.

Money is ``Decimal`` to the cent, never a float: inputs are parsed by ``parse_money`` (refusing
floats, NaN, infinities, negatives and more than two places) and sums come from SQL as exact
hundredths (``type_coerce(func.sum(...), Hundredths())``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, case, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.policy import Action, in_scope, may, require, scope_filter
from portal.auth.roles import Level
from portal.clock import LOCAL_TZ, utcnow
from portal.data import db
from portal.data.models import (
    CentralFund,
    Institution,
    Project,
    ProjectInstitution,
    ProjectProgress,
    Region,
    Request,
    RequestEvent,
    User,
)
from portal.data.text import without_bad_characters
from portal.data.types import Hundredths
from portal.services import audit, evidence, notices, uploads, workflow
from portal.services.errors import NotFound, ServiceError, ValidationError
from portal.services.inputs import check_text
from portal.services.regions import full_region_name
from portal.services.snapshots import month_key
from portal.services.workflow import Step, Workflow
from portal.settings import get_settings

KIND_PROJECT = "project"
CENT = Decimal("0.01")
HUNDRED = Decimal(100)
MONEY_MAX = Decimal("1000000000000")  # one trillion yuan: anything above is a typing slip
YEAR_MIN = 2010  # the first three-year action plan for preschool education began in 2011
INSTITUTIONS_MAX = 500

SOURCES: dict[str, str] = {"central": "中央", "provincial": "省级", "city": "市级", "county": "县级"}
# A fund source belongs to a level: a bureau records funds of its own level or of the levels above.
_SOURCE_RANK = {"central": 0, "provincial": 1, "city": 2, "county": 3}
_LEVEL_RANK = {Level.PROVINCE: 1, Level.CITY: 2, Level.COUNTY: 3}
LEVEL_LABELS = {"province": "省级", "city": "地市级", "county": "县级"}
STATE_LABELS: dict[str, str] = {
    "saved": "已保存",
    "submitted": "待审核",
    "approved": "审核通过",
    "returned": "已驳回",
    "deleted": "已删除",
}
EDITABLE = ("saved", "returned")
UPDATED, DUE, LATE = "本月已更新", "本月待更新", "未按时更新"

_CODE_ENTRY = re.compile(r"^([0-9]{10})(?:\s*[:=\s]\s*(\S+))?$")
_SEPARATORS = re.compile(r"[\n\r,，;；、]+")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")  # thousands separators where they belong
# What a Chinese input method types in full-width mode, read as the ASCII it stands for.
_FULL_WIDTH = {ord(c) + 0xFEE0: ord(c) for c in "0123456789.,+-:%"}


def _quoted(text: str, length: int = 30) -> str:
    """Some of what the user typed, for a message to quote: no control or invisible characters."""
    return without_bad_characters(text, "_").strip()[:length]


# --- parsing ------------------------------------------------------------------------------------


def _money_text(value: Decimal) -> str:
    return f"{value:,.2f}"


def parse_money(
    value: Any,
    *,
    field: str = "amount",
    label: str = "金额",
    allow_zero: bool = False,
    maximum: Decimal = MONEY_MAX,
    unit: str = "元",
) -> Decimal:
    """An exact amount to the cent from what the user typed (or a Decimal / int).

    Refused with a Chinese message naming ``label``: blank, a float (inexact), not a plain decimal
    number (letters, NaN, infinity, exponents), negative, zero (unless ``allow_zero``), above
    ``maximum``, or more than two decimal places (nothing is rounded silently). Read as typed:
    spaces, thousands separators where they belong (1,234,567.89; "1,5" is refused, never read
    as 15), a trailing unit, full-width digits and signs (a Chinese input method's full-width mode)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValidationError({field: f"请填写{label}。"})
    if isinstance(value, bool) or isinstance(value, float):
        raise ValidationError({field: f"{label}必须是精确的十进制数（不接受浮点数）。"})
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        text = re.sub(r"\s", "", value.translate(_FULL_WIDTH))
        if text.endswith(unit):
            text = text[: -len(unit)]
        if "," in text:  # 1,234,567.89; never 1,5 (1.5 or 15?)
            if not _GROUPED.match(text):
                raise ValidationError(
                    {field: f"{label}“{_quoted(value)}”的千位分隔符位置不对：请填写如 1234567.89 的金额数字。"}
                )
            text = text.replace(",", "")
        if not _NUMBER.match(text):
            raise ValidationError({field: f"{label}“{_quoted(value)}”不是有效的数字：请填写如 12345.67 的金额数字。"})
        number = Decimal(text)
    else:
        raise ValidationError({field: f"{label}必须是数字。"})
    if not number.is_finite():
        raise ValidationError({field: f"{label}必须是有限的数字。"})
    if number < 0:
        raise ValidationError({field: f"{label}不能为负数。"})
    if number == 0 and not allow_zero:
        raise ValidationError({field: f"{label}必须大于 0。"})
    if number > maximum:
        raise ValidationError({field: f"{label}不能超过 {maximum:,f}{unit}。"})
    try:
        exact = number.quantize(CENT) == number
    except InvalidOperation:
        exact = False
    if not exact:
        raise ValidationError({field: f"{label}最多保留两位小数。"})
    return abs(number.quantize(CENT))  # never negative here; abs() turns "-0" into 0.00


def parse_percent(value: Any, *, field: str = "percent", label: str = "项目进度") -> Decimal:
    """A progress percentage: 0 to 100, at most two decimal places, never a float."""
    try:
        return parse_money(value, field=field, label=label, allow_zero=True, maximum=HUNDRED, unit="%")
    except ValidationError as exc:
        message = exc.errors[field]
        if "不能超过" in message or "负数" in message:
            raise ValidationError({field: f"{label}须在 0 到 100（%）之间。"}) from None
        raise


def parse_year(value: Any, *, today: date | None = None, field: str = "year") -> int:
    """A project's or a fund's year: 2010 up to five years ahead."""
    top = (today or workflow.local_today()).year + 5
    text = str(value).strip() if value is not None else ""
    if isinstance(value, bool) or isinstance(value, float) or not (len(text) == 4 and text.isdecimal()):
        raise ValidationError({field: f"年度须为 {YEAR_MIN} 至 {top} 之间的四位年份。"})
    year = int(text)
    if not YEAR_MIN <= year <= top:
        raise ValidationError({field: f"年度须为 {YEAR_MIN} 至 {top} 之间的四位年份（现为 {year}）。"})
    return year


def parse_institutions(text: str) -> list[tuple[str, Decimal | None]]:
    """The funded institutions as typed: 10-digit codes, one per line or separated by commas;
    ``code:amount`` (or ``code amount``) gives the amount meant for that institution."""
    entries: list[tuple[str, Decimal | None]] = []
    seen: set[str] = set()
    parts = [p.strip() for p in _SEPARATORS.split(text or "") if p.strip()]
    if len(parts) > INSTITUTIONS_MAX:
        raise ValidationError({"institutions": f"一个项目最多资助 {INSTITUTIONS_MAX} 所机构（现填 {len(parts)} 项）。"})
    for index, part in enumerate(parts, start=1):
        match = _CODE_ENTRY.match(part.translate(_FULL_WIDTH))
        if match is None:
            raise ValidationError(
                {
                    "institutions": f"资助机构第 {index} 项“{_quoted(part)}”格式不对：请填写 10 位机构标识码，"
                    "需要写明分配金额时写作“机构标识码:金额”（金额不用千位分隔符）。"
                }
            )
        code, amount_text = match.group(1), match.group(2)
        if code in seen:
            raise ValidationError({"institutions": f"机构标识码 {code} 重复填写。"})
        seen.add(code)
        amount = None
        if amount_text is not None:
            amount = parse_money(amount_text, field="institutions", label=f"机构 {code} 的分配金额")
        entries.append((code, amount))
    return entries


@dataclass(frozen=True)
class ProjectInput:
    """A project as the form gives it (amount as typed; institutions as typed, see
    ``parse_institutions``)."""

    name: str
    source: str
    year: int | str
    amount: Decimal | str | int
    purpose: str = ""
    institutions: str = ""


@dataclass(frozen=True)
class _Clean:
    name: str
    source: str
    year: int
    amount: Decimal
    purpose: str
    institutions: list[tuple[str, Decimal | None]]


def allowed_sources(level: Level) -> dict[str, str]:
    """The fund sources a bureau of ``level`` may record: its own level's and those above."""
    rank = _LEVEL_RANK.get(level, 0)
    return {key: label for key, label in SOURCES.items() if _SOURCE_RANK[key] <= rank}


def _clean(data: ProjectInput, level: Level) -> _Clean:
    """Every field checked; all the problems at once, each naming its field."""
    errors: dict[str, str] = {}

    def run(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            errors.update(exc.errors)
            return None

    name = (data.name or "").strip()
    if not name:
        errors["name"] = "请填写项目名称。"
    else:
        run(check_text, name, field="name", label="项目名称", max_length=200)
    purpose = (data.purpose or "").strip()
    run(check_text, purpose, field="purpose", label="项目用途", max_length=2000, multiline=True)
    if data.source not in SOURCES:
        errors["source"] = "请选择资金来源（中央、省级、市级或县级）。"
    elif data.source not in allowed_sources(level):
        errors["source"] = (
            f"{LEVEL_LABELS.get(level.value, '')}项目的资金来源只能是：{'、'.join(allowed_sources(level).values())}。"
        )
    year = run(parse_year, data.year)
    amount = run(parse_money, data.amount, field="amount", label="安排金额")
    institutions = run(parse_institutions, data.institutions) or []
    if amount is not None and "institutions" not in errors:
        shared = sum((a for _, a in institutions if a is not None), Decimal(0))
        if shared > amount:
            errors["institutions"] = (
                f"各机构分配金额合计 {_money_text(shared)} 元，超过项目安排金额 {_money_text(amount)} 元。"
            )
    if errors:
        raise ValidationError(errors)
    return _Clean(name, data.source, year, amount, purpose, institutions)


# --- rows ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CentralFundRow:
    id: int
    year: int
    province_code: str
    province_name: str
    amount: Decimal
    note: str
    recorded_by_name: str
    recorded_at: datetime
    version: int


@dataclass(frozen=True)
class ProjectRow:
    id: int
    name: str
    source: str
    source_label: str
    year: int
    level: str
    level_label: str
    region_code: str
    region_name: str
    amount: Decimal
    state: str
    state_label: str
    return_reason: str
    institutions: int
    spent: Decimal
    percent: Decimal
    progress_month: str | None
    update_status: str  # 本月已更新 / 本月待更新 / 未按时更新 (approved projects only)
    version: int
    own: bool  # recorded by the actor's own bureau

    @property
    def spent_pct(self) -> Decimal | None:
        return ratio(self.spent, self.amount)


@dataclass(frozen=True)
class FundedInstitution:
    code: str
    name: str
    amount: Decimal | None


@dataclass(frozen=True)
class ProgressEntry:
    month: str
    spent: Decimal
    percent: Decimal
    notes: str
    evidence_name: str
    has_evidence: bool
    updated_at: datetime
    updated_by_name: str


@dataclass(frozen=True)
class ProjectDetail:
    row: ProjectRow
    purpose: str
    institutions: list[FundedInstitution]
    progress: list[ProgressEntry]
    may_manage: bool  # the actor's bureau recorded it and may change it (in its state)
    request_id: int | None

    @property
    def institutions_text(self) -> str:
        """The institutions as the form takes them back."""
        return "\n".join(f"{i.code}:{i.amount}" if i.amount is not None else i.code for i in self.institutions)


def ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part`` as a percentage of ``whole``, to two places (None without a whole)."""
    if not whole:
        return None
    return (part * HUNDRED / whole).quantize(CENT, rounding=ROUND_HALF_UP)


def _update_status(state: str, progress_month: str | None, today: date) -> str:
    if state != "approved":
        return ""
    if progress_month == month_key(today):
        return UPDATED
    return LATE if today.day > get_settings().monthly_update_day else DUE


def _user_id(actor: Actor) -> int | None:
    return None if actor.is_system else actor.user_id


def _region_names(session: Session, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return {r.code: r.name for r in session.exec(select(Region).where(col(Region.code).in_(codes))).all()}


def _latest_progress(upto: str | None = None) -> tuple[Any, Any]:
    """(subquery of each project's latest progress month, alias of ProjectProgress to join on it)."""
    query = select(
        col(ProjectProgress.project_id).label("pid"),
        func.max(ProjectProgress.month).label("month"),
    )
    if upto is not None:
        query = query.where(col(ProjectProgress.month) <= upto)
    latest = query.group_by(col(ProjectProgress.project_id)).subquery()
    progress = aliased(ProjectProgress)
    return latest, progress


def _project_rows(session: Session, actor: Actor, conditions: Sequence[Any], today: date) -> list[ProjectRow]:
    latest, progress = _latest_progress(month_key(today))
    found = session.exec(
        select(Project, progress.spent, progress.percent, progress.month)  # type: ignore[call-overload]
        .outerjoin(latest, latest.c.pid == col(Project.id))
        .outerjoin(progress, and_(progress.project_id == latest.c.pid, progress.month == latest.c.month))
        .where(scope_filter(actor, Project), col(Project.state) != "deleted", *conditions)
        .order_by(col(Project.year).desc(), col(Project.id).desc())
        .limit(1000)
    ).all()
    ids = [p.id for p, *_ in found]
    counts: dict[int, int] = {}
    if ids:
        counts = {
            int(pid): int(n)
            for pid, n in session.exec(
                select(ProjectInstitution.project_id, func.count())  # type: ignore[call-overload]
                .where(col(ProjectInstitution.project_id).in_(ids))
                .group_by(col(ProjectInstitution.project_id))
            ).all()
        }
    names = _region_names(session, {p.region_code for p, *_ in found})
    rows = []
    for project, spent, percent, month in found:
        rows.append(
            ProjectRow(
                id=project.id or 0,
                name=project.name,
                source=project.source,
                source_label=SOURCES.get(project.source, project.source),
                year=project.year,
                level=project.level,
                level_label=LEVEL_LABELS.get(project.level, project.level),
                region_code=project.region_code,
                region_name=names.get(project.region_code, project.region_code),
                amount=project.amount,
                state=project.state,
                state_label=STATE_LABELS.get(project.state, project.state),
                return_reason=project.return_reason,
                institutions=counts.get(project.id or 0, 0),
                spent=spent if spent is not None else Decimal("0.00"),
                percent=percent if percent is not None else Decimal("0.00"),
                progress_month=month,
                update_status=_update_status(project.state, month, today),
                version=project.version,
                own=project.level == actor.level.value and project.region_code == actor.region_code,
            )
        )
    return rows


def _own_conditions(actor: Actor) -> list[Any]:
    return [col(Project.level) == actor.level.value, col(Project.region_code) == (actor.region_code or "")]


# --- central funds ------------------------------------------------------------------------------


def _province(session: Session, code: str) -> Region:
    code = (code or "").strip()
    if len(code) == 6 and code.endswith("0000"):
        code = code[:2]
    region = session.get(Region, f"{code}0000") if len(code) == 2 and code.isdigit() else None
    if region is None or region.level != "province":
        raise ValidationError({"province_code": f"“{_quoted(code, 10)}”不是有效的省级行政区划代码。"})
    return region


def _fund_row(session: Session, fund: CentralFund) -> CentralFundRow:
    region = session.get(Region, f"{fund.province_code}0000")
    user = session.get(User, fund.recorded_by) if fund.recorded_by else None
    return CentralFundRow(
        id=fund.id or 0,
        year=fund.year,
        province_code=fund.province_code,
        province_name=region.name if region else fund.province_code,
        amount=fund.amount,
        note=fund.note,
        recorded_by_name=user.real_name if user else "系统",
        recorded_at=fund.recorded_at,
        version=fund.version,
    )


def record_central_fund(
    actor: Actor,
    *,
    province_code: str,
    year: int | str,
    amount: Decimal | str | int,
    note: str = "",
    version: int | None = None,
) -> CentralFundRow:
    """Record (or change) a province's central funds for a year. One row per province and year:
    changing an existing row needs the ``version`` the user saw (someone else's change in between
    is refused, not overwritten). Audited with the amounts before and after."""
    require(actor, Action.RECORD_CENTRAL_FUNDS)
    note = (note or "").strip()
    year_value = parse_year(year)
    value = parse_money(amount, field="amount", label="中央资金金额")
    check_text(note, field="note", label="备注", max_length=500)
    with db.session_scope(write=True) as session:
        region = _province(session, province_code)
        existing = session.exec(
            select(CentralFund).where(CentralFund.year == year_value, CentralFund.province_code == region.province_code)
        ).first()
        after = {"year": year_value, "province_code": region.province_code, "amount": value, "note": note}
        if existing is None:
            fund = CentralFund(
                year=year_value,
                province_code=region.province_code,
                amount=value,
                note=note,
                recorded_by=_user_id(actor),
            )
            session.add(fund)
            try:
                session.flush()
            except IntegrityError:
                raise ServiceError(f"{region.name} {year_value} 年的中央资金刚刚已由他人录入，请刷新后查看。") from None
            before = None
        else:
            if version is None:
                raise ServiceError(
                    f"{region.name} {year_value} 年的中央资金已录入（{_money_text(existing.amount)} 元）："
                    "如需修改，请在列表中选择该记录后修改。"
                )
            if version != existing.version:
                raise ServiceError(
                    f"{region.name} {year_value} 年的中央资金已被他人修改（现为 {_money_text(existing.amount)} 元），"
                    "请刷新后重新填写。"
                )
            before = {"year": existing.year, "province_code": existing.province_code, "amount": existing.amount}
            before["note"] = existing.note
            result = session.execute(
                update(CentralFund)
                .where(col(CentralFund.id) == existing.id, col(CentralFund.version) == version)
                .values(amount=value, note=note, recorded_by=_user_id(actor), recorded_at=utcnow(), version=version + 1)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise ServiceError("该记录已被他人修改，请刷新后重新填写。")
            session.refresh(existing)
            fund = existing
        audit.record(
            session,
            actor,
            "central_fund_record",
            object_type="central_fund",
            object_id=fund.id or "",
            before=before,
            after=after,
            detail=f"{region.name} {year_value} 年中央资金：{_money_text(value)} 元",
        )
        return _fund_row(session, fund)


def list_central_funds(actor: Actor, year: int | None = None) -> list[CentralFundRow]:
    """The central funds: every province's for the ministry; a province's bureaus read their own."""
    require(actor, Action.VIEW_PROJECTS)
    with db.session_scope() as session:
        query = select(CentralFund)
        if actor.level is not Level.MINISTRY and not actor.is_system:
            query = query.where(CentralFund.province_code == (actor.province_code or ""))
        if year is not None:
            query = query.where(CentralFund.year == year)
        found = session.exec(query.order_by(col(CentralFund.year).desc(), col(CentralFund.province_code))).all()
        return [_fund_row(session, fund) for fund in found]


def province_choices(actor: Actor) -> dict[str, str]:
    """The provinces the ministry records central funds for: two-digit code → name."""
    require(actor, Action.RECORD_CENTRAL_FUNDS)
    with db.session_scope() as session:
        found = session.exec(select(Region).where(Region.level == "province").order_by(col(Region.code))).all()
        return {r.province_code: r.name for r in found}


def _central_funds(session: Session, year: int, province_codes: Sequence[str]) -> dict[str, Decimal]:
    if not province_codes:
        return {}
    return {
        f.province_code: f.amount
        for f in session.exec(
            select(CentralFund).where(
                CentralFund.year == year, col(CentralFund.province_code).in_(list(province_codes))
            )
        ).all()
    }


# --- projects: recording ---------------------------------------------------------------------------


def _require_recording_bureau(actor: Actor) -> None:
    require(actor, Action.MANAGE_PROJECT)
    if actor.level not in _LEVEL_RANK and not actor.is_system:
        raise ServiceError("学前教育项目由省、市、县三级教育行政部门录入；教育部请录入各省的中央资金。")


def _place_of(actor: Actor) -> dict[str, str | None]:
    """The scope codes of a project the actor's bureau records: its own region's."""
    level = actor.level
    return {
        "level": level.value,
        "region_code": actor.region_code,
        "province_code": actor.province_code,
        "city_code": actor.city_code if level in (Level.CITY, Level.COUNTY) else None,
        "county_code": actor.county_code if level is Level.COUNTY else None,
    }


def _institution_inside(institution: Institution, place: dict[str, Any]) -> bool:
    if place["level"] == "county":
        return institution.county_code == place["county_code"]
    if place["level"] == "city":
        return institution.city_code == place["city_code"]
    return institution.province_code == place["province_code"]


def _resolve_institutions(
    session: Session, entries: list[tuple[str, Decimal | None]], place: dict[str, Any]
) -> list[tuple[Institution, Decimal | None]]:
    if not entries:
        return []
    codes = [code for code, _ in entries]
    found = {i.code: i for i in session.exec(select(Institution).where(col(Institution.code).in_(codes))).all()}
    unknown = [code for code in codes if code not in found]
    if unknown:
        raise ValidationError({"institutions": f"机构标识码不存在：{'、'.join(unknown[:10])}。"})
    region = session.get(Region, place["region_code"] or "")
    region_name = region.name if region else "本地区"
    outside = [found[code] for code in codes if not _institution_inside(found[code], place)]
    if outside:
        named = "、".join(f"{i.name}（{i.code}）" for i in outside[:5])
        raise ValidationError({"institutions": f"以下机构不在本项目所属地区（{region_name}）内：{named}。"})
    return [(found[code], amount) for code, amount in entries]


def _values(session: Session, project: Project) -> dict[str, Any]:
    """A project's recorded values (the audit rows' before/after, the request's payload)."""
    funded = session.exec(
        select(ProjectInstitution, Institution)
        .join(Institution, col(Institution.id) == col(ProjectInstitution.institution_id))
        .where(ProjectInstitution.project_id == project.id)
        .order_by(col(Institution.code))
    ).all()
    region = session.get(Region, project.region_code)
    return {
        "project_id": project.id,
        "name": project.name,
        "source": project.source,
        "year": project.year,
        "level": project.level,
        "region_code": project.region_code,
        "region_name": full_region_name(session, region) if region else project.region_code,
        "purpose": project.purpose,
        "amount": str(project.amount),
        "institutions": [
            {"code": i.code, "name": i.name, "amount": str(link.amount) if link.amount is not None else None}
            for link, i in funded
        ],
    }


def _project_in_scope(session: Session, actor: Actor, project_id: int) -> Project:
    project = session.get(Project, project_id)
    if project is None or project.state == "deleted" or not in_scope(actor, project):
        raise NotFound("项目不存在，或不在您的管辖范围内。")
    return project


def _own_project(session: Session, actor: Actor, project_id: int) -> Project:
    """A project of the actor's own bureau, for a change (in scope, the right to manage, own level)."""
    project = _project_in_scope(session, actor, project_id)
    require(actor, Action.MANAGE_PROJECT, project)
    if not actor.is_system and (project.level != actor.level.value or project.region_code != actor.region_code):
        raise ServiceError("只能维护本级录入的项目：下级的项目由下级教育行政部门维护，本级只能查看。")
    return project


def _bump(session: Session, project: Project, version: int | None, **values: Any) -> None:
    """Change a project if nobody changed it since ``version`` (its current one when None)."""
    seen = project.version if version is None else version
    result = session.execute(
        update(Project)
        .where(col(Project.id) == project.id, col(Project.version) == seen)
        .values(**values, version=seen + 1, updated_at=utcnow())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ServiceError("该项目已被他人修改，请刷新后重试。")
    session.refresh(project)


def save_project(actor: Actor, data: ProjectInput, *, project_id: int | None = None, version: int | None = None) -> int:
    """Create a project of the actor's bureau (``project_id`` None), or change a saved or
    returned one (``version``: the one the user saw). Returns the project's id. Bad input is
    refused with every problem named by field, and nothing is written."""
    _require_recording_bureau(actor)
    clean = _clean(data, actor.level)
    with db.session_scope(write=True) as session:
        if project_id is None:
            place = _place_of(actor)
            funded = _resolve_institutions(session, clean.institutions, place)
            project = Project(
                name=clean.name,
                source=clean.source,
                year=clean.year,
                purpose=clean.purpose,
                amount=clean.amount,
                created_by=_user_id(actor),
                **place,
            )
            session.add(project)
            session.flush()
            before = None
            action = "project_create"
        else:
            project = _own_project(session, actor, project_id)
            if project.state not in EDITABLE:
                raise ServiceError(f"项目“{project.name}”{STATE_LABELS[project.state]}，不能修改。")
            if version is not None and version != project.version:
                raise ServiceError("该项目已被他人修改，请刷新后重试。")
            place = {
                k: getattr(project, k) for k in ("level", "region_code", "province_code", "city_code", "county_code")
            }
            funded = _resolve_institutions(session, clean.institutions, place)
            before = _values(session, project)
            _bump(
                session,
                project,
                version,
                name=clean.name,
                source=clean.source,
                year=clean.year,
                purpose=clean.purpose,
                amount=clean.amount,
            )
            links = session.exec(select(ProjectInstitution).where(ProjectInstitution.project_id == project.id)).all()
            for link in links:
                session.delete(link)
            session.flush()
            action = "project_update"
        for institution, amount in funded:
            session.add(
                ProjectInstitution(project_id=project.id or 0, institution_id=institution.id or 0, amount=amount)
            )
        session.flush()
        after = _values(session, project)
        audit.record(
            session,
            actor,
            action,
            object_type="project",
            object_id=project.id or "",
            before=before,
            after=after,
            detail=f"{project.name}：{_money_text(project.amount)} 元，资助机构 {len(funded)} 所",
        )
        return project.id or 0


def delete_project(actor: Actor, project_id: int, *, version: int | None = None) -> None:
    """Delete a saved (never submitted) project of the actor's bureau. The row stays, marked
    deleted, out of every list; the audit row keeps its values."""
    _require_recording_bureau(actor)
    with db.session_scope(write=True) as session:
        project = _own_project(session, actor, project_id)
        if project.state != "saved":
            raise ServiceError(f"项目“{project.name}”{STATE_LABELS[project.state]}：只有未提交的项目可以删除。")
        before = _values(session, project)
        _bump(session, project, version, state="deleted")
        audit.record(
            session,
            actor,
            "project_delete",
            object_type="project",
            object_id=project.id or "",
            before=before,
            detail=project.name,
        )


def submit_project(actor: Actor, project_id: int, *, version: int | None = None, today: date | None = None) -> int:
    """Submit a saved or returned project for the review of the level above; returns the request's
    id. The project is locked until the decision."""
    _require_recording_bureau(actor)
    with db.session_scope(write=True) as session:
        project = _own_project(session, actor, project_id)
        if project.state not in EDITABLE:
            raise ServiceError(f"项目“{project.name}”{STATE_LABELS[project.state]}，不能再次提交。")
        payload = _values(session, project)
        before = None
        if project.request_id is not None:  # resubmitted after a return: show what changed since
            previous = session.get(Request, project.request_id)
            before = json.loads(previous.payload) if previous is not None else None
        request = workflow.submit(
            session,
            actor,
            kind=KIND_PROJECT,
            place=project,
            subject_type="project",
            subject_id=project.id or 0,
            title=f"学前教育项目：{project.name}"[:200],
            payload=payload,
            before=before,
            today=today,
        )
        _bump(session, project, version, state="submitted", request_id=request.id)
        return request.id or 0


# --- review ---------------------------------------------------------------------------------------


def _project_of(session: Session, request: Request) -> Project:
    project = session.get(Project, int(request.subject_id))
    if project is None:
        raise ServiceError("该申请对应的项目不存在：请驳回该申请。")
    return project


def _apply(session: Session, request: Request, _actor: Actor) -> None:
    """Approval: the project is approved (its monthly progress can be entered from now on)."""
    project = _project_of(session, request)
    if project.state != "submitted" or project.request_id != request.id:
        raise ServiceError(f"项目当前{STATE_LABELS.get(project.state, project.state)}，不能审核通过：请驳回该申请。")
    _bump(session, project, None, state="approved", return_reason="")


def _on_return(session: Session, request: Request) -> None:
    """Return: the project is editable again, with the reviewer's reason."""
    project = _project_of(session, request)
    reason = session.exec(
        select(RequestEvent.reason)
        .where(RequestEvent.request_id == request.id, RequestEvent.action == "return")
        .order_by(col(RequestEvent.id).desc())
    ).first()
    _bump(session, project, None, state="returned", return_reason=(reason or "")[:1000])


def _shown(value: Any, key: str) -> str:
    if value is None or value == "":
        return ""
    if key == "source":
        return SOURCES.get(str(value), str(value))
    if key == "level":
        return LEVEL_LABELS.get(str(value), str(value))
    if key == "amount":
        return f"{_money_text(Decimal(str(value)))} 元"
    return str(value)


_DIFF_FIELDS = (
    ("name", "项目名称"),
    ("source", "资金来源"),
    ("year", "年度"),
    ("level", "项目级别"),
    ("region_name", "所属地区"),
    ("purpose", "项目用途"),
    ("amount", "安排金额"),
)


def _funded_text(entry: dict[str, Any]) -> str:
    amount = entry.get("amount")
    return f"{entry.get('name', '')}" + (f"：{_money_text(Decimal(str(amount)))} 元" if amount else "")


def _diff(detail: workflow.RequestDetail) -> list[tuple[str, str, str]]:
    """The reviewer's view: every field of the project (what the returned request said, if any,
    beside it) and one row per funded institution."""
    after, before = detail.payload, detail.before or {}
    rows = [(label, _shown(before.get(key), key), _shown(after.get(key), key)) for key, label in _DIFF_FIELDS]
    old = {e["code"]: e for e in before.get("institutions", [])}
    new = {e["code"]: e for e in after.get("institutions", [])}
    for code in [*new, *(c for c in old if c not in new)]:
        rows.append(
            (
                f"资助机构 {code}",
                _funded_text(old[code]) if code in old else "",
                _funded_text(new[code]) if code in new else "（移除）",
            )
        )
    if not new:
        rows.append(("资助机构", "", "（未指定机构）"))
    return rows


def _steps() -> tuple[Step, ...]:
    days = get_settings().project_review_days

    def recorded_by(level: str) -> Any:
        return lambda _session, project: getattr(project, "level", None) == level

    return (
        Step("city_review", "地市级审核", Level.CITY, days, applies=recorded_by("county")),
        Step("province_review", "省级审核", Level.PROVINCE, days, applies=recorded_by("city")),
        Step("ministry_review", "教育部审核", Level.MINISTRY, days, applies=recorded_by("province")),
    )


workflow.register(
    Workflow(
        kind=KIND_PROJECT,
        label="学前教育项目",
        steps=_steps(),
        apply=_apply,
        diff=_diff,
        on_return=_on_return,
    )
)


# --- monthly progress -------------------------------------------------------------------------------


def _progress_values(row: ProjectProgress) -> dict[str, Any]:
    return {
        "month": row.month,
        "spent": row.spent,
        "percent": row.percent,
        "notes": row.notes,
        "evidence_name": row.evidence_name,
        "evidence_sha256": row.evidence_sha256,
    }


def _checked_evidence(filename: str, data: bytes) -> str:
    """Check a progress evidence file as every evidence file is checked (empty, size, type by its
    content) and, an Office file, as a notice's attachment is (damaged, macros, a zip bomb: the
    reviewers download and open it); return the name to keep (a long one cut keeps its extension).
    The messages quote the name as it will be shown, never its control characters."""
    shown = uploads.display_name(filename, "项目进展佐证")
    content_type, extension = evidence.check(shown, data)
    if content_type in notices.OOXML_PARTS:
        notices.check_office_archive(shown, data, content_type)
    return notices.kept_name(filename, f"项目进展佐证.{extension}")


def update_progress(
    actor: Actor,
    project_id: int,
    *,
    spent: Decimal | str | int,
    percent: Decimal | str | int,
    notes: str = "",
    evidence_file: tuple[str, bytes] | None = None,
    today: date | None = None,
) -> ProgressEntry:
    """Enter this month's progress of an approved project of the actor's bureau: cumulative amount
    spent (0 to the allocation), progress % (0–100), notes, an optional evidence file. A second
    update in the same month replaces the figures (and the file, when a new one comes); the audit
    row keeps the figures before and after. Refused input writes nothing and keeps no file."""
    _require_recording_bureau(actor)
    today = today or workflow.local_today()
    month = month_key(today)
    errors: dict[str, str] = {}
    spent_value = percent_value = None
    try:
        spent_value = parse_money(spent, field="spent", label="累计支出金额", allow_zero=True)
    except ValidationError as exc:
        errors.update(exc.errors)
    try:
        percent_value = parse_percent(percent)
    except ValidationError as exc:
        errors.update(exc.errors)
    notes = (notes or "").strip()
    try:
        check_text(notes, field="notes", label="进展说明", max_length=2000, multiline=True)
    except ValidationError as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationError(errors)
    assert spent_value is not None and percent_value is not None
    kept_name = _checked_evidence(*evidence_file) if evidence_file is not None else ""
    with evidence.removed_on_failure() as written, db.session_scope(write=True) as session:
        project = _own_project(session, actor, project_id)
        if project.state != "approved":
            raise ServiceError(f"项目“{project.name}”{STATE_LABELS[project.state]}：审核通过后才能填报月度进展。")
        if spent_value > project.amount:
            raise ValidationError(
                {
                    "spent": f"累计支出 {_money_text(spent_value)} 元超过项目安排金额 "
                    f"{_money_text(project.amount)} 元，请核对。"
                }
            )
        row = session.exec(
            select(ProjectProgress).where(ProjectProgress.project_id == project.id, ProjectProgress.month == month)
        ).first()
        before = _progress_values(row) if row is not None else None
        if row is None:
            row = ProjectProgress(project_id=project.id or 0, month=month, spent=spent_value, percent=percent_value)
        row.spent, row.percent, row.notes = spent_value, percent_value, notes
        row.updated_by = _user_id(actor)
        row.updated_at = (
            utcnow()
            if today == workflow.local_today()
            else datetime.combine(today, time(10, 0), LOCAL_TZ).astimezone(UTC)
        )
        if evidence_file is not None:
            saved = evidence.save_bytes(kept_name, evidence_file[1], written, default_name="项目进展佐证")
            row.evidence_name, row.evidence_stored, row.evidence_sha256 = (
                saved.filename,
                saved.stored_name,
                saved.sha256,
            )
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            raise ServiceError("本月进展刚刚已由他人填报，请刷新后查看。") from None
        audit.record(
            session,
            actor,
            "project_progress",
            object_type="project",
            object_id=project.id or "",
            before=before,
            after=_progress_values(row),
            detail=f"{project.name}·{month}：累计支出 {_money_text(spent_value)} 元，进度 {percent_value}%"
            + ("（更新本月数据）" if before else ""),
        )
        return _entry(row, actor.real_name)


def _entry(row: ProjectProgress, updated_by_name: str) -> ProgressEntry:
    return ProgressEntry(
        month=row.month,
        spent=row.spent,
        percent=row.percent,
        notes=row.notes,
        evidence_name=row.evidence_name,
        has_evidence=bool(row.evidence_stored),
        updated_at=row.updated_at,
        updated_by_name=updated_by_name,
    )


def read_progress_evidence(actor: Actor, project_id: int, month: str) -> evidence.EvidenceContent:
    """A month's evidence file, for a reader of the project in scope; the download is audited."""
    require(actor, Action.VIEW_PROJECTS)
    with db.session_scope(write=True) as session:
        project = _project_in_scope(session, actor, project_id)
        require(actor, Action.VIEW_PROJECTS, project)
        row = session.exec(
            select(ProjectProgress).where(ProjectProgress.project_id == project.id, ProjectProgress.month == month)
        ).first()
        if row is None or not row.evidence_stored or not row.evidence_sha256:
            raise NotFound("该月没有上传佐证材料。")
        data = evidence.load_bytes(row.evidence_stored, row.evidence_sha256)
        kind = evidence.sniff(data)
        audit.record(
            session,
            actor,
            "project_evidence_download",
            object_type="project",
            object_id=project.id or "",
            detail=f"{project.name}·{month}：{row.evidence_name}",
        )
        return evidence.EvidenceContent(row.evidence_name, kind[0] if kind else "application/octet-stream", data)


# --- reading ----------------------------------------------------------------------------------------


def list_projects(
    actor: Actor,
    *,
    below: bool = False,
    year: int | None = None,
    today: date | None = None,
) -> list[ProjectRow]:
    """The projects of the actor's own bureau (``below`` False), or those recorded by the levels
    below it in its region (True; drafts never submitted are left out), newest year first."""
    require(actor, Action.VIEW_PROJECTS)
    today = today or workflow.local_today()
    conditions: list[Any]
    if below:
        conditions = [col(Project.level) != actor.level.value, col(Project.state) != "saved"]
    else:
        conditions = _own_conditions(actor)
    if year is not None:
        conditions.append(col(Project.year) == year)
    with db.session_scope() as session:
        return _project_rows(session, actor, conditions, today)


def project_detail(actor: Actor, project_id: int, *, today: date | None = None) -> ProjectDetail:
    """A project in the actor's scope: its fields, funded institutions and monthly progress."""
    require(actor, Action.VIEW_PROJECTS)
    today = today or workflow.local_today()
    with db.session_scope() as session:
        project = _project_in_scope(session, actor, project_id)
        require(actor, Action.VIEW_PROJECTS, project)
        if project.state == "saved" and not (
            project.level == actor.level.value and project.region_code == actor.region_code
        ):
            raise NotFound("项目不存在，或不在您的管辖范围内。")  # another bureau's draft
        row = _project_rows(session, actor, [col(Project.id) == project_id], today)[0]
        funded = session.exec(
            select(ProjectInstitution, Institution)
            .join(Institution, col(Institution.id) == col(ProjectInstitution.institution_id))
            .where(ProjectInstitution.project_id == project_id)
            .order_by(col(Institution.code))
        ).all()
        history = session.exec(
            select(ProjectProgress, User.real_name)  # type: ignore[call-overload]
            .outerjoin(User, col(User.id) == col(ProjectProgress.updated_by))
            .where(ProjectProgress.project_id == project_id)
            .order_by(col(ProjectProgress.month).desc())
        ).all()
        return ProjectDetail(
            row=row,
            purpose=project.purpose,
            institutions=[FundedInstitution(i.code, i.name, link.amount) for link, i in funded],
            progress=[_entry(p, name or "系统") for p, name in history],
            may_manage=row.own and may(actor, Action.MANAGE_PROJECT, project),
            request_id=project.request_id,
        )


# --- the dashboard -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardRow:
    code: str  # the sub-region's code, the bureau's own region (本级) or, for a county, a project's id
    name: str
    projects: int
    amount: Decimal
    spent: Decimal
    percent_sum: Decimal
    updated: int  # projects with this month's update
    own: bool = False  # the bureau's own level (省本级 / 市本级) or, for a county, one project
    project_id: int | None = None
    central_funds: Decimal | None = None  # the province's central funds of the year (ministry rows)

    @property
    def spent_pct(self) -> Decimal | None:
        return ratio(self.spent, self.amount)

    @property
    def avg_percent(self) -> Decimal | None:
        if not self.projects:
            return None
        return (self.percent_sum / self.projects).quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def not_updated(self) -> int:
        return self.projects - self.updated


@dataclass(frozen=True)
class Dashboard:
    region_code: str
    region_name: str
    level: str  # the actor's level
    sub_label: str  # 省份 / 地市 / 县区 / 项目
    year: int
    month: str
    late: bool  # past the monthly_update_day: projects without this month's update are 未按时更新
    rows: list[DashboardRow]  # laggards first: lowest spent %, then lowest average progress
    total: DashboardRow
    central_funds: Decimal | None  # the actor's province's central funds of the year
    central_allocated: Decimal  # approved projects funded from central money, in scope
    update_day: int = field(default=25)


def laggards_first(rows: Sequence[DashboardRow]) -> list[DashboardRow]:
    """Lowest share spent first, then lowest average progress, then by code."""
    top = Decimal(10**6)
    return sorted(
        rows,
        key=lambda r: (
            r.spent_pct if r.spent_pct is not None else top,
            r.avg_percent if r.avg_percent is not None else top,
            r.code,
        ),
    )


_SUB = {
    Level.MINISTRY: ("province_code", "省份"),
    Level.PROVINCE: ("city_code", "地市"),
    Level.CITY: ("county_code", "县区"),
    Level.COUNTY: ("id", "项目"),
}
_OWN_LABEL = {Level.PROVINCE: "省本级", Level.CITY: "市本级"}


def _own_region(session: Session, actor: Actor) -> tuple[str, str]:
    if actor.level is Level.MINISTRY:
        return "", "全国"
    region = session.get(Region, actor.region_code or "")
    return (actor.region_code or ""), (region.name if region else actor.scope_label)


def dashboard(actor: Actor, *, year: int | None = None, today: date | None = None) -> Dashboard:
    """Allocation against spending and progress of the approved projects of ``year`` per
    sub-region of the actor (the ministry: provinces; a province: its cities and its own level; a
    city: its counties and its own level; a county: its projects), laggards first."""
    require(actor, Action.VIEW_PROJECTS)
    today = today or workflow.local_today()
    year = year or today.year
    month = month_key(today)
    column_name, sub_label = _SUB[actor.level]
    group = getattr(Project, column_name)
    latest, progress = _latest_progress(month)
    with db.session_scope() as session:
        found = session.exec(
            select(  # type: ignore[call-overload]
                group,
                func.count(col(Project.id)),
                type_coerce(func.sum(Project.amount), Hundredths()),
                type_coerce(func.sum(progress.spent), Hundredths()),
                type_coerce(func.sum(progress.percent), Hundredths()),
                func.sum(case((progress.month == month, 1), else_=0)),
            )
            .select_from(Project)
            .outerjoin(latest, latest.c.pid == col(Project.id))
            .outerjoin(progress, and_(progress.project_id == latest.c.pid, progress.month == latest.c.month))
            .where(scope_filter(actor, Project), col(Project.state) == "approved", col(Project.year) == year)
            .group_by(group)
        ).all()
        central_allocated = session.exec(
            select(type_coerce(func.sum(Project.amount), Hundredths())).where(  # type: ignore[call-overload]
                scope_filter(actor, Project),
                col(Project.state) == "approved",
                col(Project.year) == year,
                col(Project.source) == "central",
            )
        ).one()
        own_code, own_name = _own_region(session, actor)
        keys = [key for key, *_ in found if key is not None]
        if actor.level is Level.COUNTY:
            names = {
                str(p.id): p.name for p in session.exec(select(Project).where(col(Project.id).in_(keys or [0]))).all()
            }
        elif actor.level is Level.MINISTRY:
            names = {k: v for k, v in _region_names(session, {f"{k}0000" for k in keys}).items()}
            names = {code[:2]: name for code, name in names.items()}
        else:
            names = _region_names(session, set(keys))
        funds_by_province = _central_funds(
            session,
            year,
            keys if actor.level is Level.MINISTRY else ([actor.province_code] if actor.province_code else []),
        )
    zero = Decimal("0.00")
    rows = []
    for key, count, amount, spent, percent_sum, updated in found:
        own = key is None
        code = own_code if own else str(key)
        if actor.level is Level.MINISTRY and not own:
            code = f"{key}0000"
        name = _OWN_LABEL.get(actor.level, own_name) if own else names.get(str(key), str(key))
        rows.append(
            DashboardRow(
                code=code,
                name=name,
                projects=int(count),
                amount=amount or zero,
                spent=spent or zero,
                percent_sum=percent_sum or zero,
                updated=int(updated or 0),
                own=own or actor.level is Level.COUNTY,
                project_id=int(key) if actor.level is Level.COUNTY else None,
                central_funds=funds_by_province.get(str(key)) if actor.level is Level.MINISTRY else None,
            )
        )
    total = DashboardRow(
        code=own_code,
        name="合计",
        projects=sum(r.projects for r in rows),
        amount=sum((r.amount for r in rows), zero),
        spent=sum((r.spent for r in rows), zero),
        percent_sum=sum((r.percent_sum for r in rows), zero),
        updated=sum(r.updated for r in rows),
        central_funds=sum(funds_by_province.values(), zero) if funds_by_province else None,
    )
    return Dashboard(
        region_code=own_code,
        region_name=own_name,
        level=actor.level.value,
        sub_label=sub_label,
        year=year,
        month=month,
        late=today.day > get_settings().monthly_update_day,
        rows=laggards_first(rows),
        total=total,
        central_funds=funds_by_province.get(actor.province_code or "")
        if actor.level is not Level.MINISTRY
        else total.central_funds,
        central_allocated=central_allocated or zero,
        update_day=get_settings().monthly_update_day,
    )


def dashboard_projects(
    actor: Actor, code: str, *, year: int | None = None, today: date | None = None
) -> list[ProjectRow]:
    """The approved projects of ``year`` behind one row of the dashboard (a sub-region, or the
    bureau's own level when ``code`` is its own region), laggards first."""
    require(actor, Action.VIEW_PROJECTS)
    today = today or workflow.local_today()
    year = year or today.year
    conditions: list[Any] = [col(Project.state) == "approved", col(Project.year) == year]
    if actor.level is not Level.MINISTRY and code == actor.region_code:
        conditions += _own_conditions(actor)
    elif actor.level is Level.MINISTRY:
        conditions.append(col(Project.province_code) == code[:2])
    elif actor.level is Level.PROVINCE:
        conditions.append(col(Project.city_code) == code)
    elif actor.level is Level.CITY:
        conditions.append(col(Project.county_code) == code)
    else:
        conditions.append(col(Project.id) == (int(code) if code.isascii() and code.isdigit() and len(code) < 19 else 0))
    with db.session_scope() as session:
        rows = _project_rows(session, actor, conditions, today)
    top = Decimal(10**6)
    return sorted(rows, key=lambda r: (r.spent_pct if r.spent_pct is not None else top, r.percent, r.id))


# --- demo data ----------------------------------------------------------------------------------------

# A one-page PDF: the demo's evidence file of a month's progress.
_DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _demo_actor(username: str) -> Actor | None:
    from portal.services.login import build_actor

    with db.session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).first()
        return build_actor(session, user) if user is not None else None


def _month_day(today: date, back: int) -> date:
    """The 15th of the month ``back`` months before ``today`` (``today`` itself for 0)."""
    if back == 0:
        return today
    month_index = today.year * 12 + today.month - 1 - back
    return date(month_index // 12, month_index % 12 + 1, 15)


def seed_demo(today: date) -> None:
    """The demo's projects, through the same functions users call: Henan's central funds of the
    year; 中牟县 (demo-county) projects approved by 郑州市 (demo-city) with two or three months of
    progress, one waiting in demo-city's queue and one returned; 郑州市's own projects, approved
    by the province's reviewer (``demo-province-reviewer``) when that account exists, else waiting
    in the province's queue; a draft of the province (``demo-finance``)."""
    year = today.year
    record_central_fund(
        SYSTEM_ACTOR,
        province_code=get_settings().province_code,
        year=year,
        amount=Decimal("128000000.00"),
        note="中央财政支持学前教育发展资金（演示）",
    )
    county, city = _demo_actor("demo-county"), _demo_actor("demo-city")
    if county is None or city is None:
        return
    start = _month_day(today, 3)

    def project(actor: Actor, name: str, source: str, amount: str, purpose: str, institutions: str = "") -> int:
        data = ProjectInput(name, source, year, Decimal(amount), purpose, institutions)
        return save_project(actor, data)

    def approved(actor: Actor, reviewer: Actor | None, project_id: int) -> bool:
        request_id = submit_project(actor, project_id, today=start)
        if reviewer is None:
            return False
        workflow.decide(reviewer, request_id, "approve")
        return True

    expansion = project(
        county,
        "中牟县公办幼儿园扩容工程",
        "central",
        "3200000.00",
        "新建、改扩建公办幼儿园园舍，新增学位 360 个。",
        "4101220001:1200000\n4101220004:2000000",
    )
    approved(county, city, expansion)
    for back, spent, percent, notes in (
        (2, "600000.00", "20", "完成设计招标和施工图审查。"),
        (1, "1450000.00", "45", "主体结构施工中。"),
        (0, "2100000.00", "65.5", "主体结构封顶，开始内部装修。"),
    ):
        update_progress(
            county,
            expansion,
            spent=Decimal(spent),
            percent=Decimal(percent),
            notes=notes,
            evidence_file=("施工进度报告.pdf", _DEMO_PDF) if back == 0 else None,
            today=_month_day(today, back),
        )
    toys = project(
        county,
        "中牟县农村幼儿园玩教具配备",
        "provincial",
        "860000.00",
        "为农村幼儿园配备玩教具和图书。",
        "4101220002\n4101220003\n4101220005",
    )
    approved(county, city, toys)
    for back, spent, percent in ((2, "120000.00", "15"), (1, "300000.00", "35")):  # this month not yet updated
        update_progress(county, toys, spent=Decimal(spent), percent=Decimal(percent), today=_month_day(today, back))
    safety = project(
        county, "中牟县幼儿园安全设施改造", "county", "450000.00", "监控、消防和门卫设施改造。", "4101220002"
    )
    submit_project(county, safety)  # waiting for demo-city
    training = project(county, "中牟县学前教育教师培训", "county", "120000.00", "全县幼儿园教师全员培训。")
    request_id = submit_project(county, training)
    workflow.decide(city, request_id, "return", "请补充参训幼儿园名单和各园的经费分配金额。")

    province_reviewer = _demo_actor("demo-province-reviewer")
    subsidy = project(
        city,
        "郑州市普惠性民办幼儿园奖补",
        "city",
        "5000000.00",
        "按普惠性民办幼儿园在园幼儿数给予奖补。",
        "4101050002:1800000\n4101220002:900000",
    )
    if approved(city, province_reviewer, subsidy):
        for back, spent, percent in ((2, "1000000.00", "20"), (1, "2500000.00", "50"), (0, "3100000.00", "62")):
            update_progress(
                city, subsidy, spent=Decimal(spent), percent=Decimal(percent), today=_month_day(today, back)
            )
    digital = project(city, "郑州市学前教育信息化建设", "provincial", "1500000.00", "幼儿园管理信息化平台和智慧教室。")
    if approved(city, province_reviewer, digital):
        for back, spent, percent in ((1, "150000.00", "10"), (0, "240000.00", "18")):
            update_progress(
                city, digital, spent=Decimal(spent), percent=Decimal(percent), today=_month_day(today, back)
            )
    finance = _demo_actor("demo-finance")
    if finance is not None:
        project(
            finance, "河南省学前教育资助项目", "provincial", "20000000.00", "资助家庭经济困难幼儿接受普惠性学前教育。"
        )
