"""What a role's home page shows: who the actor is, their scope, and what is in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, func, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, may, scope_filter
from portal.auth.roles import Level
from portal.clock import utcnow
from portal.data import db
from portal.data.models import AccountLock, AuditLog, Institution, Region, User
from portal.services import workflow
from portal.services.regions import full_region_name


@dataclass(frozen=True)
class SubRegionRow:
    code: str
    name: str
    institutions: int
    township_central: int
    users: int


@dataclass
class Overview:
    role: str
    scope: str
    institutions: int = 0
    institutions_by_kind: dict[str, int] = field(default_factory=dict)
    users: int = 0
    sub_level_label: str = ""
    sub_regions: list[SubRegionRow] = field(default_factory=list)
    institution: Institution | None = None
    institution_location: str = ""
    audit_last_24h: int | None = None
    active_locks: int | None = None
    queue_waiting: int | None = None  # requests waiting for this reviewer


def _sub_level(actor: Actor) -> tuple[str, str] | None:
    """(the column to group by, its Chinese label) for the level under the actor's."""
    match actor.level:
        case Level.MINISTRY:
            return "province_code", "省份"
        case Level.PROVINCE:
            return "city_code", "地市"
        case Level.CITY:
            return "county_code", "县区"
        case Level.COUNTY:
            return "township_code", "乡镇"
    return None


def sub_regions(session: Session, actor: Actor) -> list[SubRegionRow]:
    """One row per region directly under the actor's, with what it holds."""
    sub = _sub_level(actor)
    if sub is None:
        return []
    column, _label = sub
    scope_regions: ColumnElement[bool]
    if actor.level is Level.MINISTRY:
        scope_regions = col(Region.level) == "province"
    elif actor.level is Level.PROVINCE:
        scope_regions = (col(Region.level) == "city") & (col(Region.province_code) == actor.province_code)
    elif actor.level is Level.CITY:
        # A city's counties; a city-level unit without counties (济源) is its own county.
        scope_regions = (col(Region.parent_code) == actor.city_code) | (col(Region.code) == actor.city_code)
        scope_regions &= col(Region.county_code).is_not(None)
    else:
        scope_regions = (col(Region.level) == "township") & (col(Region.parent_code) == actor.region_code)
    regions = session.exec(select(Region).where(scope_regions).order_by(col(Region.code))).all()

    def counts(model: type, extra: ColumnElement[bool] | None = None) -> dict[str | None, int]:
        group = getattr(model, column)
        query = select(group, func.count()).where(scope_filter(actor, model)).group_by(group)
        if extra is not None:
            query = query.where(extra)
        return {key: n for key, n in session.exec(query).all()}

    institutions = counts(Institution)
    central = counts(Institution, col(Institution.is_township_central))
    users = counts(User)

    def key_of(region: Region) -> str:
        return region.province_code if column == "province_code" else region.code

    rows = [
        SubRegionRow(
            code=r.code,
            name=r.name,
            institutions=institutions.get(key_of(r), 0),
            township_central=central.get(key_of(r), 0),
            users=users.get(key_of(r), 0),
        )
        for r in regions
    ]
    if actor.level is Level.COUNTY and institutions.get(None):
        rows.append(SubRegionRow("", "（未划入乡镇）", institutions.get(None, 0), 0, users.get(None, 0)))
    return rows


def overview(actor: Actor) -> Overview:
    """The home page's figures for this actor, all inside the actor's scope."""
    result = Overview(role=actor.role, scope=actor.scope_label)
    with db.session_scope() as session:
        if may(actor, Action.VIEW_INSTITUTION) or actor.level in (Level.INSTITUTION, Level.TOWNSHIP):
            by_kind = session.exec(
                select(Institution.kind, func.count())
                .where(scope_filter(actor, Institution))
                .group_by(Institution.kind)
            ).all()
            result.institutions_by_kind = {kind: n for kind, n in by_kind}
            result.institutions = sum(result.institutions_by_kind.values())
        result.users = session.exec(select(func.count()).select_from(User).where(scope_filter(actor, User))).one()
        sub = _sub_level(actor)
        if sub is not None and may(actor, Action.VIEW_INSTITUTION):
            result.sub_level_label = sub[1]
            result.sub_regions = sub_regions(session, actor)
        if actor.institution_id:
            result.institution = session.get(Institution, actor.institution_id)
            if result.institution is not None:
                place = session.get(Region, result.institution.township_code or result.institution.county_code)
                result.institution_location = full_region_name(session, place) if place else ""
        if may(actor, Action.VIEW_AUDIT):
            since = utcnow() - timedelta(hours=24)
            result.audit_last_24h = session.exec(
                select(func.count())
                .select_from(AuditLog)
                .where(scope_filter(actor, AuditLog), col(AuditLog.at) >= since)
            ).one()
        if may(actor, Action.REVIEW):
            result.queue_waiting = workflow.queue_count(actor)
        if may(actor, Action.UNLOCK_ACCOUNT):
            result.active_locks = session.exec(
                select(func.count())
                .select_from(AccountLock)
                .join(User, col(User.username) == col(AccountLock.username))
                .where(col(AccountLock.locked_until) > utcnow(), scope_filter(actor, User))
            ).one()
    return result
