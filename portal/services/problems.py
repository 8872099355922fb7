"""Problem records (问题学籍) and arbitration (仲裁): MISSION.md R3.5, DOMAIN.md.

When the duplicate check finds a record claiming a child that another record already claims, a
dispute opens between the two; the failing record becomes a problem record, visible to both
institutions. The institution resolves its own: delete it (restorable on request), correct it
and submit again, or keep it and file proof (佐证). Once proof is filed the dispute goes to the
lowest bureau above both institutions (the county; the city across counties; the province
across cities), which decides on a page showing both records side by side: keep one, keep the
other, or (without a shared document number) they are different children. The decision is
applied at once and kept with who decided and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, may, require, scope_filter
from portal.auth.roles import Level
from portal.clock import utcnow
from portal.data import db
from portal.data.child_fields import CHILD
from portal.data.fields import display
from portal.data.models import Child, Dispute, DisputeProof, Institution, Region, Request, SchoolClass
from portal.services import audit, children, evidence, workflow
from portal.services.errors import NotFound, ServiceError
from portal.services.inputs import check_text
from portal.services.workflow import Step, Workflow
from portal.settings import get_settings

KIND_RESTORE = "child_restore"

KIND_LABELS = {
    "same_id": "证件号码重复",
    "same_identity": "姓名、性别、出生日期相同（无证件）",
    "same_number": "学籍号重复（外省转入）",
}
# Two records sharing a document number, or the student number a child brought from another
# province, cannot both be kept as different children: one side corrects its record.
SHARED_NUMBER_KINDS = ("same_id", "same_number")
STATE_LABELS = {"open": "待处理", "arbitration": "待仲裁", "decided": "已仲裁", "closed": "已解决"}
OUTCOME_LABELS = {
    "keep_child": "保留提出方记录",
    "keep_other": "保留原有记录",
    "different": "认定为不同幼儿",
    "deleted": "问题学籍已删除",
    "corrected": "问题学籍已更正后重新提交",
}
LEVEL_LABELS = {"county": "县级", "city": "市级", "province": "省级"}


def _arbiter_scope(first: Institution, second: Institution) -> tuple[str, str | None, str | None]:
    """(level, city_code, county_code) of the lowest bureau above both institutions."""
    if first.county_code == second.county_code:
        return Level.COUNTY.value, first.city_code, first.county_code
    if first.city_code == second.city_code:
        return Level.CITY.value, first.city_code, None
    return Level.PROVINCE.value, None, None


def open_dispute(session: Session, child: Child, other: Child, actor: Actor, kind: str | None = None) -> Dispute:
    """Make ``child`` a problem record against ``other`` (in the approving transaction). A dispute
    already open between the two is reused, so each pair has one. ``kind`` defaults to the
    duplicate check's (same document number, or same name, gender and birth date)."""
    existing = session.exec(
        select(Dispute).where(
            col(Dispute.state).in_(("open", "arbitration")),
            or_(
                (col(Dispute.child_id) == child.id) & (col(Dispute.other_child_id) == other.id),
                (col(Dispute.child_id) == other.id) & (col(Dispute.other_child_id) == child.id),
            ),
        )
    ).first()
    if existing is None:
        first = session.get(Institution, child.institution_id)
        second = session.get(Institution, other.institution_id)
        assert first is not None and second is not None
        level, city_code, county_code = _arbiter_scope(first, second)
        existing = Dispute(
            kind=kind or ("same_id" if child.id_hash else "same_identity"),
            child_id=child.id or 0,
            other_child_id=other.id or 0,
            institution_id=child.institution_id,
            other_institution_id=other.institution_id,
            level=level,
            province_code=child.province_code,
            city_code=city_code,
            county_code=county_code,
        )
        session.add(existing)
        session.flush()
    child.state = "problem"
    child.dispute_id = existing.id
    child.version += 1
    session.add(child)
    audit.record(
        session,
        actor,
        "problem_record_open",
        object_type="child",
        object_id=child.id or "",
        detail=f"{child.name}：{KIND_LABELS[existing.kind]}，与记录 {other.id} 冲突（问题学籍 {existing.id}）",
    )
    return existing


def _close(session: Session, dispute: Dispute, outcome: str) -> None:
    dispute.state = "closed"
    dispute.outcome = outcome
    dispute.decided_at = utcnow()
    session.add(dispute)
    for child_id in (dispute.child_id, dispute.other_child_id):
        child = session.get(Child, child_id)
        if child is not None and child.dispute_id == dispute.id:
            child.dispute_id = None
            session.add(child)


def _open_dispute_of(session: Session, child: Child) -> Dispute | None:
    if child.dispute_id is None:
        return None
    dispute = session.get(Dispute, child.dispute_id)
    return dispute if dispute is not None and dispute.state in ("open", "arbitration") else None


def close_for_deleted(session: Session, child: Child) -> None:
    """The institution deleted its problem record: the dispute is resolved."""
    dispute = _open_dispute_of(session, child)
    if dispute is not None:
        _close(session, dispute, "deleted")


def close_for_corrected(session: Session, child: Child) -> None:
    """The institution corrected its problem record and submits it again: checked afresh."""
    dispute = _open_dispute_of(session, child)
    if dispute is not None:
        _close(session, dispute, "corrected")


# --- views ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    child: children.ChildRow
    institution_id: int
    institution_name: str
    county_name: str
    proofs: list[DisputeProof]
    values: list[tuple[str, str]]  # the record's fields, masked, for the side-by-side view


@dataclass(frozen=True)
class DisputeView:
    id: int
    kind: str
    kind_label: str
    state: str
    state_label: str
    level: str
    level_label: str
    outcome_label: str
    reason: str
    decided_by: str
    decided_at: datetime | None
    opened_at: datetime
    claimant: Side  # the record that failed the check
    holder: Side  # the record it collided with
    may_arbitrate: bool


def _visible(actor: Actor, dispute: Dispute) -> bool:
    if actor.level is Level.INSTITUTION:
        return actor.institution_id in (dispute.institution_id, dispute.other_institution_id)
    return may(actor, Action.VIEW_CHILDREN, dispute)


def may_arbitrate(actor: Actor, dispute: Dispute) -> bool:
    return (
        dispute.state in ("open", "arbitration")
        and actor.level.value == dispute.level
        and may(actor, Action.ARBITRATE, dispute)
    )


def _side(session: Session, child_id: int, dispute_id: int) -> Side:
    child = session.get(Child, child_id)
    assert child is not None
    institution = session.get(Institution, child.institution_id)
    assert institution is not None
    school_class = session.get(SchoolClass, child.class_id) if child.class_id else None
    class_name = school_class.name if school_class else ""
    proofs = list(
        session.exec(
            select(DisputeProof)
            .where(DisputeProof.dispute_id == dispute_id, DisputeProof.institution_id == institution.id)
            .order_by(col(DisputeProof.id))
        ).all()
    )
    values = children.form_values(child, class_name)
    shown = [(spec.label, display(spec, values.get(spec.name))) for spec in CHILD.fields]
    from portal.services.regions import full_region_name

    return Side(
        child=children.child_row(child, class_name, institution.name, workflow.local_today()),
        institution_id=institution.id or 0,
        institution_name=institution.name,
        county_name=full_region_name(session, region)
        if (region := session.get(Region, institution.county_code))
        else "",
        proofs=proofs,
        values=shown,
    )


def _view(session: Session, actor: Actor, dispute: Dispute) -> DisputeView:
    return DisputeView(
        id=dispute.id or 0,
        kind=dispute.kind,
        kind_label=KIND_LABELS[dispute.kind],
        state=dispute.state,
        state_label=STATE_LABELS[dispute.state],
        level=dispute.level,
        level_label=LEVEL_LABELS[dispute.level],
        outcome_label=OUTCOME_LABELS.get(dispute.outcome, ""),
        reason=dispute.reason,
        decided_by=f"{dispute.decided_by_name}（{dispute.decided_role}）" if dispute.decided_by_name else "",
        decided_at=dispute.decided_at,
        opened_at=dispute.opened_at,
        claimant=_side(session, dispute.child_id, dispute.id or 0),
        holder=_side(session, dispute.other_child_id, dispute.id or 0),
        may_arbitrate=may_arbitrate(actor, dispute),
    )


def list_disputes(actor: Actor, *, open_only: bool = True, limit: int = 100) -> list[DisputeView]:
    """The disputes an actor sees: an institution those touching its records; a bureau those in
    its region (its own to arbitrate first)."""
    require(actor, Action.VIEW_CHILDREN)
    with db.session_scope() as session:
        query = select(Dispute)
        if actor.level is Level.INSTITUTION:
            query = query.where(
                or_(
                    col(Dispute.institution_id) == actor.institution_id,
                    col(Dispute.other_institution_id) == actor.institution_id,
                )
            )
        else:
            query = query.where(scope_filter(actor, Dispute))
        if open_only:
            query = query.where(col(Dispute.state).in_(("open", "arbitration")))
        found = session.exec(query.order_by(col(Dispute.id).desc()).limit(limit)).all()
        views = [_view(session, actor, d) for d in found]
    return sorted(views, key=lambda v: (not v.may_arbitrate, -v.id))


def get_dispute(actor: Actor, dispute_id: int) -> DisputeView:
    with db.session_scope() as session:
        dispute = session.get(Dispute, dispute_id)
        if dispute is None or not _visible(actor, dispute):
            raise NotFound("问题学籍不存在，或不在您的管辖范围内。")
        return _view(session, actor, dispute)


def file_proof(actor: Actor, dispute_id: int, note: str, files: Sequence[tuple[str, bytes]]) -> int:
    """One side files proof (佐证): the parents' documents, a scan of the household register. The
    dispute then waits for arbitration. A refused file and nothing is stored."""
    note = (note or "").strip()
    if not files:
        raise ServiceError("请上传佐证材料（如户口簿、出生医学证明的扫描件）。")
    if not note:
        raise ServiceError("请填写佐证说明：为什么该幼儿应在本园登记。")
    check_text(note, field="note", label="佐证说明", max_length=1000, multiline=True)
    for filename, data in files:
        evidence.check(filename, data)
    with evidence.removed_on_failure() as written, db.session_scope(write=True) as session:
        dispute = session.get(Dispute, dispute_id)
        if dispute is None or actor.institution_id not in (dispute.institution_id, dispute.other_institution_id):
            raise NotFound("问题学籍不存在，或不涉及本园。")
        institution = session.get(Institution, actor.institution_id)
        require(actor, Action.MANAGE_CHILDREN, institution)
        if dispute.state not in ("open", "arbitration"):
            raise ServiceError("该问题学籍已处理完毕，不能再提交佐证。")
        for filename, data in files:
            saved = evidence.save_bytes(filename, data, written, default_name="佐证材料")
            session.add(
                DisputeProof(
                    dispute_id=dispute_id,
                    institution_id=actor.institution_id or 0,
                    note=note[:1000],
                    uploaded_by=actor.user_id,
                    **saved.__dict__,
                )
            )
        dispute.state = "arbitration"
        session.add(dispute)
        audit.record(
            session,
            actor,
            "proof_file",
            object_type="dispute",
            object_id=dispute_id,
            detail=f"提交佐证 {len(files)} 份：{note}"[:500],
        )
    return len(files)


def read_proof(actor: Actor, proof_id: int) -> evidence.EvidenceContent:
    with db.session_scope(write=True) as session:
        row = session.get(DisputeProof, proof_id)
        dispute = session.get(Dispute, row.dispute_id) if row else None
        if row is None or dispute is None or not _visible(actor, dispute):
            raise NotFound("文件不存在，或不在您的管辖范围内。")
        data = evidence.load_bytes(row.stored_name, row.sha256)
        audit.record(
            session, actor, "proof_download", object_type="dispute", object_id=dispute.id or "", detail=row.filename
        )
        return evidence.EvidenceContent(row.filename, row.content_type, data)


def _remove(session: Session, child: Child) -> None:
    """The losing record: deleted (visible to the county, restorable), its number released to the
    record kept (one person, one number)."""
    child.state = "deleted"
    child.student_number_hash = None
    child.updated_at = utcnow()
    child.version += 1
    session.add(child)
    session.flush()


def _keep(session: Session, child: Child, actor: Actor, number_from: Child | None) -> None:
    """The record kept: approved with the person's number (the other record's, if it had one)."""
    if number_from is not None and number_from.student_number_cipher and not child.student_number_hash:
        number = children.number_of(number_from)
        children.give_number(session, child, number_from.student_number_kind or "G", number)
        return
    if child.student_number_hash:
        child.state = "approved"
        session.add(child)
        return
    kind, number = children.new_student_number(session, child)
    children.give_number(session, child, kind, number)


def arbitrate(actor: Actor, dispute_id: int, outcome: str, reason: str) -> DisputeView:
    """Decide a dispute: ``keep_child`` (the record that failed the check), ``keep_other`` (the
    one it collided with) or ``different`` (two children; not when they share a document
    number). Applied at once; who decided and why are kept, and both institutions see it."""
    reason = (reason or "").strip()
    if outcome not in ("keep_child", "keep_other", "different"):
        raise ServiceError("请选择仲裁结果。")
    if not reason:
        raise ServiceError("请填写仲裁理由。")
    check_text(reason, field="reason", label="仲裁理由", max_length=1000, multiline=True)
    with db.session_scope(write=True) as session:
        dispute = session.get(Dispute, dispute_id)
        if dispute is None or not _visible(actor, dispute):
            raise NotFound("问题学籍不存在，或不在您的管辖范围内。")
        if dispute.state not in ("open", "arbitration"):
            raise ServiceError(f"该问题学籍已处理（{STATE_LABELS[dispute.state]}），不能重复仲裁。")
        if not may_arbitrate(actor, dispute):
            raise ServiceError(f"该问题学籍应由{LEVEL_LABELS[dispute.level]}教育行政部门的审核人员仲裁。")
        if outcome == "different" and dispute.kind == "same_id":
            raise ServiceError("两条记录的证件号码相同，不能认定为不同幼儿：请由录错的一方更正证件号码。")
        if outcome == "different" and dispute.kind == "same_number":
            raise ServiceError("两条记录的学籍号相同，不能都保留：请由录错的一方更正外省转入·原学籍号。")
        child = session.get(Child, dispute.child_id)
        other = session.get(Child, dispute.other_child_id)
        assert child is not None and other is not None
        if outcome == "keep_child":
            _remove(session, other)
            _keep(session, child, actor, number_from=other)
        elif outcome == "keep_other":
            _remove(session, child)
            if other.state == "problem" and other.dispute_id == dispute.id:
                _keep(session, other, actor, number_from=None)
        else:
            for record in (child, other):
                if record.state == "problem" and record.dispute_id == dispute.id:
                    _keep(session, record, actor, number_from=None)
        dispute.state = "decided"
        dispute.outcome = outcome
        dispute.reason = reason[:1000]
        dispute.decided_by = actor.user_id
        dispute.decided_by_name = actor.real_name
        dispute.decided_role = actor.role
        dispute.decided_at = utcnow()
        session.add(dispute)
        for record in (child, other):
            if record.dispute_id == dispute.id:
                record.dispute_id = None
                session.add(record)
        audit.record(
            session,
            actor,
            "dispute_arbitrate",
            object_type="dispute",
            object_id=dispute_id,
            detail=f"{OUTCOME_LABELS[outcome]}：{reason}"[:500],
        )
        session.flush()
        return _view(session, actor, dispute)


# --- restoring a deleted or closed record (幼儿信息恢复申请) ----------------------------------------


def request_restore(actor: Actor, child_id: int, reason: str) -> Request:
    """Ask the county to restore a record deleted or closed by mistake (graduated, left). Once
    approved, a record that still holds its number is back in school; any other is a saved record
    again, to be submitted and checked afresh."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("请填写恢复理由。")
    check_text(reason, field="reason", label="恢复理由", max_length=1000, multiline=True)
    with db.session_scope(write=True) as session:
        institution = children.own_institution(session, actor)
        child = session.get(Child, child_id)
        if child is None or child.institution_id != institution.id:
            raise NotFound("幼儿记录不存在。")
        if child.state not in children.CLOSED:
            raise ServiceError("只有已删除、已毕业或已离园的记录才能申请恢复。")
        return workflow.submit(
            session,
            actor,
            kind=KIND_RESTORE,
            institution=institution,
            subject_type="child",
            subject_id=child_id,
            title=f"幼儿信息恢复：{child.name}",
            payload={"child_id": child_id, "name": child.name, "reason": reason, "state": child.state},
        )


def _apply_restore(session: Session, request: Request, actor: Actor) -> None:
    child = session.get(Child, int(request.subject_id))
    if child is None or child.state not in children.CLOSED:
        raise ServiceError("该记录已不是删除或关闭状态，无需恢复。")
    if child.id_hash:
        clash = session.exec(
            select(Child.name).where(
                Child.institution_id == child.institution_id,
                Child.id_hash == child.id_hash,
                col(Child.state).not_in(children.CLOSED),
                col(Child.id) != child.id,
            )
        ).first()
        if clash is not None:
            raise ServiceError(f"本园已有证件号码相同的幼儿（{clash}），不能恢复。")
    closed = child.state != "deleted"
    child.state = "approved" if closed and child.student_number_hash else "saved"
    child.closed_on = None
    child.closed_reason = ""
    child.updated_at = utcnow()
    child.version += 1
    session.add(child)
    audit.record(session, actor, "child_restore", object_type="child", object_id=child.id or "", detail=child.name)


def _restore_diff(detail: workflow.RequestDetail) -> list[tuple[str, str, str]]:
    return [
        (
            "幼儿",
            children.STATE_LABELS.get(detail.payload.get("state", "deleted"), ""),
            str(detail.payload.get("name", "")),
        ),
        ("恢复理由", "", str(detail.payload.get("reason", ""))),
    ]


workflow.register(
    Workflow(
        kind=KIND_RESTORE,
        label="幼儿信息恢复申请",
        steps=(Step("county_review", "县级审核", Level.COUNTY, get_settings().child_review_days),),
        apply=_apply_restore,
        diff=_restore_diff,
    )
)
