"""A child's record history (学籍变动记录): every request about the record, wherever the child was
at the time, and the transfers that moved it, oldest first.

Whoever may see the record now sees its whole history: after a transfer the new kindergarten and
its county see what was reviewed at the old one (the record is one record, its number unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, or_, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, may
from portal.data import db
from portal.data.models import Child, Institution, Request, RequestEvent, Transfer
from portal.services import workflow
from portal.services.errors import NotFound


@dataclass(frozen=True)
class RecordEvent:
    at: datetime
    kind_label: str
    title: str
    institution_name: str
    step: str
    action: str
    who: str
    reason: str


def child_history(actor: Actor, child_id: int) -> list[RecordEvent]:
    """Every step of every request about this child's record, oldest first."""
    with db.session_scope() as session:
        child = session.get(Child, child_id)
        if child is None or not may(actor, Action.VIEW_CHILDREN, child):
            raise NotFound("幼儿记录不存在，或不在您的管辖范围内。")
        transfer_ids = [str(t) for t in session.exec(select(Transfer.id).where(Transfer.child_id == child_id)).all()]
        requests = session.exec(
            select(Request, Institution.name)
            .join(Institution, col(Institution.id) == col(Request.institution_id))
            .where(
                or_(
                    (col(Request.subject_type) == "child") & (col(Request.subject_id) == str(child_id)),
                    (col(Request.subject_type) == "transfer") & col(Request.subject_id).in_(transfer_ids),
                )
            )
        ).all()
        by_request: dict[int, list[RequestEvent]] = {}
        for event in session.exec(  # every request's events in one query
            select(RequestEvent)
            .where(col(RequestEvent.request_id).in_([r.id for r, _ in requests]))
            .order_by(col(RequestEvent.id))
        ).all():
            by_request.setdefault(event.request_id, []).append(event)
        events: list[RecordEvent] = []
        for request, institution_name in requests:
            wf = workflow.workflow_for(request.kind)
            labels = {s.key: s.label for s in wf.steps}
            for event in by_request.get(request.id or 0, []):
                events.append(
                    RecordEvent(
                        at=event.at,
                        kind_label=wf.label,
                        title=request.title,
                        institution_name=institution_name,
                        step=labels.get(event.step_key, event.step_key),
                        action=workflow.ACTION_LABELS.get(event.action, event.action),
                        who=f"{event.real_name}（{event.role}）" if event.role else event.real_name,
                        reason=event.reason,
                    )
                )
        return sorted(events, key=lambda e: e.at)
