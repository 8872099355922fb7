"""The institution registry: base information, school conditions and buildings.

The clerk saves drafts and submits a section. The first submission of a section is a report
(机构信息上报): rural institutions go to their township central kindergarten first, then to the
county. Once approved, any change is a change declaration (异动申报) that the county reviews, or
only acknowledges when nothing but contact details change (a setting), within 5 working days.
Approved values are the institution's record of truth, with who filled and who reviewed them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, require
from portal.auth.roles import Level
from portal.clock import format_local
from portal.data import db
from portal.data.fields import Section, clean, diff
from portal.data.institution_fields import SECTIONS_BY_KEY
from portal.data.models import Institution, InstitutionDraft, InstitutionRecord, Request, RequestEvent, User
from portal.services import audit, evidence, workflow
from portal.services.errors import NotFound, ServiceError, ValidationError
from portal.services.workflow import ACKNOWLEDGE, Step, Workflow
from portal.settings import get_settings

KIND_REPORT = "institution_info"
KIND_CHANGE = "institution_change"
KIND_NOTICE = "institution_notice"


def _is_rural_with_central(session: Session, institution: Institution) -> bool:
    """Does a township central kindergarten check this institution first?"""
    rural = {c.strip() for c in get_settings().rural_classes.split(",") if c.strip()}
    if institution.urban_rural not in rural or not institution.township_code or institution.is_township_central:
        return False
    central = session.exec(
        select(Institution.id).where(
            Institution.township_code == institution.township_code, col(Institution.is_township_central)
        )
    ).first()
    return central is not None


def _apply_section(session: Session, request: Request, actor: Actor) -> None:
    """The kind's handler: the approved values become the section's record of truth."""
    payload = json.loads(request.payload)
    section, values = payload["section"], payload["values"]
    institution_id = request.institution_id
    assert institution_id is not None
    record = session.get(InstitutionRecord, (institution_id, section))
    if record is None:
        record = InstitutionRecord(institution_id=institution_id, section=section, data="{}")
    record.data = json.dumps(values, ensure_ascii=False, sort_keys=True)
    record.filled_by = request.submitted_by
    record.reviewed_by = None if actor.is_system else actor.user_id
    record.request_id = request.id
    record.approved_at = request.decided_at or record.approved_at
    session.add(record)


def _payload_diff(detail: workflow.RequestDetail) -> list[tuple[str, str, str]]:
    """(field, before, after) rows of a registry request, for the reviewer's diff."""
    section = SECTIONS_BY_KEY[detail.payload["section"]]
    before = detail.before["values"] if detail.before else None
    return diff(section, before, detail.payload["values"])


def _steps_report() -> tuple[Step, ...]:
    settings = get_settings()
    return (
        Step(
            "township_check",
            "乡镇中心园初审",
            Level.TOWNSHIP,
            settings.township_check_days,
            applies=_is_rural_with_central,
        ),
        Step("county_review", "县级审核", Level.COUNTY, settings.county_review_days),
    )


workflow.register(Workflow(KIND_REPORT, "机构信息上报", _steps_report(), _apply_section, _payload_diff))
workflow.register(
    Workflow(
        KIND_CHANGE,
        "机构信息异动申报",
        (Step("county_review", "县级审核", Level.COUNTY, get_settings().change_review_days),),
        _apply_section,
        _payload_diff,
    )
)
workflow.register(
    Workflow(
        KIND_NOTICE,
        "机构信息异动报备",
        (Step("county_ack", "县级阅知", Level.COUNTY, get_settings().change_review_days, action=ACKNOWLEDGE),),
        _apply_section,
        _payload_diff,
    )
)


def _section(key: str) -> Section:
    try:
        return SECTIONS_BY_KEY[key]
    except KeyError:
        raise ServiceError(f"未知的信息分组：{key}") from None


def _own_institution(session: Session, actor: Actor) -> Institution:
    institution = session.get(Institution, actor.institution_id) if actor.institution_id else None
    if institution is None:
        raise NotFound("您的账户未关联机构。")
    require(actor, Action.EDIT_INSTITUTION, institution)
    return institution


def save_draft(actor: Actor, section_key: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Keep what the clerk has filled so far; what is filled must be valid, gaps may remain."""
    section = _section(section_key)
    values, errors = clean(section, raw, check_required=False)
    if errors:
        raise ValidationError(errors)
    with db.session_scope(write=True) as session:
        institution = _own_institution(session, actor)
        assert institution.id is not None
        draft = session.get(InstitutionDraft, (institution.id, section.key))
        if draft is None:
            draft = InstitutionDraft(
                institution_id=institution.id, section=section.key, data="{}", updated_by=actor.user_id
            )
        draft.data = json.dumps(values, ensure_ascii=False, sort_keys=True)
        draft.updated_by = actor.user_id
        session.add(draft)
        audit.record(session, actor, "draft_save", object_type="institution", object_id=institution.id, after=values)
    return values


def submit_section(
    actor: Actor,
    section_key: str,
    raw: dict[str, Any],
    files: Sequence[tuple[str, bytes]] = (),
    *,
    today: date | None = None,
) -> Request:
    """Submit a section for review, with its evidence files: a first report, or a change
    declaration once approved. A bad value or a refused file and nothing is submitted."""
    section = _section(section_key)
    values, errors = clean(section, raw)
    if errors:
        raise ValidationError(errors)
    for filename, data in files:
        evidence.check(filename, data)
    with evidence.removed_on_failure() as written, db.session_scope(write=True) as session:
        institution = _own_institution(session, actor)
        assert institution.id is not None
        record = session.get(InstitutionRecord, (institution.id, section.key))
        before = json.loads(record.data) if record else None
        if record is None:
            kind = KIND_REPORT
        else:
            changed = {
                spec.name for spec in section.fields if before and before.get(spec.name) != values.get(spec.name)
            }
            if not changed:
                raise ServiceError(f"{section.label}与已审核的信息相同，无需申报。")
            ack_fields = {f.strip() for f in get_settings().change_ack_fields.split(",") if f.strip()}
            kind = KIND_NOTICE if changed <= ack_fields else KIND_CHANGE
        request = workflow.submit(
            session,
            actor,
            kind=kind,
            institution=institution,
            subject_type="institution_section",
            subject_id=f"{institution.id}:{section.key}",
            title=f"{institution.name}·{section.label}",
            payload={"section": section.key, "values": values},
            before={"section": section.key, "values": before} if before is not None else None,
            today=today,
        )
        for filename, data in files:
            evidence.store(session, actor, request, filename, data, written)
        draft = session.get(InstitutionDraft, (institution.id, section.key))
        if draft is not None:
            session.delete(draft)
    return request


@dataclass(frozen=True)
class SectionState:
    section: Section
    approved: dict[str, Any] | None
    draft: dict[str, Any] | None
    pending: Request | None
    last_return_reason: str | None
    filled_by: str
    reviewed_by: str
    filled_at: datetime | None
    approved_at: datetime | None

    @property
    def accountability(self) -> str:
        """谁填报谁负责、谁审核谁负责: who filled and who reviewed the approved values, and when."""
        return (
            f"填报人 {self.filled_by or '—'}，审核人 {self.reviewed_by or '—'}；"
            f"填报时间 {format_local(self.filled_at) or '—'}，审核时间 {format_local(self.approved_at) or '—'}"
        )

    @property
    def status(self) -> str:
        if self.pending is not None:
            return "待审核"
        if self.last_return_reason is not None:
            return "已驳回"
        if self.draft is not None:
            return "草稿"
        return "已审核" if self.approved is not None else "未填报"

    @property
    def working_values(self) -> dict[str, Any]:
        """What the form starts from: the draft, else the approved values, else nothing."""
        if self.pending is not None:
            return json.loads(self.pending.payload)["values"]
        return self.draft or self.approved or {}


def _names(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return {u.id or 0: u.real_name for u in session.exec(select(User).where(col(User.id).in_(wanted))).all()}


def institution_sections(actor: Actor, institution_id: int | None = None) -> tuple[Institution, list[SectionState]]:
    """The state of every section of an institution (the actor's own by default)."""
    with db.session_scope() as session:
        institution = session.get(Institution, institution_id or actor.institution_id or 0)
        if institution is None:
            raise NotFound("机构不存在。")
        require(actor, Action.VIEW_INSTITUTION, institution)
        states = []
        for section in SECTIONS_BY_KEY.values():
            subject = f"{institution.id}:{section.key}"
            record = session.get(InstitutionRecord, (institution.id, section.key))
            draft = session.get(InstitutionDraft, (institution.id, section.key))
            latest = session.exec(
                select(Request).where(Request.subject_id == subject).order_by(col(Request.id).desc())
            ).first()
            reason = None
            if latest is not None and latest.state == "returned" and (record is None or record.request_id != latest.id):
                event = session.exec(
                    select(RequestEvent)
                    .where(RequestEvent.request_id == latest.id, RequestEvent.action == "return")
                    .order_by(col(RequestEvent.id).desc())
                ).first()
                reason = event.reason if event else ""
            names = _names(session, {record.filled_by if record else None, record.reviewed_by if record else None})
            source = session.get(Request, record.request_id) if record and record.request_id else None
            states.append(
                SectionState(
                    section=section,
                    approved=json.loads(record.data) if record else None,
                    draft=json.loads(draft.data) if draft else None,
                    pending=latest if latest is not None and latest.state == "pending" else None,
                    last_return_reason=reason,
                    filled_by=names.get(record.filled_by or 0, "") if record else "",
                    reviewed_by=names.get(record.reviewed_by or 0, "") if record else "",
                    filled_at=source.submitted_at if source else None,
                    approved_at=record.approved_at if record else None,
                )
            )
        return institution, states
