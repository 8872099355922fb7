"""The review engine: one table of requests, one declared workflow per kind (DESIGN.md pattern 4).

A kind declares its steps (who acts: a level and duties; how: review or acknowledge; the deadline
in working days; when the step applies) and a handler that applies the approved payload. The
engine submits, routes, decides and keeps the history; adding a kind is a declaration and a
handler, not a new page.

Two reviewers deciding at once: the decision is a conditional UPDATE on ``version``; the loser's
update touches no row and is told the request was already decided.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, in_scope, may, require, scope_filter
from portal.auth.roles import Duty, Level, role_label
from portal.clock import LOCAL_TZ, utcnow
from portal.data import db
from portal.data.models import Institution, Region, Request, RequestEvent
from portal.services import audit
from portal.services.errors import NotFound, ServiceError
from portal.services.inputs import check_text, search_term
from portal.services.workdays import add_working_days, working_days_left

REVIEW = "review"
ACKNOWLEDGE = "acknowledge"
REASON_MAX = 1000  # RequestEvent.reason and Child.return_reason hold 1,000 characters

STATE_LABELS = {
    "pending": "待审核",
    "approved": "审核通过",
    "returned": "已驳回",
    "acknowledged": "已阅知",
    "withdrawn": "已撤销",
}
ACTION_LABELS = {"submit": "提交", "approve": "审核通过", "return": "驳回", "acknowledge": "阅知", "withdraw": "撤销"}


@dataclass(frozen=True)
class Step:
    key: str
    label: str
    level: Level
    days: int
    action: str = REVIEW
    duties: frozenset[Duty] = frozenset({Duty.REVIEWER})
    # Does the step apply to this institution (or, for a bureau's own record, this place)?
    applies: Callable[[Session, Any], bool] = field(default=lambda _session, _subject: True)


@dataclass(frozen=True)
class Workflow:
    kind: str
    label: str
    steps: tuple[Step, ...]
    apply: Callable[[Session, Request, Actor], None]
    diff: Callable[[RequestDetail], list[tuple[str, str, str]]] | None = None  # (field, before, after)
    on_return: Callable[[Session, Request], None] | None = None
    # Called before any decision on a request of this kind; raises ServiceError to refuse it
    # (a transfer past its deadline, for instance).
    guard: Callable[[Session, Request], None] | None = None
    # Called after a request moved on to its next step (not on the last decision).
    on_step: Callable[[Session, Request], None] | None = None

    def step(self, key: str) -> Step:
        return next(s for s in self.steps if s.key == key)


_WORKFLOWS: dict[str, Workflow] = {}


def register(workflow: Workflow) -> Workflow:
    _WORKFLOWS[workflow.kind] = workflow
    return workflow


def _load_kinds() -> None:
    """Import the modules that declare kinds (each registers its workflows on import)."""
    import portal.services.children
    import portal.services.key_changes
    import portal.services.leaving
    import portal.services.problems
    import portal.services.projects
    import portal.services.registry
    import portal.services.supervision
    import portal.services.transfers  # noqa: F401


def workflow_for(kind: str) -> Workflow:
    _load_kinds()
    try:
        return _WORKFLOWS[kind]
    except KeyError:
        raise ServiceError(f"未知的申请类型：{kind}") from None


def kinds() -> dict[str, str]:
    """Every declared kind and its Chinese label."""
    _load_kinds()
    return {kind: wf.label for kind, wf in _WORKFLOWS.items()}


def local_today() -> date:
    return utcnow().astimezone(LOCAL_TZ).date()


def route(request: Request) -> list[str]:
    return list(json.loads(request.route))


def current_step(request: Request) -> Step | None:
    if request.state != "pending":
        return None
    return workflow_for(request.kind).step(route(request)[request.step])


def _event(session: Session, request: Request, actor: Actor, action: str, step_key: str, reason: str = "") -> None:
    assert request.id is not None
    session.add(
        RequestEvent(
            request_id=request.id,
            user_id=None if actor.is_system else actor.user_id,
            real_name=actor.real_name,
            role=actor.role,
            action=action,
            step_key=step_key,
            reason=reason,
        )
    )


def submit(
    session: Session,
    actor: Actor,
    *,
    kind: str,
    institution: Institution | None = None,
    place: Any = None,
    subject_type: str,
    subject_id: str | int,
    title: str,
    payload: dict[str, Any],
    before: dict[str, Any] | None = None,
    today: date | None = None,
    skip: Collection[str] = (),
) -> Request:
    """Open a request inside the caller's transaction; it goes to the first step that applies
    (steps whose key is in ``skip`` are left out of this request's route).

    The request is about an ``institution``, or about a bureau's own record (a project): then
    ``place`` is that record, and its ``province_code`` / ``city_code`` / ``county_code`` scope the
    request (each step's ``applies`` gets the institution or the place)."""
    workflow = workflow_for(kind)
    subject = institution if institution is not None else place
    if subject is None:
        raise ServiceError("申请缺少所属机构或地区。")
    steps = [s for s in workflow.steps if s.key not in skip and s.applies(session, subject)]
    if not steps:
        raise ServiceError(f"{workflow.label}没有适用的审核步骤。")
    open_one = session.exec(
        select(Request.id).where(
            Request.kind == kind, Request.subject_id == str(subject_id), Request.state == "pending"
        )
    ).first()
    if open_one is not None:
        raise ServiceError(f"该{workflow.label}已有待审核的申请，请等待审核结果后再提交。")
    submitted_at = utcnow()
    if today is not None:  # a submission dated on another day (demo data, back-filled records)
        submitted_at = datetime.combine(today, time(9, 0), LOCAL_TZ).astimezone(UTC)
    today = today or local_today()
    request = Request(
        kind=kind,
        title=title,
        subject_type=subject_type,
        subject_id=str(subject_id),
        payload=json.dumps(payload, ensure_ascii=False, sort_keys=True),
        before=json.dumps(before, ensure_ascii=False, sort_keys=True) if before is not None else None,
        route=json.dumps([s.key for s in steps]),
        step=0,
        step_level=steps[0].level.value,
        state="pending",
        due_date=add_working_days(today, steps[0].days),
        institution_id=institution.id if institution is not None else None,
        province_code=getattr(subject, "province_code", None),
        city_code=getattr(subject, "city_code", None),
        county_code=getattr(subject, "county_code", None),
        township_code=getattr(subject, "township_code", None),
        submitted_by=actor.user_id,
        submitted_at=submitted_at,
    )
    session.add(request)
    session.flush()
    _event(session, request, actor, "submit", steps[0].key)
    audit.record(session, actor, "request_submit", object_type="request", object_id=request.id or "", after=payload)
    return request


def may_act(actor: Actor, request: Request) -> bool:
    """Is it this actor's turn on this request (level, duty, scope)?"""
    step = current_step(request)
    return step is not None and actor.level is step.level and actor.duty in step.duties and in_scope(actor, request)


def decide(
    actor: Actor,
    request_id: int,
    action: str,
    reason: str = "",
    *,
    today: date | None = None,
    add_to_payload: dict[str, Any] | None = None,
) -> Request:
    """Approve, return (with a reason) or acknowledge the current step of a request.

    Approving the last step applies the payload through the kind's handler, in the same
    transaction; ``add_to_payload`` adds what the deciding party supplies (the class a transfer
    completes into) to the payload first, in the same conditional update. Refused with a Chinese
    message: a decided request, a step that is not the actor's, a request outside the actor's
    scope, a return without a reason, the wrong action for the step.
    """
    reason = (reason or "").strip()
    if action not in ("approve", "return", "acknowledge"):
        raise ServiceError(f"未知的审核操作：{action}")
    if action == "return" and not reason:
        raise ServiceError("驳回必须填写理由。")
    check_text(reason, field="reason", label="审核意见", max_length=REASON_MAX, multiline=True)
    with db.session_scope(write=True) as session:
        request = session.get(Request, request_id)
        if request is None or not in_scope(actor, request):
            raise NotFound("申请不存在，或不在您的管辖范围内。")
        if request.state != "pending":
            raise ServiceError(f"该申请已处理（{STATE_LABELS[request.state]}），不能重复操作。")
        step = current_step(request)
        assert step is not None
        if not may_act(actor, request):
            who = role_label(step.level, next(iter(step.duties)))
            raise ServiceError(f"当前步骤“{step.label}”应由{who}处理，不是您。")
        if step.action == ACKNOWLEDGE and action != "acknowledge":
            raise ServiceError(f"“{step.label}”只需阅知。")
        if step.action == REVIEW and action == "acknowledge":
            raise ServiceError(f"“{step.label}”需要审核：通过或驳回。")
        workflow = workflow_for(request.kind)
        if workflow.guard is not None:
            workflow.guard(session, request)
        keys = route(request)
        values: dict[str, Any] = {"version": request.version + 1}
        if add_to_payload and action == "approve":
            merged = {**json.loads(request.payload), **add_to_payload}
            values["payload"] = json.dumps(merged, ensure_ascii=False, sort_keys=True)
        if action == "return":
            values.update(state="returned", step_level=None, due_date=None, decided_at=utcnow())
        elif request.step + 1 < len(keys):
            next_step = workflow.step(keys[request.step + 1])
            values.update(
                step=request.step + 1,
                step_level=next_step.level.value,
                due_date=add_working_days(today or local_today(), next_step.days),
            )
        else:
            final = "acknowledged" if action == "acknowledge" else "approved"
            values.update(state=final, step_level=None, due_date=None, decided_at=utcnow())
        result = session.execute(
            update(Request)
            .where(col(Request.id) == request_id, col(Request.version) == request.version)
            .values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ServiceError("该申请已被其他审核人处理，请刷新后查看。")
        session.refresh(request)
        _event(session, request, actor, action, step.key, reason)
        if request.state in ("approved", "acknowledged"):
            workflow.apply(session, request, actor)
        elif request.state == "returned" and workflow.on_return is not None:
            workflow.on_return(session, request)
        elif request.state == "pending" and workflow.on_step is not None:
            workflow.on_step(session, request)
        audit.record(
            session,
            actor,
            f"request_{action}",
            object_type="request",
            object_id=request_id,
            detail=f"{workflow.label}·{step.label}" + (f"：{reason}" if reason else ""),
        )
    return request


def events_of(session: Session, request: Request) -> list[RequestEvent]:
    """A request's history, oldest first."""
    return list(
        session.exec(
            select(RequestEvent).where(RequestEvent.request_id == request.id).order_by(col(RequestEvent.id))
        ).all()
    )


def withdraw(session: Session, request: Request, actor: Actor, reason: str) -> None:
    """Close a pending request without a decision, inside the caller's transaction (the transfer
    it belongs to was cancelled or expired); the history records who and why."""
    if request.state != "pending":
        return
    step = current_step(request)
    result = session.execute(
        update(Request)
        .where(col(Request.id) == request.id, col(Request.version) == request.version)
        .values(state="withdrawn", step_level=None, due_date=None, decided_at=utcnow(), version=request.version + 1)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ServiceError("该申请已被其他人处理，请刷新后查看。")
    session.refresh(request)
    _event(session, request, actor, "withdraw", step.key if step else "", reason)


def decide_many(actor: Actor, request_ids: Sequence[int], action: str) -> list[tuple[int, str]]:
    """Decide several requests, each in its own transaction: (id, "" or the refusal) per request."""
    outcomes = []
    for request_id in request_ids:
        try:
            decide(actor, request_id, action)
            outcomes.append((request_id, ""))
        except ServiceError as exc:
            outcomes.append((request_id, str(exc)))
    return outcomes


def _bureau_names(session: Session, requests: Sequence[Request]) -> dict[int, str]:
    """The unit behind each request about a bureau's own record (no institution): 中牟县教育局,
    郑州市教育局, 河南省教育厅 — for the queue's 机构 column."""
    codes: dict[int, str] = {}
    for request in requests:
        if request.institution_id is None and request.id is not None:
            code = request.county_code or request.city_code or f"{request.province_code or ''}0000"
            codes[request.id] = code
    if not codes:
        return {}
    names = dict(session.exec(select(Region.code, Region.name).where(col(Region.code).in_(set(codes.values())))).all())
    return {
        request_id: names.get(code, code) + ("教育厅" if code.endswith("0000") else "教育局")
        for request_id, code in codes.items()
    }


@dataclass(frozen=True)
class QueueRow:
    id: int
    kind: str
    kind_label: str
    title: str
    institution_name: str
    step_label: str
    submitted_at: datetime
    due_date: date | None
    days_left: int | None


QUEUE_COUNT_CAP = 1000  # a queue counts exactly up to here, then says "1000+"


@dataclass(frozen=True)
class QueuePage:
    rows: Sequence[QueueRow]
    total: int  # at most QUEUE_COUNT_CAP
    next_after: int | None
    more: bool = False  # more than ``total`` wait


def _kinds_acting(level: Level, action: str) -> list[str]:
    """The kinds whose step at ``level`` is of this action (review / acknowledge)."""
    _load_kinds()
    return [wf.kind for wf in _WORKFLOWS.values() if any(s.level is level and s.action == action for s in wf.steps)]


def _kinds_for(actor: Actor) -> list[str]:
    """The kinds with a step at the actor's level that the actor's duty takes (an institution's
    reviewer does not see the steps meant for its clerk)."""
    _load_kinds()
    return [
        wf.kind
        for wf in _WORKFLOWS.values()
        if any(s.level is actor.level and actor.duty in s.duties for s in wf.steps)
    ]


def _queue_conditions(
    actor: Actor,
    kind: str | None,
    institution_id: int | None,
    overdue: bool,
    step_action: str | None = None,
    institution_name: str | None = None,
) -> list[Any]:
    conditions: list[Any] = [
        col(Request.state) == "pending",
        col(Request.step_level) == actor.level.value,
        col(Request.kind).in_(_kinds_for(actor)),
        scope_filter(actor, Request),
    ]
    if kind:
        conditions.append(col(Request.kind) == kind)
    if step_action:
        conditions.append(col(Request.kind).in_(_kinds_acting(actor.level, step_action)))
    if institution_id:
        conditions.append(col(Request.institution_id) == institution_id)
    if institution_name and search_term(institution_name):
        conditions.append(col(Institution.name).contains(search_term(institution_name), autoescape=True))
    if overdue:
        conditions.append(col(Request.due_date) < local_today())
    return conditions


def queue(
    actor: Actor,
    *,
    kind: str | None = None,
    institution_id: int | None = None,
    overdue: bool = False,
    step_action: str | None = None,
    institution_name: str | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> QueuePage:
    """What waits for this actor in their scope, oldest first, keyset-paged by id.

    Filters: kind, what the step asks (``review`` 待审核 / ``acknowledge`` 待阅知), institution (id
    or part of its name), past the deadline."""
    require(actor, Action.REVIEW)
    conditions = _queue_conditions(actor, kind, institution_id, overdue, step_action, institution_name)
    today = local_today()
    with db.session_scope() as session:
        total = _capped_count(conditions, joined=bool(institution_name and search_term(institution_name)))
        query = select(Request, Institution.name).outerjoin(
            Institution, col(Institution.id) == col(Request.institution_id)
        )
        query = query.where(*conditions)
        if after_id:
            query = query.where(col(Request.id) > after_id)
        found = session.exec(query.order_by(col(Request.id)).limit(limit + 1)).all()
        bureaus = _bureau_names(session, [request for request, _ in found[:limit]])
        rows = []
        for request, institution_name in found[:limit]:
            step = current_step(request)
            rows.append(
                QueueRow(
                    id=request.id or 0,
                    kind=request.kind,
                    kind_label=workflow_for(request.kind).label,
                    title=request.title,
                    institution_name=institution_name or bureaus.get(request.id or 0, ""),
                    step_label=step.label if step else "",
                    submitted_at=request.submitted_at,
                    due_date=request.due_date,
                    days_left=working_days_left(today, request.due_date) if request.due_date else None,
                )
            )
    return QueuePage(
        rows=rows,
        total=min(total, QUEUE_COUNT_CAP),
        next_after=rows[-1].id if len(found) > limit and rows else None,
        more=total > QUEUE_COUNT_CAP,
    )


def _capped_count(conditions: list[Any], *, joined: bool) -> int:
    """How many requests match, counted up to one past QUEUE_COUNT_CAP: an exact count of a
    backlog of 125,000 reads every row (70 ms); a capped one stops early (under 1 ms). The
    institution is joined only when its name is searched."""
    with db.session_scope() as session:
        matching = select(Request.id)
        if joined:
            matching = matching.join(Institution, col(Institution.id) == col(Request.institution_id))
        capped = matching.where(*conditions).limit(QUEUE_COUNT_CAP + 1).subquery()
        return int(session.exec(select(func.count()).select_from(capped)).one())


def queue_count(actor: Actor) -> int:
    """What waits for the actor, up to QUEUE_COUNT_CAP + 1 (shown as "1000+")."""
    if not may(actor, Action.REVIEW):
        return 0
    return _capped_count(_queue_conditions(actor, None, None, False), joined=False)


@dataclass(frozen=True)
class RequestDetail:
    request: Request
    kind_label: str
    state_label: str
    step_label: str
    payload: dict[str, Any]
    before: dict[str, Any] | None
    events: list[RequestEvent]
    may_act: bool
    step_action: str | None
    changes: list[tuple[str, str, str]]


def awaits(actor: Actor, request_id: int) -> bool:
    """Is this request still waiting for this actor (not decided by another reviewer, not
    withdrawn, in scope)? The review queue asks it of the request a reviewer had open."""
    with db.session_scope() as session:
        request = session.get(Request, request_id)
        return request is not None and request.state == "pending" and may_act(actor, request)


def detail(actor: Actor, request_id: int) -> RequestDetail:
    """A request with its payload, what it replaces, its history, and whether it is the actor's turn."""
    with db.session_scope() as session:
        request = session.get(Request, request_id)
        if request is None or not in_scope(actor, request):
            raise NotFound("申请不存在，或不在您的管辖范围内。")
        events = list(
            session.exec(
                select(RequestEvent).where(RequestEvent.request_id == request_id).order_by(col(RequestEvent.id))
            ).all()
        )
        step = current_step(request)
        wf = workflow_for(request.kind)
        result = RequestDetail(
            request=request,
            kind_label=wf.label,
            state_label=STATE_LABELS[request.state],
            step_label=step.label if step else "",
            payload=json.loads(request.payload),
            before=json.loads(request.before) if request.before else None,
            events=events,
            may_act=may_act(actor, request),
            step_action=step.action if step else None,
            changes=[],
        )
        if wf.diff is not None:
            result.changes.extend(wf.diff(result))
        return result


@dataclass(frozen=True)
class RequestRow:
    id: int
    kind_label: str
    title: str
    institution_name: str
    state_label: str
    step_label: str
    submitted_at: datetime
    due_date: date | None
    days_left: int | None
    decided_at: datetime | None


def _rows(session: Session, found: Sequence[tuple[Request, str | None]]) -> list[RequestRow]:
    today = local_today()
    bureaus = _bureau_names(session, [request for request, _ in found])
    rows = []
    for request, institution_name in found:
        step = current_step(request)
        rows.append(
            RequestRow(
                id=request.id or 0,
                kind_label=workflow_for(request.kind).label,
                title=request.title,
                institution_name=institution_name or bureaus.get(request.id or 0, ""),
                state_label=STATE_LABELS[request.state],
                step_label=step.label if step else "",
                submitted_at=request.submitted_at,
                due_date=request.due_date,
                days_left=working_days_left(today, request.due_date) if request.due_date else None,
                decided_at=request.decided_at,
            )
        )
    return rows


def institution_history(actor: Actor, institution_id: int, limit: int = 100) -> list[RequestRow]:
    """The requests of one institution, newest first, for anyone who may see the institution."""
    with db.session_scope() as session:
        institution = session.get(Institution, institution_id)
        if institution is None:
            raise NotFound("机构不存在。")
        require(actor, Action.VIEW_INSTITUTION, institution)
        found = session.exec(
            select(Request, Institution.name)
            .outerjoin(Institution, col(Institution.id) == col(Request.institution_id))
            .where(col(Request.institution_id) == institution_id)
            .order_by(col(Request.id).desc())
            .limit(limit)
        ).all()
        return _rows(session, found)


def overdue(actor: Actor, limit: int = 200) -> list[RequestRow]:
    """Requests past their deadline in the actor's scope, whoever's turn it is (the county sees
    its own, the city and the province see those of the counties below them)."""
    require(actor, Action.VIEW_INSTITUTION)
    with db.session_scope() as session:
        found = session.exec(
            select(Request, Institution.name)
            .outerjoin(Institution, col(Institution.id) == col(Request.institution_id))
            .where(
                col(Request.state) == "pending",
                col(Request.due_date) < local_today(),
                scope_filter(actor, Request),
            )
            .order_by(col(Request.due_date), col(Request.id))
            .limit(limit)
        ).all()
        return _rows(session, found)
