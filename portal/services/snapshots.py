"""Month-end snapshots (月末快照) and the reminders of the monthly update (MISSION.md R5.3).

On the last day of each month at 00:00 Asia/Shanghai the progress counters of every province, city
and county of the deployment are saved: institutions, reported, reviewed, numbered, entered (the
figures of ``region_progress`` summed over the dashboard's filters) and the children of the latest
statistics baseline where known. Exactly one snapshot per month and region (a unique index); a
snapshot is never changed (no update path here, and database triggers refuse UPDATE and DELETE).

A missed month-end is caught up the next time ``take_due`` runs: from cron (``python -m portal
snapshot``) or from the bureaus' home page (``check_due``, at most once an hour per process). Every
due month-end after the last one taken is taken, in order, with the counters of the time it is
taken, and marked ``caught_up`` when its month had already ended. The very first run takes only the
latest due month-end (there is nothing to catch up from before the snapshots existed).

Project data (§16, issue 8) is kept in the same transaction: one ``ProjectSnapshot`` per project (every
state but deleted) and month, with the latest monthly progress entered up to that month (zero when
none); ``project_trend`` reads them back per month for the project dashboard.

Trend charts and "since last month" read the snapshots: ``trend`` and ``since_last_month``, with
the scope of the progress table. Reminders: from the ``monthly_reminder_day`` (20th) an institution
whose month's update is not done (``yearly.monthly_update_task``) is reminded on its home page, and
its county sees the list (``monthly_update_laggards``).
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, func, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, in_scope, require, scope_filter
from portal.auth.roles import Level
from portal.clock import LOCAL_TZ, utcnow
from portal.data import db
from portal.data.models import (
    Child,
    Institution,
    MonthEndSnapshot,
    Project,
    ProjectProgress,
    ProjectSnapshot,
    Region,
    RegionProgress,
    StatBaseline,
)
from portal.data.types import CENT, Hundredths
from portal.services import progress, workflow, yearly
from portal.services.errors import NotFound, ServiceError
from portal.settings import get_settings

log = logging.getLogger(__name__)

FIGURES = ("institutions", "reported", "reviewed", "numbered", "entered", "baseline")
FIGURE_LABELS = {
    "institutions": "纳入系统机构数",
    "reported": "已上报基础信息机构数",
    "reviewed": "已审核机构数",
    "numbered": "已获学籍号幼儿数",
    "entered": "已录入待审核幼儿数",
    "baseline": "统计在园幼儿数",
}
LEVELS = ("province", "city", "county")
CHECK_EVERY = timedelta(hours=1)

_table = MonthEndSnapshot.__table__  # type: ignore[attr-defined]
_project_table = ProjectSnapshot.__table__  # type: ignore[attr-defined]
_checked: dict[str, datetime] = {}  # per database: when this process last looked for a due month-end


# --- the calendar of month-ends --------------------------------------------------------------------


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _parse(month: str) -> tuple[int, int]:
    year, number = month.split("-")
    return int(year), int(number)


def _next(month: str) -> str:
    year, number = _parse(month)
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def due_at(month: str) -> datetime:
    """When the month's snapshot falls due: its last day at 00:00 Asia/Shanghai, as aware UTC."""
    year, number = _parse(month)
    last = date(year, number, calendar.monthrange(year, number)[1])
    return datetime.combine(last, time(0), LOCAL_TZ).astimezone(UTC)


def latest_due_month(now: datetime) -> str:
    """The latest month whose snapshot is due at ``now``: this month on its last day, else the last."""
    local = now.astimezone(LOCAL_TZ).date()
    if local.day == calendar.monthrange(local.year, local.month)[1]:
        return month_key(local)
    return month_key(local.replace(day=1) - timedelta(days=1))


def is_caught_up(month: str, now: datetime) -> bool:
    """Taken at ``now``, is the month's snapshot late: had its month already ended?"""
    return month != month_key(now.astimezone(LOCAL_TZ).date())


def due_months(last_taken: str | None, now: datetime) -> list[str]:
    """The month-ends due at ``now`` and not yet taken, oldest first (only the latest on a first run)."""
    latest = latest_due_month(now)
    if last_taken is None:
        return [latest]
    months = []
    month = _next(last_taken)
    while month <= latest:
        months.append(month)
        month = _next(month)
    return months


# --- taking snapshots ---------------------------------------------------------------------------------


def _provinces(session: Session) -> list[str]:
    """The provinces of the deployment: its own, or every province for the ministry."""
    settings = get_settings()
    if settings.deployment == "national":
        return list(session.exec(select(Region.province_code).where(Region.level == "province")).all())
    return [settings.province_code]


def _figures(session: Session) -> list[dict[str, Any]]:
    """The current figures of every province, city and county of the deployment."""
    provinces = _provinces(session)
    regions = session.exec(
        select(Region).where(col(Region.level).in_(LEVELS), col(Region.province_code).in_(provinces))
    ).all()
    sums: dict[str, list[int]] = {}
    for column in (RegionProgress.county_code, RegionProgress.city_code, RegionProgress.province_code):
        for code, *values in session.exec(
            select(  # type: ignore[call-overload]
                column,
                func.sum(RegionProgress.institutions),
                func.sum(RegionProgress.reported),
                func.sum(RegionProgress.reviewed),
                func.sum(RegionProgress.numbered),
                func.sum(RegionProgress.entered),
            )
            .where(col(RegionProgress.province_code).in_(provinces))
            .group_by(column)
        ).all():
            key = code if len(code) == 6 else f"{code}0000"  # a province is summed by its 2 digits
            sums.setdefault(key, [int(v or 0) for v in values])
    years = {p: progress.baseline_year(session, p) for p in provinces}
    baselines: dict[str, int] = {}
    for province, year in years.items():
        if year is None:
            continue
        for row in session.exec(
            select(StatBaseline).where(StatBaseline.province_code == province, StatBaseline.year == year)
        ).all():
            for code in {row.county_code, row.city_code, f"{province}0000"}:
                baselines[code] = baselines.get(code, 0) + row.children
    found = []
    for region in regions:
        institutions, reported, reviewed, numbered, entered = sums.get(region.code, [0, 0, 0, 0, 0])
        found.append(
            {
                "region_code": region.code,
                "level": region.level,
                "province_code": region.province_code,
                "city_code": region.city_code,
                "county_code": region.county_code,
                "institutions": institutions,
                "reported": reported,
                "reviewed": reviewed,
                "numbered": numbered,
                "entered": entered,
                "baseline": baselines.get(region.code),
                "baseline_year": years[region.province_code] if region.code in baselines else None,
            }
        )
    return found


def _project_figures(session: Session, month: str, now: datetime) -> list[dict[str, Any]]:
    """Every project (but the deleted ones) with its latest progress entered up to ``month``."""
    latest = (
        select(col(ProjectProgress.project_id).label("pid"), func.max(ProjectProgress.month).label("month"))
        .where(col(ProjectProgress.month) <= month)
        .group_by(col(ProjectProgress.project_id))
        .subquery()
    )
    found = session.exec(
        select(Project, ProjectProgress.spent, ProjectProgress.percent, ProjectProgress.month)  # type: ignore[call-overload]
        .outerjoin(latest, latest.c.pid == col(Project.id))
        .outerjoin(
            ProjectProgress,
            and_(col(ProjectProgress.project_id) == latest.c.pid, col(ProjectProgress.month) == latest.c.month),
        )
        .where(col(Project.state) != "deleted")
        .order_by(col(Project.id))
    ).all()
    zero = Decimal("0.00")
    return [
        {
            "month": month,
            "project_id": project.id,
            "name": project.name,
            "source": project.source,
            "year": project.year,
            "level": project.level,
            "region_code": project.region_code,
            "province_code": project.province_code,
            "city_code": project.city_code,
            "county_code": project.county_code,
            "state": project.state,
            "amount": project.amount,
            "spent": spent if spent is not None else zero,
            "percent": percent if percent is not None else zero,
            "progress_month": progress_month,
            "taken_at": now,
        }
        for project, spent, percent, progress_month in found
    ]


def last_taken(session: Session) -> str | None:
    return session.exec(select(func.max(MonthEndSnapshot.month))).one()  # type: ignore[call-overload]


def take_due(*, now: datetime | None = None) -> list[str]:
    """Take every month-end snapshot due at ``now`` and not yet taken, in order; returns the months
    taken. Idempotent: run twice (or by two processes at once), each month is taken once."""
    now = now or utcnow()
    with db.session_scope() as session:  # the cheap look first: usually nothing is due
        if not due_months(last_taken(session), now):
            return []
    with db.session_scope(write=True) as session:
        months = due_months(last_taken(session), now)  # again, under the write lock
        if not months:
            return []
        figures = _figures(session)
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        for month in months:
            rows = [{**f, "month": month, "taken_at": now, "caught_up": is_caught_up(month, now)} for f in figures]
            if rows:
                statement = dialect.insert(_table).on_conflict_do_nothing(index_elements=["region_code", "month"])
                session.execute(statement, rows)
            projects = _project_figures(session, month, now)
            if projects:
                statement = dialect.insert(_project_table).on_conflict_do_nothing(
                    index_elements=["project_id", "month"]
                )
                session.execute(statement, projects)
    return months


def check_due(*, now: datetime | None = None) -> list[str]:
    """The portal's cheap check (the bureaus' home page): at most once an hour per process and
    database, take any due month-end. A failure is logged, never shown to the page's user."""
    now = now or utcnow()
    key = str(db.get_engine().url)
    checked = _checked.get(key)
    if checked is not None and checked <= now < checked + CHECK_EVERY:
        return []
    _checked[key] = now
    try:
        return take_due(now=now)
    except Exception:
        log.exception("month-end snapshots could not be taken")
        return []


# --- reading: the trend and the change since last month ----------------------------------------------


@dataclass(frozen=True)
class SnapshotRow:
    month: str
    region_code: str
    institutions: int
    reported: int
    reviewed: int
    numbered: int
    entered: int
    baseline: int | None
    baseline_year: int | None
    taken_at: datetime
    caught_up: bool

    @property
    def reported_pct(self) -> float | None:
        return progress.ratio(self.reported, self.institutions)

    @property
    def reviewed_pct(self) -> float | None:
        return progress.ratio(self.reviewed, self.institutions)

    @property
    def numbered_pct(self) -> float | None:
        return progress.ratio(self.numbered, self.baseline)


def _row(snapshot: MonthEndSnapshot) -> SnapshotRow:
    return SnapshotRow(
        month=snapshot.month,
        region_code=snapshot.region_code,
        institutions=snapshot.institutions,
        reported=snapshot.reported,
        reviewed=snapshot.reviewed,
        numbered=snapshot.numbered,
        entered=snapshot.entered,
        baseline=snapshot.baseline,
        baseline_year=snapshot.baseline_year,
        taken_at=snapshot.taken_at,
        caught_up=snapshot.caught_up,
    )


def _region_in_scope(session: Session, actor: Actor, region_code: str | None) -> Region:
    """The actor's region, or a province, city or county inside it (the progress table's scope)."""
    require(actor, Action.VIEW_CHILDREN)
    own = {
        Level.PROVINCE: f"{actor.province_code}0000",
        Level.CITY: actor.city_code,
        Level.COUNTY: actor.county_code,
    }.get(actor.level)
    if own is None:
        raise NotFound("进度表只对省、市、县三级教育行政部门开放。")
    region = session.get(Region, region_code or own)
    if region is None or region.level not in LEVELS or not in_scope(actor, region):
        raise NotFound("该地区不存在，或不在您的管辖范围内。")
    return region


def trend(actor: Actor, region_code: str | None = None, months: int = 12) -> list[SnapshotRow]:
    """The last ``months`` snapshots of the actor's region (or a region inside it), oldest first."""
    with db.session_scope() as session:
        region = _region_in_scope(session, actor, region_code)
        found = session.exec(
            select(MonthEndSnapshot)
            .where(MonthEndSnapshot.region_code == region.code, scope_filter(actor, MonthEndSnapshot))
            .order_by(col(MonthEndSnapshot.month).desc())
            .limit(months)
        ).all()
    return [_row(s) for s in reversed(found)]


@dataclass(frozen=True)
class SinceLastMonth:
    region_code: str
    region_name: str
    last: SnapshotRow | None  # None: no snapshot yet
    current: dict[str, int | None]
    difference: dict[str, int | None]  # per figure: current minus the last snapshot (None if unknown)


def since_last_month(
    actor: Actor,
    region_code: str | None = None,
    *,
    table: progress.ProgressTable | None = None,
    history: Sequence[SnapshotRow] | None = None,
) -> SinceLastMonth:
    """Per figure, the current counters minus the region's last snapshot. A page that already holds
    the region's table (and its trend) passes them instead of having them read again."""
    if table is None or (region_code is not None and table.region_code != region_code):
        table = progress.progress_table(actor, region_code)  # the same scope check, and the current figures
    if history is None:
        history = trend(actor, table.region_code, months=1)
    last = history[-1] if history else None
    current = {name: getattr(table.total, name) for name in FIGURES}
    difference: dict[str, int | None] = {}
    for name in FIGURES:
        before, now = (getattr(last, name) if last else None), current[name]
        difference[name] = None if before is None or now is None else now - before
    return SinceLastMonth(table.region_code, table.region_name, last, current, difference)


# --- the projects' month-end figures -----------------------------------------------------------------


@dataclass(frozen=True)
class ProjectTrendRow:
    """The approved projects of a month-end snapshot in the reader's scope, summed."""

    month: str
    projects: int
    amount: Decimal
    spent: Decimal
    percent_sum: Decimal

    @property
    def spent_pct(self) -> Decimal | None:
        """The share of the allocation spent, in %, to two places."""
        return (self.spent * 100 / self.amount).quantize(CENT, ROUND_HALF_UP) if self.amount else None

    @property
    def avg_percent(self) -> Decimal | None:
        return (self.percent_sum / self.projects).quantize(CENT, ROUND_HALF_UP) if self.projects else None


def project_trend(actor: Actor, *, year: int | None = None, months: int = 12) -> list[ProjectTrendRow]:
    """The last ``months`` month-end snapshots of the approved projects in the actor's scope (of
    ``year`` if given), summed per month in SQL, oldest first."""
    require(actor, Action.VIEW_PROJECTS)
    conditions = [scope_filter(actor, ProjectSnapshot), col(ProjectSnapshot.state) == "approved"]
    if year is not None:
        conditions.append(col(ProjectSnapshot.year) == year)
    with db.session_scope() as session:
        found = session.exec(
            select(  # type: ignore[call-overload]
                ProjectSnapshot.month,
                func.count(),
                type_coerce(func.sum(ProjectSnapshot.amount), Hundredths()),
                type_coerce(func.sum(ProjectSnapshot.spent), Hundredths()),
                type_coerce(func.sum(ProjectSnapshot.percent), Hundredths()),
            )
            .where(*conditions)
            .group_by(col(ProjectSnapshot.month))
            .order_by(col(ProjectSnapshot.month).desc())
            .limit(months)
        ).all()
    zero = Decimal("0.00")
    return [
        ProjectTrendRow(month, int(n), amount or zero, spent or zero, percent or zero)
        for month, n, amount, spent, percent in reversed(found)
    ]


# --- reminders of the monthly update ---------------------------------------------------------------------


def reminding(today: date) -> bool:
    """From the ``monthly_reminder_day`` (the 20th) to the month's end, reminders are shown."""
    return today.day >= get_settings().monthly_reminder_day


def monthly_reminder(actor: Actor, *, today: date | None = None) -> str | None:
    """The reminder on an institution's home page from the 20th while its month's update is not
    done (``yearly.monthly_update_task``); None before the 20th or when it is done."""
    today = today or workflow.local_today()
    if not reminding(today):
        return None
    task = yearly.monthly_update_task(actor)
    if task.done:
        return None
    deadline = min(get_settings().monthly_update_day, calendar.monthrange(today.year, today.month)[1])
    left = deadline - today.day
    when = f"还有 {left} 天" if left > 0 else ("今天截止" if left == 0 else f"已过期 {-left} 天")
    return f"**{task.label}**：{today.month} 月 {deadline} 日截止（{when}）。{task.detail}请在“学年工作”页面办理。"


@dataclass(frozen=True)
class Laggard:
    institution_id: int
    code: str
    name: str
    unsent: int  # records saved or returned and not submitted


def monthly_update_laggards(actor: Actor, *, today: date | None = None) -> Sequence[Laggard]:
    """The county's institutions whose month's update is not done, from the 20th (empty before).
    Only for a county bureau: the same rule as the institutions' own reminder."""
    require(actor, Action.VIEW_CHILDREN)
    if actor.level is not Level.COUNTY:
        raise NotFound("月度更新提醒名单只对县级教育行政部门开放。")
    today = today or workflow.local_today()
    if not reminding(today):
        return []
    with db.session_scope() as session:
        found = session.exec(
            select(Institution.id, Institution.code, Institution.name, func.count())  # type: ignore[call-overload]
            .join(Child, col(Child.institution_id) == col(Institution.id))
            .where(
                scope_filter(actor, Child),
                scope_filter(actor, Institution),
                col(Child.state).in_(yearly.UNSENT_STATES),
            )
            .group_by(col(Institution.id), col(Institution.code), col(Institution.name))
            .order_by(col(Institution.code))
        ).all()
    return [Laggard(int(i), code, name, int(n)) for i, code, name, n in found]


# --- a past month-end as a progress table (a bulletin for an earlier date) ---------------------------


def table_at(actor: Actor, as_of: date) -> progress.ProgressTable | None:
    """The progress table of the actor's region as its last month-end snapshot on or before
    ``as_of`` recorded it: one row per region below, from their own snapshots. Only provinces and
    cities (their counties have snapshots, their institutions do not); None without a snapshot."""
    with db.session_scope() as session:
        region = _region_in_scope(session, actor, None)
        if region.level == "county" or (region.level == "city" and region.county_code == region.code):
            raise ServiceError("县级地区的月末快照不含各幼儿园的数字：县级通报只能按当日数据生成。")
        months = session.exec(
            select(MonthEndSnapshot.month)
            .where(MonthEndSnapshot.region_code == region.code)
            .order_by(col(MonthEndSnapshot.month).desc())
        ).all()
        month = next((m for m in months if due_at(m).astimezone(LOCAL_TZ).date() <= as_of), None)
        if month is None:
            return None
        sub_level, sub_label = ("city", "地市") if region.level == "province" else ("county", "县区")
        parent = MonthEndSnapshot.province_code if region.level == "province" else MonthEndSnapshot.city_code
        key = region.province_code if region.level == "province" else region.code
        rows_found = session.exec(
            select(MonthEndSnapshot).where(
                MonthEndSnapshot.month == month, MonthEndSnapshot.level == sub_level, parent == key
            )
        ).all()
        own = session.exec(
            select(MonthEndSnapshot).where(MonthEndSnapshot.month == month, MonthEndSnapshot.region_code == region.code)
        ).one()
        names = {
            r.code: r.name
            for r in session.exec(select(Region).where(col(Region.code).in_([s.region_code for s in rows_found])))
        }

        def row(snapshot: MonthEndSnapshot, name: str) -> progress.ProgressRow:
            return progress.ProgressRow(
                snapshot.region_code,
                name,
                snapshot.institutions,
                snapshot.reported,
                snapshot.reviewed,
                snapshot.baseline,
                snapshot.numbered,
                snapshot.entered,
            )

        rows = sorted((row(s, names.get(s.region_code, s.region_code)) for s in rows_found), key=lambda r: r.code)
        return progress.ProgressTable(
            region_code=region.code,
            region_name=region.name,
            level=region.level,
            sub_label=sub_label,
            baseline_year=own.baseline_year,
            rows=rows,
            total=row(own, "合计"),
            as_of=due_at(month).astimezone(LOCAL_TZ).date(),
        )
