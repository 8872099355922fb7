"""Progress counters kept current in the transaction of every change (DESIGN.md pattern 6).

Rather than each service adding and subtracting, a change marks the institutions it touches and,
just before the transaction commits, each marked institution's figures are counted again from its
own rows (a few hundred children at most, on an index) and the difference is added to its
county's row in ``region_progress``. Marking is automatic for the ORM: any child, institution,
request about an institution section or approved section record flushed in the session marks its
institution (both institutions when a child moves). Core bulk writes (the import) call ``touch``.

On PostgreSQL the institution's counter row is locked before counting, so two transactions on one
institution count one after the other and no increment is lost; SQLite serialises writers anyway.
``rebuild`` recounts everything (``python -m portal progress --rebuild``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, case, cast, delete, event, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import attributes

from portal.data.models import (
    Child,
    Institution,
    InstitutionProgress,
    InstitutionRecord,
    RegionProgress,
    Request,
)

FIGURES = ("reported", "reviewed", "numbered", "entered")
DIMENSIONS = ("kind", "ownership", "inclusive", "urban_rural")
ENTERED_STATES = ("saved", "submitted", "returned", "problem")
SECTION_KINDS = ("institution_info", "institution_change", "institution_notice")
_KEY = "progress_touched"

_ip = InstitutionProgress.__table__  # type: ignore[attr-defined]
_rp = RegionProgress.__table__  # type: ignore[attr-defined]


def touch(session: OrmSession, *institution_ids: int | None) -> None:
    """Mark institutions whose figures this transaction may change."""
    touched: set[int] = session.info.setdefault(_KEY, set())
    touched.update(i for i in institution_ids if i)


def _after_flush(session: OrmSession, _context: Any) -> None:
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Child):
            touch(session, obj.institution_id)
            history = attributes.get_history(obj, "institution_id")
            touch(session, *(history.deleted or ()))
        elif isinstance(obj, Institution):
            touch(session, obj.id)
        elif isinstance(obj, Request) and obj.subject_type == "institution_section":
            touch(session, obj.institution_id)
        elif isinstance(obj, InstitutionRecord):
            touch(session, obj.institution_id)


def _before_commit(session: OrmSession) -> None:
    session.flush()  # what is still pending marks its institutions now
    touched: set[int] = session.info.pop(_KEY, set())
    for institution_id in sorted(touched):  # a fixed order: no deadlock between two transactions
        refresh(session, institution_id)
    session.info.pop(_KEY, None)


def _after_rollback(session: OrmSession) -> None:
    session.info.pop(_KEY, None)


event.listen(OrmSession, "after_flush", _after_flush)
event.listen(OrmSession, "before_commit", _before_commit)
event.listen(OrmSession, "after_soft_rollback", lambda session, _previous: _after_rollback(session))


def count_institution(session: OrmSession, institution: Institution) -> dict[str, Any]:
    """An institution's figures counted from its rows."""
    assert institution.id is not None
    states = dict(
        session.execute(
            select(Child.state, func.count())  # type: ignore[call-overload]
            .where(Child.institution_id == institution.id)
            .group_by(Child.state)
        ).all()
    )
    base = f"{institution.id}:base"
    reviewed = (
        session.execute(
            select(func.count())
            .select_from(InstitutionRecord)
            .where(InstitutionRecord.institution_id == institution.id, InstitutionRecord.section == "base")
        ).scalar_one()
        > 0
    )
    reported = reviewed or (
        session.execute(
            select(func.count())
            .select_from(Request)
            .where(
                Request.subject_type == "institution_section",
                Request.subject_id == base,
                Request.kind.in_(SECTION_KINDS),  # type: ignore[attr-defined]
                Request.state != "withdrawn",
            )
        ).scalar_one()
        > 0
    )
    return {
        "institution_id": institution.id,
        "province_code": institution.province_code,
        "city_code": institution.city_code,
        "county_code": institution.county_code,
        "township_code": institution.township_code,
        "kind": institution.kind,
        "ownership": institution.ownership,
        "inclusive": bool(institution.inclusive),
        "urban_rural": institution.urban_rural,
        "reported": int(reported),
        "reviewed": int(reviewed),
        "numbered": int(states.get("approved", 0)),
        "entered": sum(int(states.get(s, 0)) for s in ENTERED_STATES),
    }


def _region_key(row: dict[str, Any]) -> dict[str, Any]:
    return {"county_code": row["county_code"], **{d: row[d] for d in DIMENSIONS}}


def _add_to_region(session: OrmSession, row: dict[str, Any], sign: int, institutions: int) -> None:
    key = _region_key(row)
    deltas = {f: sign * int(row[f]) for f in FIGURES}
    deltas["institutions"] = sign * institutions
    condition = [_rp.c[k] == v for k, v in key.items()]
    change = update(_rp).where(*condition).values(**{k: _rp.c[k] + v for k, v in deltas.items()})
    if session.execute(change).rowcount:  # type: ignore[attr-defined]
        return
    values = {**key, "province_code": row["province_code"], "city_code": row["city_code"], **deltas}
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(_rp).values(**values))  # SQLite: the write lock serialises writers
        return
    # A first row for this key: another transaction may be inserting it at the same moment. Insert
    # if still absent; otherwise its row is there (committed, or we waited for it): add to it.
    created = session.execute(pg_insert(_rp).values(**values).on_conflict_do_nothing()).rowcount  # type: ignore[attr-defined]
    if not created:
        session.execute(change)


def refresh(session: OrmSession, institution_id: int) -> None:
    """Count one institution again and carry the difference to its county's row.

    The institution's row is locked (PostgreSQL) and updated in place: two transactions changing
    the same institution at once run one after the other, and the second counts what the first
    committed. (Deleting and inserting the row again let the waiting transaction find no row and
    insert a duplicate: a unique violation under load.)"""
    postgres = session.get_bind().dialect.name == "postgresql"
    lock = select(_ip).where(_ip.c.institution_id == institution_id)
    if postgres:
        lock = lock.with_for_update()
    old = session.execute(lock).mappings().first()
    institution = session.get(Institution, institution_id)
    if old is not None:
        old = dict(old)
        _add_to_region(session, old, -1, 1)
        if institution is None:
            session.execute(delete(_ip).where(_ip.c.institution_id == institution_id))
            return
    if institution is None:
        return
    new = count_institution(session, institution)
    if old is not None:
        session.execute(update(_ip).where(_ip.c.institution_id == institution_id).values(**new))
    elif postgres:
        created = session.execute(pg_insert(_ip).values(**new).on_conflict_do_nothing()).rowcount  # type: ignore[attr-defined]
        if not created:  # another transaction made the first row meanwhile: count again under its lock
            refresh(session, institution_id)
            return
    else:
        session.execute(insert(_ip).values(**new))
    _add_to_region(session, new, +1, 1)


def rebuild(session: OrmSession) -> int:
    """Recount every institution from the rows; returns how many.

    Set-based: one ``INSERT ... SELECT`` counts every institution (the same figures as
    ``count_institution``) and one ``GROUP BY`` sums them per county and filter combination, so a
    province of millions of children is recounted in seconds, on SQLite and PostgreSQL alike."""
    session.execute(delete(_rp))
    session.execute(delete(_ip))
    session.execute(_institution_counts())
    session.execute(_region_sums())
    session.info.pop(_KEY, None)
    return int(session.execute(select(func.count()).select_from(_ip)).scalar_one())


def _institution_counts() -> Any:
    """INSERT INTO institution_progress SELECT ...: every institution's figures counted as
    ``count_institution`` counts them (children per state; a base record; a base request that is
    not withdrawn, matched on its subject as ``<institution id>:base``)."""
    institution = Institution.__table__  # type: ignore[attr-defined]
    child = Child.__table__  # type: ignore[attr-defined]
    record = InstitutionRecord.__table__  # type: ignore[attr-defined]
    request = Request.__table__  # type: ignore[attr-defined]
    states = (
        select(
            child.c.institution_id,
            func.sum(case((child.c.state == "approved", 1), else_=0)).label("numbered"),
            func.sum(case((child.c.state.in_(ENTERED_STATES), 1), else_=0)).label("entered"),
        )
        .group_by(child.c.institution_id)
        .subquery("states")
    )
    reviewed = (
        exists().where(record.c.institution_id == institution.c.id, record.c.section == "base").correlate(institution)
    )
    reported = (
        exists()
        .where(
            request.c.subject_type == "institution_section",
            request.c.subject_id == cast(institution.c.id, String).concat(":base"),
            request.c.kind.in_(SECTION_KINDS),
            request.c.state != "withdrawn",
        )
        .correlate(institution)
    )
    counted = select(
        institution.c.id,
        institution.c.province_code,
        institution.c.city_code,
        institution.c.county_code,
        institution.c.township_code,
        institution.c.kind,
        institution.c.ownership,
        institution.c.inclusive,
        institution.c.urban_rural,
        case((or_(reviewed, reported), 1), else_=0),
        case((reviewed, 1), else_=0),
        func.coalesce(states.c.numbered, 0),
        func.coalesce(states.c.entered, 0),
    ).select_from(institution.outerjoin(states, states.c.institution_id == institution.c.id))
    columns = ["institution_id", "province_code", "city_code", "county_code", "township_code", *DIMENSIONS, *FIGURES]
    return insert(_ip).from_select(columns, counted)


def _region_sums() -> Any:
    """INSERT INTO region_progress SELECT ... GROUP BY county and the dashboard's filters."""
    key = [_ip.c.county_code, *(_ip.c[d] for d in DIMENSIONS)]
    summed = select(
        *key,
        func.min(_ip.c.province_code),
        func.min(_ip.c.city_code),
        func.count(),
        *(func.sum(_ip.c[f]) for f in FIGURES),
    ).group_by(*key)
    columns = ["county_code", *DIMENSIONS, "province_code", "city_code", "institutions", *FIGURES]
    return insert(_rp).from_select(columns, summed)
