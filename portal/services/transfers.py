"""Transfers between institutions of the province (转园, §27.3 of the Rules; issue 5).

The receiving institution starts a transfer with the child's student number and name; a mismatch
is refused with one message whatever was wrong, so that trying numbers reveals nobody. The steps
are two requests of the review engine, each with its deadline in working days and its history:

- ``child_transfer_out`` at the sending institution: it agrees (or refuses with a reason); across
  counties (or everywhere with the setting ``transfer_county_review``) its county reviews next;
- ``child_transfer_in`` at the receiving institution, opened when the first one is approved: its
  county reviews across counties; then the receiver completes the transfer into a class.

Completion moves the record (institution, region codes, class) in one transaction; the student
number, the record's id and everything that hangs on it stay, so the child's history is intact.
The whole transfer finishes within ``transfer_days`` working days (30): past that it expires,
its open request is withdrawn and the expiry recorded; until it is closed a step past its own
deadline is flagged as overdue to the counties on both sides.

A child is in one open transfer at most (a unique index on ``open_child_id``), and the sending
side cannot close the record of a child being transferred (leaving, graduation, key changes ask
``open_transfer_of`` first).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, true
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.policy import Action, require
from portal.auth.roles import Duty, Level
from portal.clock import utcnow
from portal.data import crypto, db
from portal.data.models import Child, Institution, Request, SchoolClass, Transfer
from portal.data.text import text_problem
from portal.services import audit, children, workflow
from portal.services.errors import NotFound, ServiceError, ValidationError
from portal.services.identity import fold_width, is_student_number
from portal.services.inputs import check_text
from portal.services.workdays import add_working_days, working_days_left
from portal.services.workflow import Step, Workflow
from portal.settings import get_settings

KIND_OUT = "child_transfer_out"
KIND_IN = "child_transfer_in"

STATE_LABELS = {
    "sender": "待转出园同意",
    "out_county": "待转出地县级审核",
    "in_county": "待转入地县级审核",
    "receiver": "待转入园办理",
    "completed": "已完成",
    "refused": "已拒绝",
    "cancelled": "已撤销",
    "expired": "已过期",
}
OPEN = ("sender", "out_county", "in_county", "receiver")
# The transfer's state while each step of its requests is current.
STEP_STATES = {"sender_agree": "sender", "out_county": "out_county", "in_county": "in_county", "receiver": "receiver"}

MISMATCH = "学籍号与姓名不匹配，或该幼儿当前不能转园（只有审核通过的在园幼儿可以转园）。请与家长核对后重试。"


# --- helpers --------------------------------------------------------------------------------------


def open_transfer_of(session: Session, child_id: int) -> Transfer | None:
    """The child's open transfer, if any (the sending side may not close the record meanwhile)."""
    return session.exec(select(Transfer).where(Transfer.open_child_id == child_id)).first()


def refuse_if_transferring(session: Session, child_id: int, what: str) -> None:
    """Refuse ``what`` (离园, 毕业, ...) for a child in an open transfer."""
    transfer = open_transfer_of(session, child_id)
    if transfer is not None:
        raise ServiceError(f"该幼儿正在办理转园（{STATE_LABELS[transfer.state]}），不能{what}；请先完成或撤销转园。")


def _counties_review(sender: Institution, receiver: Institution) -> bool:
    return sender.county_code != receiver.county_code or get_settings().transfer_county_review


def _class_of(session: Session, institution: Institution, class_id: int | None, today: date) -> SchoolClass:
    school_class = session.get(SchoolClass, class_id) if class_id else None
    if school_class is None or school_class.institution_id != institution.id:
        raise ValidationError({"class_id": "请选择本园的班级。"})
    if school_class.school_year != children.school_year_of(today):
        raise ValidationError({"class_id": f"请选择本学年（{children.school_year_of(today)}）的班级。"})
    return school_class


def _transfer_of(session: Session, request: Request) -> Transfer:
    transfer = session.get(Transfer, int(json.loads(request.payload)["transfer_id"]))
    if transfer is None:
        raise ServiceError("转园记录不存在。")
    return transfer


def _close(session: Session, transfer: Transfer, state: str, who: str, reason: str) -> None:
    transfer.state = state
    transfer.open_child_id = None
    transfer.closed_at = utcnow()
    transfer.closed_by_name = who[:50]
    transfer.closed_reason = reason[:500]
    transfer.version += 1
    session.add(transfer)


def _withdraw_open_requests(session: Session, transfer: Transfer, actor: Actor, reason: str) -> None:
    for request_id in (transfer.out_request_id, transfer.in_request_id):
        request = session.get(Request, request_id) if request_id else None
        if request is not None:
            workflow.withdraw(session, request, actor, reason)


def _sync_state(session: Session, transfer: Transfer, request: Request) -> None:
    """After a step moved on: the transfer's state follows the request's current step."""
    step = workflow.current_step(request)
    if step is not None:
        transfer.state = STEP_STATES[step.key]
        transfer.version += 1
        session.add(transfer)


# --- starting -------------------------------------------------------------------------------------


def start_transfer(
    actor: Actor,
    student_number: str,
    name: str,
    class_id: int | None,
    reason: str,
    *,
    today: date | None = None,
) -> int:
    """The receiving institution's clerk starts a transfer; returns the transfer's id.

    Refused with a Chinese message, nothing written: a number or name that does not match a child
    in school (one message for every such case), the child already in this institution, a child in
    another open transfer or with a leaving or key change under review, no class of this
    institution, no reason."""
    today = today or workflow.local_today()
    student_number = fold_width(student_number or "").strip().upper()
    name = children.normalise_name(name or "")
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if not is_student_number(student_number):
        errors["student_number"] = "请填写幼儿的学籍号（1 位字母加 18 位字符，见原幼儿园的学籍卡）。"
    if not name:
        errors["name"] = "请填写幼儿姓名。"
    if not reason:
        errors["reason"] = "请填写转园原因（如：随父母迁居）。"
    elif len(reason) > 200:
        errors["reason"] = "转园原因不能超过 200 个字。"
    elif problem := text_problem(reason, "转园原因"):
        errors["reason"] = problem
    if not class_id:
        errors["class_id"] = "请选择转入的班级。"
    if errors:
        raise ValidationError(errors)
    with db.session_scope(write=True) as session:
        receiver = children.own_institution(session, actor)
        school_class = _class_of(session, receiver, class_id, today)
        number_hash = crypto.lookup_hash(student_number, children.CTX_STUDENT_NUMBER)
        child = session.exec(select(Child).where(Child.student_number_hash == number_hash)).first()
        if child is not None and child.state == "approved" and child.name == name:
            return _open_transfer(session, actor, receiver, school_class, child, reason, today)
    # One message whatever was wrong; the try is audited (someone trying numbers shows up), in a
    # transaction of its own since nothing else is written.
    with db.session_scope(write=True) as session:
        audit.record(session, actor, "transfer_mismatch", object_type="transfer", detail="转园发起：学籍号与姓名不匹配")
    raise ServiceError(MISMATCH)


def _open_transfer(
    session: Session,
    actor: Actor,
    receiver: Institution,
    school_class: SchoolClass,
    child: Child,
    reason: str,
    today: date,
) -> int:
    assert child.id is not None
    if child.institution_id == receiver.id:
        raise ServiceError("该幼儿已在本园，无需转园。")
    other = open_transfer_of(session, child.id)
    if other is not None:
        raise ServiceError(f"该幼儿已有一个正在办理的转园（{STATE_LABELS[other.state]}），不能重复发起。")
    busy = session.exec(
        select(Request.title).where(
            Request.subject_type == "child", Request.subject_id == str(child.id), Request.state == "pending"
        )
    ).first()
    if busy is not None:
        raise ServiceError("该幼儿在原幼儿园有待审核的业务（如离园、信息变更），暂不能转园，请与原幼儿园联系。")
    sender = session.get(Institution, child.institution_id)
    assert sender is not None
    counties = _counties_review(sender, receiver)
    transfer = Transfer(
        child_id=child.id,
        open_child_id=child.id,
        child_name=child.name,
        from_institution_id=sender.id or 0,
        to_institution_id=receiver.id or 0,
        from_province_code=sender.province_code,
        from_city_code=sender.city_code,
        from_county_code=sender.county_code,
        to_province_code=receiver.province_code,
        to_city_code=receiver.city_code,
        to_county_code=receiver.county_code,
        counties_review=counties,
        class_id=school_class.id,
        reason=reason,
        started_on=today,
        due_date=add_working_days(today, get_settings().transfer_days),
        started_by=actor.user_id,
    )
    try:
        with session.begin_nested():
            session.add(transfer)
            session.flush()
    except IntegrityError:  # someone started one for this child a moment ago
        raise ServiceError("该幼儿已有一个正在办理的转园，不能重复发起。") from None
    assert transfer.id is not None
    request = workflow.submit(
        session,
        actor,
        kind=KIND_OUT,
        institution=sender,
        subject_type="transfer",
        subject_id=transfer.id,
        title=f"转园：{child.name}（{sender.name} → {receiver.name}）",
        payload={
            "transfer_id": transfer.id,
            "child_id": child.id,
            "from": sender.name,
            "to": receiver.name,
            "reason": reason,
            "student_number": crypto.mask(children.number_of(child), 7, 4),
        },
        today=today,
        skip=() if counties else ("out_county",),
    )
    transfer.out_request_id = request.id
    session.add(transfer)
    audit.record(
        session,
        actor,
        "transfer_start",
        object_type="transfer",
        object_id=transfer.id,
        detail=f"{child.name}：{sender.name} → {receiver.name}；{reason}",
    )
    return transfer.id


# --- the two requests -----------------------------------------------------------------------------


def _guard(session: Session, request: Request) -> None:
    transfer = _transfer_of(session, request)
    if transfer.state not in OPEN:
        raise ServiceError(f"该转园已{STATE_LABELS[transfer.state]}，不能再办理。")
    if transfer.due_date < workflow.local_today():
        raise ServiceError(
            f"该转园已超过 {get_settings().transfer_days} 个工作日的办理期限（{transfer.due_date}），已失效；"
            "如仍需转园，请由转入园重新发起。"
        )


def _out_apply(session: Session, request: Request, actor: Actor) -> None:
    """The sending side agreed (and its county, when it reviews): the receiving side's request opens."""
    transfer = _transfer_of(session, request)
    child = session.get(Child, transfer.child_id)
    if child is None or child.state != "approved" or child.institution_id != transfer.from_institution_id:
        raise ServiceError("该幼儿的记录已变化，不能继续转园，请驳回。")
    receiver = session.get(Institution, transfer.to_institution_id)
    assert receiver is not None and transfer.id is not None
    in_request = workflow.submit(
        session,
        actor,
        kind=KIND_IN,
        institution=receiver,
        subject_type="transfer",
        subject_id=transfer.id,
        title=request.title,
        payload={**json.loads(request.payload), "class_id": transfer.class_id},
        skip=() if transfer.counties_review else ("in_county",),
    )
    transfer.in_request_id = in_request.id
    _sync_state(session, transfer, in_request)
    audit.record(session, actor, "transfer_agree", object_type="transfer", object_id=transfer.id, detail=child.name)


def _in_apply(session: Session, request: Request, actor: Actor) -> None:
    """The receiver completes: the record moves with its number, its id and its history."""
    transfer = _transfer_of(session, request)
    child = session.get(Child, transfer.child_id)
    receiver = session.get(Institution, transfer.to_institution_id)
    assert receiver is not None
    if child is None or child.state != "approved" or child.institution_id != transfer.from_institution_id:
        raise ServiceError("该幼儿的记录已变化，不能完成转园。")
    school_class = _class_of(session, receiver, json.loads(request.payload).get("class_id"), workflow.local_today())
    before = {"institution_id": child.institution_id, "class_id": child.class_id, "county_code": child.county_code}
    child.institution_id = receiver.id or 0
    child.class_id = school_class.id
    child.province_code = receiver.province_code
    child.city_code = receiver.city_code
    child.county_code = receiver.county_code
    child.township_code = receiver.township_code
    child.updated_at = utcnow()
    child.version += 1
    session.add(child)
    transfer.class_id = school_class.id
    _close(session, transfer, "completed", actor.real_name, "")
    audit.record(
        session,
        actor,
        "transfer_complete",
        object_type="child",
        object_id=child.id or "",
        before=before,
        after={"institution_id": child.institution_id, "class_id": child.class_id, "county_code": child.county_code},
        detail=f"{child.name}转入{receiver.name}（{school_class.name}），学籍号不变",
    )


def _on_return(session: Session, request: Request) -> None:
    """Refused at a step (the sending institution or a county returned it): the transfer closes."""
    transfer = _transfer_of(session, request)
    session.flush()
    event = workflow.events_of(session, request)[-1]  # the return just recorded
    step = workflow.workflow_for(request.kind).step(event.step_key).label
    _close(session, transfer, "refused", event.real_name, f"{step}：{event.reason}")


def _after_step(session: Session, request: Request) -> None:
    _sync_state(session, _transfer_of(session, request), request)


def _diff(detail: workflow.RequestDetail) -> list[tuple[str, str, str]]:
    payload = detail.payload
    return [
        ("学籍号", "", str(payload.get("student_number", ""))),
        ("转出园", "", str(payload.get("from", ""))),
        ("转入园", "", str(payload.get("to", ""))),
        ("转园原因", "", str(payload.get("reason", ""))),
    ]


def _step_days() -> int:
    return get_settings().transfer_step_days


workflow.register(
    Workflow(
        kind=KIND_OUT,
        label="转园（转出）",
        steps=(
            Step(
                "sender_agree",
                "转出园同意",
                Level.INSTITUTION,
                _step_days(),
                duties=frozenset({Duty.ENTRY, Duty.REVIEWER}),
            ),
            Step("out_county", "转出地县级审核", Level.COUNTY, _step_days()),
        ),
        apply=_out_apply,
        diff=_diff,
        on_return=_on_return,
        guard=_guard,
        on_step=_after_step,
    )
)
workflow.register(
    Workflow(
        kind=KIND_IN,
        label="转园（转入）",
        steps=(
            Step("in_county", "转入地县级审核", Level.COUNTY, _step_days()),
            Step("receiver", "转入园办理", Level.INSTITUTION, _step_days(), duties=frozenset({Duty.ENTRY})),
        ),
        apply=_in_apply,
        diff=_diff,
        on_return=_on_return,
        guard=_guard,
        on_step=_after_step,
    )
)


# --- the parties' actions -------------------------------------------------------------------------


def _own_transfer(session: Session, actor: Actor, transfer_id: int, side: str) -> Transfer:
    institution = children.own_institution(session, actor)
    transfer = session.get(Transfer, transfer_id)
    own_side = None
    if transfer is not None:
        own_side = transfer.from_institution_id if side == "from" else transfer.to_institution_id
    if transfer is None or own_side != institution.id:
        raise NotFound("转园记录不存在。")
    return transfer


def _request_id(actor: Actor, transfer_id: int, side: str, state: str) -> int:
    with db.session_scope() as session:
        transfer = _own_transfer(session, actor, transfer_id, side)
        if transfer.state != state:
            raise ServiceError(f"该转园当前{STATE_LABELS[transfer.state]}，不是您办理的步骤。")
        request_id = transfer.out_request_id if side == "from" else transfer.in_request_id
        assert request_id is not None
        return request_id


def agree(actor: Actor, transfer_id: int, *, today: date | None = None) -> None:
    """The sending institution agrees to let the child go."""
    workflow.decide(actor, _request_id(actor, transfer_id, "from", "sender"), "approve", today=today)


def refuse(actor: Actor, transfer_id: int, reason: str) -> None:
    """The sending institution refuses, with a reason; the transfer closes as refused."""
    if not (reason or "").strip():
        raise ValidationError({"reason": "拒绝转园必须填写理由。"})
    check_text(reason.strip(), field="reason", label="拒绝理由", max_length=200)
    workflow.decide(actor, _request_id(actor, transfer_id, "from", "sender"), "return", reason)


def complete(actor: Actor, transfer_id: int, class_id: int | None) -> None:
    """The receiving institution completes the transfer into one of its classes of this year."""
    if not class_id:
        raise ValidationError({"class_id": "请选择转入的班级。"})
    request_id = _request_id(actor, transfer_id, "to", "receiver")
    workflow.decide(actor, request_id, "approve", add_to_payload={"class_id": int(class_id)})


def cancel(actor: Actor, transfer_id: int, reason: str) -> None:
    """The receiving institution withdraws a transfer it started, while it is open."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "撤销转园必须填写理由。"})
    check_text(reason, field="reason", label="撤销理由", max_length=200)
    with db.session_scope(write=True) as session:
        transfer = _own_transfer(session, actor, transfer_id, "to")
        if transfer.state not in OPEN:
            raise ServiceError(f"该转园已{STATE_LABELS[transfer.state]}，不能撤销。")
        _withdraw_open_requests(session, transfer, actor, reason)
        _close(session, transfer, "cancelled", actor.real_name, reason)
        audit.record(
            session,
            actor,
            "transfer_cancel",
            object_type="transfer",
            object_id=transfer_id,
            detail=f"{transfer.child_name}：{reason}",
        )


def expire_transfers(today: date | None = None) -> int:
    """Close the open transfers past their whole deadline (expired), withdrawing their open
    request; returns how many. Run when a transfer list opens and by ``python -m portal
    transfers expire`` (cron)."""
    today = today or workflow.local_today()
    reason = f"超过 {get_settings().transfer_days} 个工作日未办结，系统自动终止"
    count = 0
    lapsed = select(Transfer.id).where(col(Transfer.state).in_(OPEN), col(Transfer.due_date) < today)
    with db.session_scope() as session:  # the usual case, nothing lapsed: no write lock taken
        if session.exec(lapsed.limit(1)).first() is None:
            return 0
    with db.session_scope(write=True) as session:
        due = session.exec(select(Transfer).where(col(Transfer.state).in_(OPEN), col(Transfer.due_date) < today)).all()
        for transfer in due:
            _withdraw_open_requests(session, transfer, SYSTEM_ACTOR, reason)
            _close(session, transfer, "expired", "系统", reason)
            audit.record(
                session,
                SYSTEM_ACTOR,
                "transfer_expire",
                object_type="transfer",
                object_id=transfer.id or "",
                detail=f"{transfer.child_name}：{reason}（期限 {transfer.due_date}）",
                region_codes=(transfer.to_province_code, transfer.to_city_code, transfer.to_county_code),
            )
            count += 1
    return count


# --- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransferRow:
    id: int
    child_id: int
    child_name: str
    student_number: str  # masked
    from_name: str
    to_name: str
    direction: str  # 转入 / 转出 for an institution; "" for a bureau
    state: str
    state_label: str
    step_due: date | None
    due_date: date
    days_left: int | None  # working days to the whole deadline, while open
    overdue: bool  # a step past its deadline, or the whole transfer past it (open only)
    counties_review: bool
    reason: str
    class_id: int | None
    started_on: date
    closed_reason: str


def _scope(actor: Actor) -> Any:
    match actor.level:
        case Level.MINISTRY:
            return true()
        case Level.PROVINCE:
            return or_(
                Transfer.from_province_code == actor.province_code, Transfer.to_province_code == actor.province_code
            )
        case Level.CITY:
            return or_(Transfer.from_city_code == actor.city_code, Transfer.to_city_code == actor.city_code)
        case Level.COUNTY:
            return or_(Transfer.from_county_code == actor.county_code, Transfer.to_county_code == actor.county_code)
        case Level.INSTITUTION:
            return or_(
                Transfer.from_institution_id == actor.institution_id, Transfer.to_institution_id == actor.institution_id
            )
    return col(Transfer.id) < 0  # the township has no part in transfers


def _rows(session: Session, actor: Actor, transfers: Sequence[Transfer], today: date) -> list[TransferRow]:
    ids = {t.from_institution_id for t in transfers} | {t.to_institution_id for t in transfers}
    names = dict(session.exec(select(Institution.id, Institution.name).where(col(Institution.id).in_(ids))).all())
    child_ids = {t.child_id for t in transfers}
    numbers = {
        c.id: crypto.mask(children.number_of(c), 7, 4)
        for c in session.exec(select(Child).where(col(Child.id).in_(child_ids))).all()
    }
    request_ids = [r for t in transfers for r in (t.out_request_id, t.in_request_id) if r]
    pending = {
        r.id: r.due_date
        for r in session.exec(select(Request).where(col(Request.id).in_(request_ids), Request.state == "pending")).all()
    }
    rows = []
    for t in transfers:
        step_due = pending.get(t.in_request_id) or pending.get(t.out_request_id)
        is_open = t.state in OPEN
        direction = ""
        if actor.level is Level.INSTITUTION:
            direction = "转入" if t.to_institution_id == actor.institution_id else "转出"
        rows.append(
            TransferRow(
                id=t.id or 0,
                child_id=t.child_id,
                child_name=t.child_name,
                student_number=numbers.get(t.child_id, ""),
                from_name=names.get(t.from_institution_id, ""),
                to_name=names.get(t.to_institution_id, ""),
                direction=direction,
                state=t.state,
                state_label=STATE_LABELS[t.state],
                step_due=step_due if is_open else None,
                due_date=t.due_date,
                days_left=working_days_left(today, t.due_date) if is_open else None,
                overdue=is_open and (t.due_date < today or (step_due is not None and step_due < today)),
                counties_review=t.counties_review,
                reason=t.reason,
                class_id=t.class_id,
                started_on=t.started_on,
                closed_reason=t.closed_reason,
            )
        )
    return rows


def list_transfers(
    actor: Actor,
    *,
    states: Sequence[str] | None = None,
    overdue_only: bool = False,
    limit: int = 200,
    today: date | None = None,
) -> list[TransferRow]:
    """The transfers the actor takes part in or oversees (an institution: its own both ways; a
    county, city or province: those with either side in its region), newest first; overdue ones
    first when asked. Expired ones are closed first, so the list never shows a lapsed transfer as
    open."""
    if actor.level is Level.INSTITUTION:
        require(actor, Action.MANAGE_CHILDREN)
    else:
        require(actor, Action.VIEW_CHILDREN)
    today = today or workflow.local_today()
    expire_transfers(today)
    with db.session_scope() as session:
        query = select(Transfer).where(_scope(actor))
        if states:
            query = query.where(col(Transfer.state).in_(states))
        if overdue_only:
            query = query.where(col(Transfer.state).in_(OPEN))
        found = session.exec(query.order_by(col(Transfer.id).desc()).limit(limit)).all()
        rows = _rows(session, actor, found, today)
    if overdue_only:
        rows = [r for r in rows if r.overdue]
    return rows


def overdue_transfers(actor: Actor, *, today: date | None = None) -> list[TransferRow]:
    """The open transfers in the actor's region with a step past its deadline (the counties on both
    sides are told)."""
    return list_transfers(actor, overdue_only=True, today=today)


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    step: str
    action: str
    who: str
    reason: str


def transfer_history(actor: Actor, transfer_id: int) -> list[HistoryEntry]:
    """Every step of one transfer, from both requests, oldest first (a cancel or an expiry is the
    withdrawal of the request that was open)."""
    with db.session_scope() as session:
        transfer = session.exec(select(Transfer).where(Transfer.id == transfer_id, _scope(actor))).first()
        if transfer is None:
            raise NotFound("转园记录不存在，或不在您的管辖范围内。")
        entries: list[HistoryEntry] = []
        for request_id in (transfer.out_request_id, transfer.in_request_id):
            request = session.get(Request, request_id) if request_id else None
            if request is None:
                continue
            wf = workflow.workflow_for(request.kind)
            for event in workflow.events_of(session, request):
                step = next((s.label for s in wf.steps if s.key == event.step_key), event.step_key)
                entries.append(
                    HistoryEntry(
                        at=event.at,
                        step=step,
                        action=workflow.ACTION_LABELS.get(event.action, event.action),
                        who=f"{event.real_name}（{event.role}）" if event.role else event.real_name,
                        reason=event.reason,
                    )
                )
        return sorted(entries, key=lambda e: e.at)
