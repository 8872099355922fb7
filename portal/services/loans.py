"""Lending a password (§18.3 of the Rules), as the rules allow it.

The owner asks, naming whom the account is lent to, why and until when; a security administrator
of the owner's level or above, in scope, approves or refuses. While an approved loan is in force,
every session that logs in to the account carries the loan, and every audit row of such a session
is tagged with it. When the loan ends (its time runs out, or the owner or an administrator ends
it), every session of the account ends and the password must be changed before the next use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.policy import Action, require, scope_filter
from portal.clock import format_local, utcnow
from portal.data import db
from portal.data.models import PasswordLoan, User
from portal.services import audit
from portal.services.errors import ServiceError, ValidationError
from portal.services.security_policy import current_policy

STATE_LABELS = {"requested": "待审批", "approved": "已批准", "refused": "未批准", "ended": "已结束"}
PHONE_CHARS = set("0123456789+- ")


@dataclass(frozen=True)
class LoanRow:
    id: int
    owner_username: str
    owner_real_name: str
    borrower_name: str
    borrower_phone: str
    reason: str
    starts_at: datetime
    ends_at: datetime
    state: str
    state_label: str
    decision_note: str


def _row(loan: PasswordLoan, owner: User) -> LoanRow:
    return LoanRow(
        id=loan.id or 0,
        owner_username=owner.username,
        owner_real_name=owner.real_name,
        borrower_name=loan.borrower_name,
        borrower_phone=loan.borrower_phone,
        reason=loan.reason,
        starts_at=loan.starts_at,
        ends_at=loan.ends_at,
        state=loan.state,
        state_label=STATE_LABELS.get(loan.state, loan.state),
        decision_note=loan.decision_note,
    )


def request_loan(
    actor: Actor,
    *,
    borrower_name: str,
    borrower_phone: str,
    reason: str,
    ends_at: datetime,
    starts_at: datetime | None = None,
) -> int:
    """The owner asks to lend their password. Returns the loan's id."""
    now = utcnow()
    starts = starts_at or now
    errors: dict[str, str] = {}
    name, phone, why = borrower_name.strip(), borrower_phone.strip(), reason.strip()
    if not name or len(name) > 64 or not name.isprintable():
        errors["borrower_name"] = "请填写借用人的真实姓名（不超过 64 个字）。"
    if phone and (len(phone) > 20 or not set(phone) <= PHONE_CHARS):
        errors["borrower_phone"] = "借用人联系电话格式不正确。"
    if len(why) < 4 or len(why) > 500:
        errors["reason"] = "请写明借用事由（4–500 个字）。"
    max_days = current_policy().loan_max_days
    if ends_at <= starts or ends_at <= now:
        errors["ends_at"] = "借用结束时间须晚于开始时间和当前时间。"
    elif ends_at - starts > timedelta(days=max_days):
        errors["ends_at"] = f"借用期限不能超过 {max_days} 天。"
    if errors:
        raise ValidationError(errors)
    with db.session_scope(write=True) as session:
        owner = session.get(User, actor.user_id)
        if owner is None or not owner.is_active:
            raise ServiceError("账户不存在或已停用。")
        open_loan = session.exec(
            select(PasswordLoan).where(
                PasswordLoan.user_id == owner.id, col(PasswordLoan.state).in_(["requested", "approved"])
            )
        ).first()
        if open_loan is not None:
            raise ServiceError("您已有一项待审批或进行中的密码借用，请先结束它。")
        loan = PasswordLoan(
            user_id=owner.id or 0,
            borrower_name=name,
            borrower_phone=phone,
            reason=why,
            starts_at=starts,
            ends_at=ends_at,
            requested_at=now,
            province_code=owner.province_code,
            city_code=owner.city_code,
            county_code=owner.county_code,
            township_code=owner.township_code,
            institution_id=owner.institution_id,
        )
        session.add(loan)
        session.flush()
        audit.record(
            session,
            actor,
            "loan_request",
            object_type="loan",
            object_id=loan.id or "",
            after={"borrower": name, "reason": why, "starts_at": starts, "ends_at": ends_at},
        )
        return loan.id or 0


def _loan_and_owner(session: Session, loan_id: int) -> tuple[PasswordLoan, User]:
    loan = session.get(PasswordLoan, loan_id)
    owner = session.get(User, loan.user_id) if loan else None
    if loan is None or owner is None:
        raise ServiceError("该借用申请不存在。")
    return loan, owner


def decide_loan(actor: Actor, loan_id: int, approve: bool, note: str = "") -> None:
    """A security administrator approves or refuses a request (a refusal needs a reason)."""
    now = utcnow()
    if not approve and not note.strip():
        raise ValidationError({"note": "不批准须写明理由。"})
    with db.session_scope(write=True) as session:
        loan, owner = _loan_and_owner(session, loan_id)
        require(actor, Action.APPROVE_LOAN, owner)
        if loan.state != "requested":
            raise ServiceError(f"该申请{STATE_LABELS.get(loan.state, loan.state)}，不能再审批。")
        if approve and loan.ends_at <= now:
            raise ServiceError("申请的借用期限已过，不能批准。")
        loan.state = "approved" if approve else "refused"
        loan.decided_by, loan.decided_at, loan.decision_note = actor.user_id, now, note.strip()[:500]
        session.add(loan)
        audit.record(
            session,
            actor,
            "loan_approve" if approve else "loan_refuse",
            object_type="loan",
            object_id=loan_id,
            detail=f"{owner.username} 借给 {loan.borrower_name}，至 {format_local(loan.ends_at)}；{note.strip()}"[:500],
        )


def _end(session: Session, actor: Actor, loan: PasswordLoan, owner: User, now: datetime, why: str) -> None:
    loan.state, loan.ended_at = "ended", now
    owner.must_change_password = True  # changed before the next use
    owner.session_version += 1  # the borrower's sessions (and the owner's) end now
    session.add(loan)
    session.add(owner)
    audit.record(
        session,
        actor,
        "loan_end",
        object_type="loan",
        object_id=loan.id or "",
        detail=why,
        region_codes=(owner.province_code, owner.city_code, owner.county_code),
    )


def end_loan(actor: Actor, loan_id: int) -> None:
    """The owner, or an approving administrator, ends a loan (or withdraws a request)."""
    now = utcnow()
    with db.session_scope(write=True) as session:
        loan, owner = _loan_and_owner(session, loan_id)
        if owner.id != actor.user_id:
            require(actor, Action.APPROVE_LOAN, owner)
        if loan.state == "requested":
            loan.state, loan.ended_at = "ended", now
            session.add(loan)
            audit.record(session, actor, "loan_end", object_type="loan", object_id=loan_id, detail="撤回借用申请")
            return
        if loan.state != "approved":
            raise ServiceError("该借用已经结束。")
        _end(session, actor, loan, owner, now, "提前结束借用" if loan.ends_at > now else "借用到期")


def end_due_loans(session: Session, user_id: int | None = None, now: datetime | None = None) -> int:
    """End the approved loans whose time ran out (of one user, or all): inside ``session``."""
    now = now or utcnow()
    query = select(PasswordLoan).where(PasswordLoan.state == "approved", col(PasswordLoan.ends_at) <= now)
    if user_id is not None:
        query = query.where(PasswordLoan.user_id == user_id)
    ended = 0
    for loan in session.exec(query).all():
        owner = session.get(User, loan.user_id)
        if owner is not None:
            _end(session, SYSTEM_ACTOR, loan, owner, now, "借用到期，密码须修改后方可使用")
            ended += 1
    return ended


def loan_in_force(session: Session, user_id: int, now: datetime | None = None) -> int | None:
    """The id of the approved loan in force for the account now, if any."""
    now = now or utcnow()
    return session.exec(
        select(PasswordLoan.id).where(
            PasswordLoan.user_id == user_id,
            PasswordLoan.state == "approved",
            col(PasswordLoan.starts_at) <= now,
            col(PasswordLoan.ends_at) > now,
        )
    ).first()


def loan_still_in_force(loan_id: int, now: datetime | None = None) -> bool:
    """For a session carrying a loan: is it still approved and in time?"""
    now = now or utcnow()
    with db.session_scope() as session:
        loan = session.get(PasswordLoan, loan_id)
        return loan is not None and loan.state == "approved" and loan.ends_at > now


def my_loans(actor: Actor) -> list[LoanRow]:
    """The owner's own loans, newest first."""
    with db.session_scope() as session:
        owner = session.get(User, actor.user_id)
        if owner is None:
            return []
        loans = session.exec(
            select(PasswordLoan).where(PasswordLoan.user_id == owner.id).order_by(col(PasswordLoan.id).desc())
        ).all()
        return [_row(loan, owner) for loan in loans]


def loans_to_decide(actor: Actor, *, include_closed: bool = False, limit: int = 200) -> Sequence[LoanRow]:
    """The loans a security administrator oversees: requests first, then those in force."""
    require(actor, Action.APPROVE_LOAN)
    states = ["requested", "approved"] + (["refused", "ended"] if include_closed else [])
    with db.session_scope() as session:
        pairs = session.exec(
            select(PasswordLoan, User)
            .join(User, col(User.id) == col(PasswordLoan.user_id))
            .where(scope_filter(actor, PasswordLoan), col(PasswordLoan.state).in_(states))
            .order_by(col(PasswordLoan.id).desc())
            .limit(limit)
        ).all()
        from portal.auth.policy import may

        rows = [_row(loan, owner) for loan, owner in pairs if may(actor, Action.APPROVE_LOAN, owner)]
    order = {"requested": 0, "approved": 1}
    return sorted(rows, key=lambda r: (order.get(r.state, 2), -r.id))
