"""Leaving (离园) and accidental leaving (意外离园), §27.4: a request the county reviews.

The clerk declares that a child has left, with the day and the reason; an accidental leaving
after injury or death is entered within 30 working days (a setting) with the certificate as
evidence, and its approval cancels the student number. Approval closes the record (it stays
visible and can be restored on request, ``problems.request_restore``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

from sqlmodel import Session

from portal.auth.actor import Actor
from portal.auth.roles import Level
from portal.clock import utcnow
from portal.data import crypto, db
from portal.data.models import Child, Request
from portal.data.text import text_problem
from portal.services import audit, children, evidence, transfers, workflow
from portal.services.errors import NotFound, ServiceError, ValidationError
from portal.services.workdays import add_working_days
from portal.services.workflow import Step, Workflow
from portal.settings import get_settings

KIND_LEAVE = "child_leave"
LEAVE_KINDS = {"left": "离园", "accident": "意外离园"}
# The record keeps "意外离园：<reason>" in a column of 200 characters: the reason fits whole.
REASON_MAX = 200 - len("意外离园：")


def request_leave(
    actor: Actor,
    child_id: int,
    kind: str,
    left_on: date,
    reason: str,
    files: Sequence[tuple[str, bytes]] = (),
    *,
    today: date | None = None,
) -> Request:
    """Declare a child's leaving for the county's review. Refused: a closed record or one under
    review, a day in the future, no reason; for an accidental leaving, no certificate or a day
    more than the allowed working days ago."""
    check_day = today or workflow.local_today()
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if kind not in LEAVE_KINDS:
        errors["kind"] = "请选择离园类型：离园或意外离园。"
    if left_on > check_day:
        errors["left_on"] = "离园日期不能晚于今天。"
    if not reason:
        errors["reason"] = "请填写离园原因。"
    elif len(reason) > REASON_MAX:
        errors["reason"] = f"离园原因不超过 {REASON_MAX} 个字（现有 {len(reason)} 个）。"
    elif problem := text_problem(reason, "离园原因", multiline=True):
        errors["reason"] = problem
    limit = get_settings().accident_entry_days
    if kind == "accident":
        if not files:
            errors["files"] = "意外离园须上传证明材料（如医院证明、死亡证明）。"
        if add_working_days(left_on, limit) < check_day:
            errors["left_on"] = f"意外离园应在发生后 {limit} 个工作日内录入；已超过期限，请联系县级教育行政部门。"
    if errors:
        raise ValidationError(errors)
    for filename, data in files:
        evidence.check(filename, data)
    with evidence.removed_on_failure() as written, db.session_scope(write=True) as session:
        institution = children.own_institution(session, actor)
        child = session.get(Child, child_id)
        if child is None or child.institution_id != institution.id:
            raise NotFound("幼儿记录不存在。")
        if child.state != "approved":
            raise ServiceError(
                f"该幼儿的记录{children.STATE_LABELS[child.state]}：只有审核通过的在园幼儿才能办理离园。"
            )
        transfers.refuse_if_transferring(session, child_id, "办理离园")
        request = workflow.submit(
            session,
            actor,
            kind=KIND_LEAVE,
            institution=institution,
            subject_type="child",
            subject_id=child_id,
            title=f"{LEAVE_KINDS[kind]}：{child.name}",
            payload={"child_id": child_id, "kind": kind, "left_on": left_on.isoformat(), "reason": reason},
            today=today,
        )
        for filename, data in files:
            evidence.store(session, actor, request, filename, data, written)
        return request


def _apply(session: Session, request: Request, actor: Actor) -> None:
    payload = json.loads(request.payload)
    child = session.get(Child, int(request.subject_id))
    if child is None or child.state != "approved":
        raise ServiceError("该幼儿的记录已变化，不能办理离园，请驳回该申请。")
    transfers.refuse_if_transferring(session, child.id or 0, "办理离园")
    accident = payload["kind"] == "accident"
    number = children.number_of(child)
    child.state = "left"
    child.closed_on = date.fromisoformat(payload["left_on"])
    child.closed_reason = f"{LEAVE_KINDS[payload['kind']]}：{payload['reason']}"[:200]
    if accident:  # the student number is cancelled: no longer held by anyone
        child.student_number_hash = None
    child.updated_at = utcnow()
    child.version += 1
    session.add(child)
    audit.record(
        session,
        actor,
        "child_leave",
        object_type="child",
        object_id=child.id or "",
        detail=f"{child.name}：{child.closed_reason}"
        + (f"；学籍号 {crypto.mask(number, 7, 4)} 注销" if accident else ""),
    )


def _diff(detail: workflow.RequestDetail) -> list[tuple[str, str, str]]:
    payload = detail.payload
    return [
        ("离园类型", "", LEAVE_KINDS.get(payload.get("kind", ""), "")),
        ("离园日期", "", str(payload.get("left_on", ""))),
        ("离园原因", "", str(payload.get("reason", ""))),
    ]


workflow.register(
    Workflow(
        kind=KIND_LEAVE,
        label="幼儿离园",
        steps=(Step("county_review", "县级审核", Level.COUNTY, get_settings().child_review_days),),
        apply=_apply,
        diff=_diff,
    )
)
