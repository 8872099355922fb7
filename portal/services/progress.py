"""The progress table of 附件2 (MISSION.md R5.1), read from the counters (DESIGN.md pattern 6).

One row per region directly under the one shown (the province: its cities; a city: its counties;
a county: its institutions) and a total row: institutions in the system; base information reported
(count, %); reviewed (count, %); children in the education statistics (the baseline of a year);
children with a student number (count, %). Ratios are shown as they are, above 100% too. Filters:
institution kind, ownership, inclusiveness, urban–rural class.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, require
from portal.auth.roles import Level
from portal.data import counters, db, query_cache
from portal.data.choices import INSTITUTION_KINDS, OWNERSHIPS, URBAN_RURAL_CLASSES
from portal.data.models import Institution, InstitutionProgress, Region, RegionProgress, StatBaseline
from portal.services import exports
from portal.services.errors import NotFound, ServiceError
from portal.settings import get_settings

LEVEL_BELOW = {"province": ("city_code", "地市"), "city": ("county_code", "县区"), "county": ("institution", "机构")}
# The columns of 附件2, as the seed names them (序号 and the region's kind come first).
COLUMNS = (
    "系统内学前机构总数（个）",
    "机构基本信息已上报数（个）",
    "占比",
    "机构基本信息已被审核数（个）",
    "占比",
    "教育统计在园幼儿数（人）",
    "已录入系统并获得学籍的幼儿数（个）",
    "占比",
)


def percent(value: float | None) -> str:
    """A ratio as 附件2 prints it: two decimals and a percent sign; empty without a denominator."""
    return "" if value is None else f"{value:.2f}%"


def header(table: ProgressTable) -> list[str]:
    return ["序号", table.sub_label, *COLUMNS]


def printed_rows(table: ProgressTable) -> list[list[str]]:
    """The rows as 附件2 prints them, ranked by the student-number ratio (as the seed's table is),
    numbered, the total row last."""
    ranked = sorted(table.rows, key=lambda r: (-(r.numbered_pct if r.numbered_pct is not None else -1), r.code))
    lines = []
    for index, row in enumerate([*ranked, table.total], start=1):
        lines.append(
            [
                "" if row is table.total else str(index),
                row.name,
                str(row.institutions),
                str(row.reported),
                percent(row.reported_pct),
                str(row.reviewed),
                percent(row.reviewed_pct),
                "" if row.baseline is None else str(row.baseline),
                str(row.numbered),
                percent(row.numbered_pct),
            ]
        )
    return lines


@dataclass(frozen=True)
class Filters:
    kind: str | None = None
    ownership: str | None = None
    inclusive: bool | None = None
    urban_rural: str | None = None

    def unknown(self) -> list[str]:
        """The filter values that are none of the choices (the screens offer only those)."""
        allowed = {"kind": INSTITUTION_KINDS, "ownership": OWNERSHIPS, "urban_rural": URBAN_RURAL_CLASSES}
        return [
            str(value)
            for name, choices in allowed.items()
            if (value := getattr(self, name)) is not None and value not in choices
        ]

    def conditions(self, model: Any) -> list[Any]:
        found = []
        for name in ("kind", "ownership", "inclusive", "urban_rural"):
            value = getattr(self, name)
            if value is not None:
                found.append(getattr(model, name) == value)
        return found


def ratio(part: int, whole: int | None) -> float | None:
    """A percentage to two decimals, None without a denominator; above 100 stays above 100."""
    if not whole:
        return None
    return round(part * 100 / whole, 2)


@dataclass(frozen=True)
class ProgressRow:
    code: str  # region code, or the institution's id for a county's rows
    name: str
    institutions: int
    reported: int
    reviewed: int
    baseline: int | None
    numbered: int
    entered: int
    drillable: bool = False

    @property
    def reported_pct(self) -> float | None:
        return ratio(self.reported, self.institutions)

    @property
    def reviewed_pct(self) -> float | None:
        return ratio(self.reviewed, self.institutions)

    @property
    def numbered_pct(self) -> float | None:
        return ratio(self.numbered, self.baseline)


@dataclass(frozen=True)
class ProgressTable:
    region_code: str
    region_name: str
    level: str  # the shown region's level
    sub_label: str  # what a row is: 地市 / 县区 / 机构
    baseline_year: int | None
    rows: Sequence[ProgressRow]
    total: ProgressRow
    breadcrumb: Sequence[tuple[str, str]] = field(default_factory=list)  # (code, name), top first
    as_of: date | None = None  # the month-end a table from snapshots shows; None: the counters now


def _actor_region(session: Session, actor: Actor) -> Region:
    code = {
        Level.PROVINCE: f"{actor.province_code}0000",
        Level.CITY: actor.city_code,
        Level.COUNTY: actor.county_code,
    }.get(actor.level)
    region = session.get(Region, code) if code else None
    if region is None:
        raise NotFound("进度表只对省、市、县三级教育行政部门开放。")
    return region


def _inside(actor_region: Region, region: Region) -> bool:
    if actor_region.level == "province":
        return region.province_code == actor_region.province_code
    if actor_region.level == "city":
        return region.city_code == actor_region.city_code
    return region.code == actor_region.code


def _breadcrumb(session: Session, top: Region, region: Region) -> list[tuple[str, str]]:
    chain = [region]
    while chain[-1].code != top.code and chain[-1].parent_code:
        parent = session.get(Region, chain[-1].parent_code)
        if parent is None:
            break
        chain.append(parent)
    return [(r.code, r.name) for r in reversed(chain)]


def baseline_year(session: Session, province_code: str) -> int | None:
    return session.exec(
        select(func.max(StatBaseline.year)).where(StatBaseline.province_code == province_code)  # type: ignore[call-overload]
    ).one()


def progress_table(
    actor: Actor, region_code: str | None = None, *, filters: Filters | None = None, year: int | None = None
) -> ProgressTable:
    """The table for the actor's region, or a region inside it (drill-down)."""
    require(actor, Action.VIEW_CHILDREN)
    with db.session_scope() as session:
        top = _actor_region(session, actor).code
    return _cached_table(top, region_code, filters or Filters(), year)


def operator_table(region_code: str, *, filters: Filters | None = None, year: int | None = None) -> ProgressTable:
    """The same table for the operator at the command line (``python -m portal progress``), for
    any region of the deployment's province."""
    with db.session_scope() as session:
        top = session.get(Region, f"{get_settings().province_code}0000")
        if top is None:
            raise NotFound("本省的行政区划尚未载入：请先运行 python -m portal db upgrade。")
    return _cached_table(top.code, region_code, filters or Filters(), year)


def _cached_table(top_code: str, region_code: str | None, filters: Filters, year: int | None) -> ProgressTable:
    """The table from the process's query cache (portal/data/query_cache.py): at most
    ``settings.cache_seconds`` old; this process's own writes are seen at once, a baseline import
    or a rebuild by any process within a second, other processes' saves and approvals within the
    lifetime."""

    def load() -> ProgressTable:
        with db.session_scope() as session:
            top = session.get(Region, top_code)
            if top is None:
                raise NotFound("该地区不存在，或不在您的管辖范围内。")
            return _table(session, top, region_code, filters, year)

    return query_cache.cached(query_cache.PROGRESS, (top_code, region_code, filters, year), load)


def _table(session: Session, top: Region, region_code: str | None, filters: Filters, year: int | None) -> ProgressTable:
    if filters.unknown():
        raise ServiceError("筛选条件不是可选的值，请重新选择。")
    if region_code and not (region_code.isascii() and region_code.isdigit()):
        raise NotFound("该地区不存在，或不在您的管辖范围内。")
    region = session.get(Region, region_code) if region_code else top
    if region is None or not _inside(top, region):
        raise NotFound("该地区不存在，或不在您的管辖范围内。")
    # A city-level unit without counties (济源) is its own county.
    level = "county" if region.level == "city" and region.county_code == region.code else region.level
    year = year or baseline_year(session, region.province_code)
    column, sub_label = LEVEL_BELOW[level]
    if level == "county":
        rows = _institution_rows(session, region.code, filters)
        total_baseline = _county_baseline(session, region.code, year)
    else:
        rows = _region_rows(session, region, level, column, filters, year)
        known = [r.baseline for r in rows if r.baseline is not None]
        total_baseline = sum(known) if known else None
    total = ProgressRow(
        code=region.code,
        name="合计",
        institutions=sum(r.institutions for r in rows),
        reported=sum(r.reported for r in rows),
        reviewed=sum(r.reviewed for r in rows),
        baseline=total_baseline,
        numbered=sum(r.numbered for r in rows),
        entered=sum(r.entered for r in rows),
    )
    return ProgressTable(
        region_code=region.code,
        region_name=region.name,
        level=level,
        sub_label=sub_label,
        baseline_year=year,
        rows=rows,
        total=total,
        breadcrumb=_breadcrumb(session, top, region),
    )


def _county_baseline(session: Session, county_code: str, year: int | None) -> int | None:
    if year is None:
        return None
    row = session.get(StatBaseline, (county_code, year))
    return row.children if row else None


def _region_rows(
    session: Session, region: Region, level: str, column: str, filters: Filters, year: int | None
) -> list[ProgressRow]:
    group = getattr(RegionProgress, column)
    if level == "province":
        scope = col(RegionProgress.province_code) == region.province_code
    else:
        scope = col(RegionProgress.city_code) == region.code
    sums = {
        code: values
        for code, *values in session.exec(
            select(  # type: ignore[call-overload]
                group,
                func.sum(RegionProgress.institutions),
                func.sum(RegionProgress.reported),
                func.sum(RegionProgress.reviewed),
                func.sum(RegionProgress.numbered),
                func.sum(RegionProgress.entered),
            )
            .where(scope, *filters.conditions(RegionProgress))
            .group_by(group)
        ).all()
    }
    baseline_query = select(getattr(StatBaseline, column), func.sum(StatBaseline.children)).where(  # type: ignore[call-overload]
        StatBaseline.year == year,
        (StatBaseline.province_code == region.province_code)
        if level == "province"
        else (StatBaseline.city_code == region.code),
    )
    baselines = (
        {k: int(v) for k, v in session.exec(baseline_query.group_by(getattr(StatBaseline, column))).all()}
        if year is not None
        else {}
    )
    if level == "province":
        subs = session.exec(
            select(Region).where(Region.level == "city", Region.province_code == region.province_code)
        ).all()
    else:
        subs = session.exec(select(Region).where(Region.parent_code == region.code, Region.level == "county")).all()
    rows = []
    for sub in sorted(subs, key=lambda r: r.code):
        values = sums.get(sub.code, [0, 0, 0, 0, 0])
        institutions, reported, reviewed, numbered, entered = (int(v or 0) for v in values)
        rows.append(
            ProgressRow(
                code=sub.code,
                name=sub.name,
                institutions=institutions,
                reported=reported,
                reviewed=reviewed,
                baseline=baselines.get(sub.code),
                numbered=numbered,
                entered=entered,
                drillable=True,
            )
        )
    return rows


def _institution_rows(session: Session, county_code: str, filters: Filters) -> list[ProgressRow]:
    found = session.exec(
        select(InstitutionProgress, Institution.code, Institution.name)  # type: ignore[call-overload]
        .join(Institution, col(Institution.id) == col(InstitutionProgress.institution_id))
        .where(InstitutionProgress.county_code == county_code, *filters.conditions(InstitutionProgress))
        .order_by(Institution.code)
    ).all()
    return [
        ProgressRow(
            code=str(p.institution_id),
            name=f"{name}（{code}）",
            institutions=1,
            reported=p.reported,
            reviewed=p.reviewed,
            baseline=None,
            numbered=p.numbered,
            entered=p.entered,
        )
        for p, code, name in found
    ]


@dataclass(frozen=True)
class Deadline:
    label: str
    day: date
    days_left: int  # calendar days from today (0: today)


def deadlines(today: date | None = None) -> list[Deadline]:
    """The Notice's deadlines (settings), each at its next occurrence on or after today, and the
    county's review period (working days, a fixed rule: shown as text on the dashboard)."""
    from portal.services.workflow import local_today

    today = today or local_today()
    settings = get_settings()
    found = []
    for label, month_day in (
        ("全部幼儿信息录入", settings.entry_deadline),
        ("全部幼儿获得学籍号", settings.numbering_deadline),
    ):
        month, day = (int(part) for part in month_day.split("-"))
        due = date(today.year, month, day)
        if due < today:
            due = date(today.year + 1, month, day)
        found.append(Deadline(label, due, (due - today).days))
    return found


def as_csv(table: ProgressTable) -> str:
    """The table as CSV in 附件2's columns (UTF-8 with BOM, so that Excel opens it)."""
    out = io.StringIO()
    writer = csv.writer(out)
    basis = f"{table.baseline_year}年" if table.baseline_year else "未导入"
    writer.writerow([f"{table.region_name}学前教育机构信息上报及审核情况统计表（统计基数：{basis}）"])
    writer.writerow(header(table))
    writer.writerows([exports.neutralise(cell) for cell in line] for line in printed_rows(table))
    return "\ufeff" + out.getvalue()


def record_download(actor: Actor, table: ProgressTable) -> None:
    """Audit a download of the table (its rows and the total)."""
    with db.session_scope(write=True) as session:
        exports.record(
            session,
            actor,
            f"{table.region_name}学前教育机构信息上报及审核情况统计表",
            len(table.rows) + 1,
            object_type="region",
            object_id=table.region_code,
        )


def rebuild_counters() -> int:
    """Recount every institution's figures from the rows (``python -m portal progress --rebuild``)."""
    with db.session_scope(write=True) as session:
        return counters.rebuild(session)  # every process reads the table again (query_cache)
