"""Key-information changes (关键信息变更, §27.2 of the Rules; issue 5).

A numbered child's name, gender, date of birth, document type or document number changes only on
the guardian's application with documents: the institution's clerk records the request with the
proof attached (evidence files), the institution's reviewer approves it. The county is informed
and may look (the request is in its scope: the detail and the institution's request history);
with the setting ``key_change_county_review`` on, the county reviews it as a second step.

Approval applies the change atomically: the old values stay in the history (the request's
``before`` and an audit row, both masked), the child's columns are rewritten through
``children.column_values`` (class, state and student number kept: the number never changes).

A corrected document number is checked again against the province. When another record already
holds the new number, the change is still applied (the guardian's documents prove it, and the
reviewer has approved it) but the child becomes a problem record (问题学籍) against that record,
to be resolved like any other duplicate: proof from both sides and arbitration. Refusing the
change instead would keep a number on record that the documents show to be wrong.

Personal numbers never appear in the clear in a payload, ``before`` or an audit row: the new
document number travels encrypted (``document_cipher``) and is shown masked.
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
from portal.auth.roles import Duty, Level
from portal.clock import utcnow
from portal.data import crypto, db
from portal.data.child_fields import CHILD, KEY_FIELDS
from portal.data.choices import DocumentType
from portal.data.fields import display
from portal.data.models import Child, Institution, Request, RequestEvent, SchoolClass
from portal.services import audit, children, evidence, problems, transfers, workflow
from portal.services.errors import NotFound, ServiceError, ValidationError
from portal.services.inputs import check_text
from portal.services.workflow import Step, Workflow
from portal.settings import get_settings

KIND_KEY_CHANGE = "child_key_change"
KEY_LABELS: dict[str, str] = {name: CHILD.spec(name).label for name in KEY_FIELDS}


# --- values ---------------------------------------------------------------------------------------


def _class_name(session: Session, child: Child) -> str:
    school_class = session.get(SchoolClass, child.class_id) if child.class_id else None
    return school_class.name if school_class else ""


def _plain_values(child: Child, class_name: str) -> dict[str, Any]:
    """The stored record as the form's values with its personal numbers decrypted (never stored
    or shown: the input of ``check_child`` and ``column_values``)."""
    values = children.form_values(child, class_name)
    values["document_number"] = children.decrypt_field(child.id_cipher, children.CTX_DOCUMENT) or None
    for prefix in ("guardian1", "guardian2"):
        phone = children.decrypt_field(getattr(child, f"{prefix}_phone_cipher"), children.CTX_PHONE)
        values[f"{prefix}_phone"] = phone or None
    values["origin_number"] = children.decrypt_field(child.origin_number_cipher, children.CTX_STUDENT_NUMBER) or None
    return values


def _key_values(values: dict[str, Any]) -> dict[str, Any]:
    """The key fields of a record's values, the document number masked."""
    shown = {name: values.get(name) for name in KEY_FIELDS}
    shown["document_number"] = crypto.mask(values.get("document_number")) or None
    return shown


def _checked(session: Session, child: Child, raw: dict[str, Any], today: date) -> children.CheckedChild:
    """The whole record with ``raw``'s key fields, checked by the form's rules (the class is not
    part of a key change: only the child's own class is offered)."""
    class_name = _class_name(session, child)
    current = _plain_values(child, class_name)
    merged = {**current, **raw}
    return children.check_child(
        merged,
        class_names=[class_name],
        today=today,
        known_region=children.known_region_lookup(session),
        existing_document=current.get("document_number") or None,
    )


def _key_errors(checked: children.CheckedChild) -> dict[str, str]:
    """The errors a key change answers for: its own fields, and a nationality that no longer fits
    the document. The rest of a stored record is not re-judged by today's rules here."""
    return {name: message for name, message in checked.errors.items() if name in (*KEY_FIELDS, "nationality")}


def _normalised_changes(raw_changes: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(raw_changes) - set(KEY_FIELDS))
    if unknown:
        raise ServiceError(f"关键信息变更只能修改：{'、'.join(KEY_LABELS.values())}；不能修改：{'、'.join(unknown)}。")
    changes: dict[str, Any] = {}
    for name, value in raw_changes.items():
        if isinstance(value, date):
            value = value.isoformat()
        changes[name] = value.strip() if isinstance(value, str) else value
    return changes


# --- the request ----------------------------------------------------------------------------------


def request_key_change(
    actor: Actor,
    child_id: int,
    raw_changes: dict[str, Any],
    reason: str,
    files: Sequence[tuple[str, bytes]],
    *,
    today: date | None = None,
) -> Request:
    """Record a guardian's application to change a numbered child's key information, with its
    documents, for the institution reviewer's decision.

    ``raw_changes`` holds the key fields as the form gives them; a blank document number keeps
    the stored one. Refused with a Chinese message (and nothing written, no file kept): not the
    institution's clerk, a child not approved and numbered, nothing actually changed, a value
    the form's rules refuse (named by field), no documents or a refused file, no reason, or a
    change of this child already waiting for review.
    """
    reason = (reason or "").strip()
    check_day = today or workflow.local_today()
    changes = _normalised_changes(raw_changes or {})
    if not reason:
        raise ValidationError({"reason": "请填写变更原因（如：监护人申请更正出生日期，附户口簿）。"})
    check_text(reason, field="reason", label="变更原因", max_length=500, multiline=True)
    if not files:
        raise ServiceError("请上传监护人的申请书和证明材料（如户口簿、出生医学证明、身份证的扫描件或照片）。")
    for filename, data in files:
        evidence.check(filename, data)
    with evidence.removed_on_failure() as written, db.session_scope(write=True) as session:
        institution = children.own_institution(session, actor)
        child = session.get(Child, child_id)
        if child is None or child.institution_id != institution.id or child.state == "deleted":
            raise NotFound("幼儿记录不存在。")
        if child.state != "approved" or not child.student_number_hash:
            raise ServiceError(
                f"该幼儿的记录{children.STATE_LABELS[child.state]}：只有审核通过、已有学籍号的幼儿才能申请关键信息变更；"
                "未审核通过的记录请在“幼儿信息”中直接修改。"
            )
        transfers.refuse_if_transferring(session, child_id, "申请关键信息变更")
        current_document = children.decrypt_field(child.id_cipher, children.CTX_DOCUMENT)
        new_type = changes.get("document_type") or child.document_type
        if (
            not changes.get("document_number")
            and new_type != child.document_type
            and new_type != DocumentType.NONE
            and current_document
        ):
            raise ValidationError({"document_number": "证件类型变更时，请填写新证件上的完整号码。"})
        checked = _checked(session, child, changes, check_day)
        if errors := _key_errors(checked):
            raise ValidationError(errors)
        current = _plain_values(child, _class_name(session, child))
        changed = [name for name in KEY_FIELDS if (checked.values.get(name) or None) != (current.get(name) or None)]
        if not changed:
            raise ServiceError("填写的关键信息与已登记的信息相同，无需申请变更。")
        new_number = checked.values.get("document_number") or None
        if "document_number" in changed and new_number:
            clash = session.exec(
                select(Child.name).where(
                    Child.institution_id == institution.id,
                    Child.id_hash == children.document_hash(checked.values["document_type"], new_number),
                    col(Child.state) != "deleted",
                    col(Child.id) != child.id,
                )
            ).first()
            if clash is not None:
                raise ValidationError({"document_number": f"本园已登记证件号码相同的幼儿（{clash}），请核对。"})
        payload = {
            "child_id": child.id,
            "name": child.name,
            "changed": changed,
            "values": _key_values(checked.values),
            # The new number, encrypted: the payload is stored and shown, never a number in the clear.
            "document_cipher": crypto.encrypt(new_number, children.CTX_DOCUMENT)
            if "document_number" in changed and new_number
            else None,
            "reason": reason[:500],
        }
        before = {"values": _key_values(current)}
        request = workflow.submit(
            session,
            actor,
            kind=KIND_KEY_CHANGE,
            institution=institution,
            subject_type="child",
            subject_id=child.id or 0,
            title=f"关键信息变更：{child.name}",
            payload=payload,
            before=before,
            today=today,
        )
        for filename, data in files:
            evidence.store(session, actor, request, filename, data, written)
        audit.record(
            session,
            actor,
            "key_change_request",
            object_type="child",
            object_id=child.id or "",
            before={name: before["values"][name] for name in changed},
            after={name: payload["values"][name] for name in changed},
            detail=f"{child.name}：申请变更{'、'.join(KEY_LABELS[n] for n in changed)}；原因：{reason}"[:500],
        )
        return request


# --- approval -------------------------------------------------------------------------------------


def _apply(session: Session, request: Request, actor: Actor) -> None:
    """The approved change, in the deciding transaction: the key columns rewritten (class, state
    and student number kept), the old values in the audit row, the new identity checked again."""
    payload = json.loads(request.payload)
    child = session.get(Child, int(request.subject_id))
    if child is None or child.state != "approved":
        state = children.STATE_LABELS[child.state] if child is not None else "不存在"
        raise ServiceError(f"该幼儿的记录当前{state}，不能应用关键信息变更：请驳回该申请。")
    institution = session.get(Institution, child.institution_id)
    assert institution is not None
    raw = {name: payload["values"].get(name) for name in KEY_FIELDS if name != "document_number"}
    cipher = payload.get("document_cipher")
    raw["document_number"] = crypto.decrypt(cipher, children.CTX_DOCUMENT) if cipher else ""
    checked = _checked(session, child, raw, workflow.local_today())
    if errors := _key_errors(checked):
        raise ValidationError(errors)
    class_name = _class_name(session, child)
    old = _key_values(_plain_values(child, class_name))
    old_id_hash, old_identity = child.id_hash, child.identity_hash
    kept = (child.class_id, child.state, child.student_number_hash, child.student_number_cipher)
    for key, value in children.column_values(checked.values, institution, child.class_id).items():
        setattr(child, key, value)
    assert (child.class_id, child.state, child.student_number_hash, child.student_number_cipher) == kept
    child.updated_at = utcnow()
    child.version += 1
    session.add(child)
    session.flush()
    new = _key_values(checked.values)
    audit.record(
        session,
        actor,
        "key_change_apply",
        object_type="child",
        object_id=child.id or "",
        before=old,
        after=new,
        detail=f"{child.name}：关键信息变更生效（申请 {request.id}），学籍号不变",
    )
    # The province-wide check of the new identity: a new document number, or (without a
    # document) a new name, gender or birth date.
    identity_changed = child.id_hash != old_id_hash if child.id_hash else child.identity_hash != old_identity
    if identity_changed:
        children.lock_identity(session, child.id_hash or child.identity_hash)
        other = children.find_duplicate(session, child)
        if other is not None:
            problems.open_dispute(session, child, other, actor)


def _diff(detail: workflow.RequestDetail) -> list[tuple[str, str, str]]:
    """(field, old, new) of the changed key fields, personal numbers masked."""
    before = (detail.before or {}).get("values", {})
    after = detail.payload.get("values", {})
    rows = []
    for name in detail.payload.get("changed", []):
        spec = CHILD.spec(name)
        old, new = display(spec, before.get(name)), display(spec, after.get(name))
        if name == "document_number" and old == new:
            new = f"{new}（号码已更正）"
        rows.append((spec.label, old, new))
    rows.append(("变更原因", "", str(detail.payload.get("reason", ""))))
    return rows


def _county_reviews(_session: Session, _institution: Institution) -> bool:
    return get_settings().key_change_county_review


workflow.register(
    Workflow(
        kind=KIND_KEY_CHANGE,
        label="幼儿关键信息变更",
        steps=(
            Step(
                "institution_review",
                "本园审核",
                Level.INSTITUTION,
                get_settings().key_change_review_days,
                duties=frozenset({Duty.REVIEWER}),
            ),
            Step(
                "county_review",
                "县级审核",
                Level.COUNTY,
                get_settings().key_change_review_days,
                applies=_county_reviews,
            ),
        ),
        apply=_apply,
        diff=_diff,
    )
)


# --- lists ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyChangeRow:
    id: int
    child_id: int
    child_name: str
    changed: str  # the changed fields, in words
    state_label: str
    step_label: str
    submitted_at: datetime
    due_date: date | None
    decided_at: datetime | None
    return_reason: str


def list_key_changes(actor: Actor, institution_id: int | None = None, limit: int = 100) -> list[KeyChangeRow]:
    """The key-change requests of an institution (the actor's own by default), newest first, for
    anyone who may see the institution (its staff, the county above it)."""
    with db.session_scope() as session:
        institution = session.get(Institution, institution_id or actor.institution_id or 0)
        if institution is None:
            raise NotFound("机构不存在。")
        require(actor, Action.VIEW_INSTITUTION, institution)
        found = session.exec(
            select(Request)
            .where(col(Request.institution_id) == institution.id, col(Request.kind) == KIND_KEY_CHANGE)
            .order_by(col(Request.id).desc())
            .limit(limit)
        ).all()
        returned = [r.id for r in found if r.state == "returned"]
        reasons: dict[int, str] = {}
        if returned:
            for event in session.exec(
                select(RequestEvent)
                .where(col(RequestEvent.request_id).in_(returned), RequestEvent.action == "return")
                .order_by(col(RequestEvent.id))
            ).all():
                reasons[event.request_id] = event.reason
        rows = []
        for request in found:
            payload = json.loads(request.payload)
            step = workflow.current_step(request)
            rows.append(
                KeyChangeRow(
                    id=request.id or 0,
                    child_id=int(request.subject_id),
                    child_name=str(payload.get("name", "")),
                    changed="、".join(KEY_LABELS.get(n, n) for n in payload.get("changed", [])),
                    state_label=workflow.STATE_LABELS[request.state],
                    step_label=step.label if step else "",
                    submitted_at=request.submitted_at,
                    due_date=request.due_date,
                    decided_at=request.decided_at,
                    return_reason=reasons.get(request.id or 0, ""),
                )
            )
        return rows
