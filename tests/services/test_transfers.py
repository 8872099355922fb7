"""Transfers (转园, §27.3): the receiver starts with number and name, the sender agrees or refuses,
the counties review across counties, the receiver completes into a class; one open transfer per
child, deadlines in working days, cancel and expiry recorded, the record's history kept."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import col, func, select

from portal.auth.actor import Actor
from portal.auth.roles import Level
from portal.data import db
from portal.data.models import AuditLog, Child, Request, Transfer
from portal.services import children, history, key_changes, leaving, transfers, workflow, yearly
from portal.services.errors import NotFound, ServiceError, ValidationError
from portal.services.workdays import add_working_days
from tests.factories import clerk_of, resident_id, reviewer_of, with_class
from tests.services.test_children import approve_all, enter, stored

PDF = b"%PDF-1.4\n%%EOF\n"
SAME_COUNTY = "4101220004"  # 中牟县实验幼儿园, the same county as the demo clerk's 小庙王村幼儿园
OTHER_COUNTY = "4101020001"  # 郑州市中原区伊河路幼儿园


def numbered(actors: dict[str, Actor], **changes: object) -> tuple[int, str]:
    """A child approved and numbered at the demo clerk's institution: (id, student number)."""
    clerk = actors["clerk"]
    if not children.list_classes(clerk):
        with_class(clerk)
    child_id = enter(clerk, **changes)
    children.submit_children(clerk, [child_id])
    approve_all(actors["county"])
    return child_id, children.number_of(stored(child_id))


def receiver_with_class(code: str) -> tuple[Actor, int]:
    clerk = clerk_of(code)
    return clerk, with_class(clerk, "中二班", "中班").id


def transfer_row(actor: Actor, transfer_id: int) -> transfers.TransferRow:
    return next(r for r in transfers.list_transfers(actor) if r.id == transfer_id)


def count(model: type) -> int:
    with db.session_scope() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_a_transfer_within_a_county_moves_the_record_with_its_number(actors: dict[str, Actor]) -> None:
    sender = actors["clerk"]
    child_id, number = numbered(actors)
    receiver, class_id = receiver_with_class(SAME_COUNTY)
    transfer_id = transfers.start_transfer(receiver, number.lower(), "李小明", class_id, "随父母搬家")
    row = transfer_row(receiver, transfer_id)
    assert (row.state, row.direction, row.counties_review) == ("sender", "转入", False)
    assert row.student_number.startswith(number[:7]) and "*" in row.student_number  # masked
    assert transfer_row(sender, transfer_id).direction == "转出"
    # Out of turn: the receiver cannot complete before the sender agreed, nor agree for it.
    with pytest.raises(ServiceError, match="不是您办理的步骤"):
        transfers.complete(receiver, transfer_id, class_id)
    with pytest.raises(NotFound):
        transfers.agree(receiver, transfer_id)
    transfers.agree(sender, transfer_id)
    assert transfer_row(receiver, transfer_id).state == "receiver"  # no county step within a county
    # A class of another institution is refused, and nothing moves.
    with pytest.raises(ValidationError, match="本园的班级"):
        transfers.complete(receiver, transfer_id, children.list_classes(sender)[0].id)
    assert stored(child_id).institution_id == sender.institution_id
    transfers.complete(receiver, transfer_id, class_id)
    moved = stored(child_id)
    assert (moved.institution_id, moved.class_id, moved.state) == (receiver.institution_id, class_id, "approved")
    assert children.number_of(moved) == number
    assert transfer_row(receiver, transfer_id).state == "completed"
    assert child_id in [r.id for r in children.list_children(receiver).rows]
    assert child_id not in [r.id for r in children.list_children(sender).rows]
    steps = [(e.step, e.action) for e in transfers.transfer_history(receiver, transfer_id)]
    assert steps == [
        ("转出园同意", "提交"),
        ("转出园同意", "审核通过"),
        ("转入园办理", "提交"),
        ("转入园办理", "审核通过"),
    ]


def test_a_transfer_between_two_counties_is_reviewed_by_both(actors: dict[str, Actor]) -> None:
    sender, sender_county = actors["clerk"], actors["county"]
    child_id, number = numbered(actors)
    with db.session_scope() as session:
        record_requests = session.exec(
            select(Request.id).where(Request.subject_type == "child", Request.subject_id == str(child_id))
        ).all()
    receiver, class_id = receiver_with_class(OTHER_COUNTY)
    receiver_county = reviewer_of(Level.COUNTY, "410102")
    transfer_id = transfers.start_transfer(receiver, number, "李小明", class_id, "父母工作调动至中原区")
    assert transfer_row(receiver_county, transfer_id).counties_review
    transfers.agree(sender, transfer_id)
    assert transfer_row(sender_county, transfer_id).state == "out_county"
    # The receiving county neither sees nor may decide the sending county's step.
    assert not workflow.queue(receiver_county, kind=transfers.KIND_OUT).rows
    out_request = workflow.queue(sender_county, kind=transfers.KIND_OUT).rows[0].id
    with pytest.raises(NotFound):
        workflow.decide(receiver_county, out_request, "approve")
    workflow.decide(sender_county, out_request, "approve")
    assert transfer_row(receiver, transfer_id).state == "in_county"
    with pytest.raises(ServiceError, match="不是您办理的步骤"):
        transfers.complete(receiver, transfer_id, class_id)
    assert not workflow.queue(sender_county, kind=transfers.KIND_IN).rows
    in_request = workflow.queue(receiver_county, kind=transfers.KIND_IN).rows[0].id
    workflow.decide(receiver_county, in_request, "approve")
    transfers.complete(receiver, transfer_id, class_id)
    moved = stored(child_id)
    assert (moved.institution_id, moved.county_code, moved.city_code) == (receiver.institution_id, "410102", "410100")
    assert children.number_of(moved) == number and moved.student_number_kind == "G"
    # History intact: the same record (id), its review requests and their events still there,
    # every step of the transfer recorded, the move audited with before and after.
    with db.session_scope() as session:
        assert (
            session.exec(
                select(Request.id).where(Request.subject_type == "child", Request.subject_id == str(child_id))
            ).all()
            == record_requests
        )
        moves = session.exec(select(AuditLog).where(AuditLog.action == "transfer_complete")).all()
    assert len(moves) == 1 and '"county_code": "410122"' in moves[0].before
    steps = [(e.step, e.action) for e in transfers.transfer_history(sender_county, transfer_id)]
    assert steps == [
        ("转出园同意", "提交"),
        ("转出园同意", "审核通过"),
        ("转出地县级审核", "审核通过"),
        ("转入地县级审核", "提交"),
        ("转入地县级审核", "审核通过"),
        ("转入园办理", "审核通过"),
    ]
    # The record's history, seen from its new kindergarten: entered and approved at the old one,
    # then the transfer.
    kinds = [(e.kind_label, e.action) for e in history.child_history(receiver, child_id)]
    assert kinds[:2] == [("幼儿信息审核", "提交"), ("幼儿信息审核", "审核通过")]
    assert kinds[-1] == ("转园（转入）", "审核通过") and len(kinds) == 8
    # The new county sees the child; the old one no longer does.
    assert child_id in [r.id for r in children.list_children(receiver_county).rows]
    assert child_id not in [r.id for r in children.list_children(sender_county).rows]


def test_a_mismatch_is_refused_without_saying_who_the_child_is(actors: dict[str, Actor]) -> None:
    clerk = actors["clerk"]
    child_id, number = numbered(actors)
    saved = enter(clerk, name="王小红", gender="女", sequence=2)  # entered, not numbered
    receiver, class_id = receiver_with_class(SAME_COUNTY)
    messages = set()
    for trial_number, name in (
        (number, "李小名"),  # a wrong name
        ("G" + resident_id(sequence=7), "李小明"),  # nobody's number
    ):
        with pytest.raises(ServiceError) as refused:
            transfers.start_transfer(receiver, trial_number, name, class_id, "迁居")
        messages.add(str(refused.value))
    assert messages == {transfers.MISMATCH} and "李小明" not in transfers.MISMATCH
    assert stored(saved).student_number_hash is None
    with pytest.raises(ValidationError) as bad:
        transfers.start_transfer(receiver, "12345", "", None, "")
    assert set(bad.value.errors) == {"student_number", "name", "reason", "class_id"}
    with pytest.raises(ServiceError, match="已在本园"):
        transfers.start_transfer(clerk, number, "李小明", children.list_classes(clerk)[0].id, "迁居")
    assert count(Transfer) == 0 and count(Request) == len(workflow.queue(actors["county"]).rows) + 1
    with db.session_scope() as session:
        assert session.exec(select(func.count()).where(AuditLog.action == "transfer_mismatch")).one() == 2
    assert stored(child_id).institution_id == clerk.institution_id


def test_one_open_transfer_per_child_and_the_sender_cannot_drop_the_child(actors: dict[str, Actor]) -> None:
    sender = actors["clerk"]
    child_id, number = numbered(actors)
    receiver, class_id = receiver_with_class(SAME_COUNTY)
    transfers.start_transfer(receiver, number, "李小明", class_id, "迁居")
    second, second_class = receiver_with_class(OTHER_COUNTY)
    with pytest.raises(ServiceError, match="已有一个正在办理的转园"):
        transfers.start_transfer(second, number, "李小明", second_class, "迁居")
    assert children.get_child(sender, child_id).transfer_note.startswith(
        "正在办理转园：转往中牟县实验幼儿园（待转出园同意"
    )
    with pytest.raises(ServiceError, match="正在办理转园"):
        leaving.request_leave(sender, child_id, "left", date.today(), "家长要求退园")
    with pytest.raises(ServiceError, match="正在办理转园"):
        key_changes.request_key_change(sender, child_id, {"name": "李晓明"}, "更正姓名", [("申请.pdf", PDF)])
    assert count(Transfer) == 1 and stored(child_id).state == "approved"


def test_graduation_waits_for_an_open_transfer(actors: dict[str, Actor]) -> None:
    sender = actors["clerk"]
    with_class(sender, "大一班", "大班")
    child_id, number = numbered(actors, class_name="大一班", birth=date(2020, 3, 15))
    receiver, class_id = receiver_with_class(SAME_COUNTY)
    transfers.start_transfer(receiver, number, "李小明", class_id, "迁居")
    row = next(r for r in yearly.graduation_preview(sender) if r.child_id == child_id)
    assert not row.eligible and "转园" in row.reason
    with pytest.raises(ServiceError, match="转园"):
        yearly.apply_graduation(sender, [child_id])
    assert stored(child_id).state == "approved"


def test_the_sender_refuses_with_a_reason_and_the_child_can_be_asked_for_again(actors: dict[str, Actor]) -> None:
    sender = actors["clerk"]
    _, number = numbered(actors)
    receiver, class_id = receiver_with_class(SAME_COUNTY)
    transfer_id = transfers.start_transfer(receiver, number, "李小明", class_id, "迁居")
    with pytest.raises(ValidationError):
        transfers.refuse(sender, transfer_id, "  ")
    transfers.refuse(sender, transfer_id, "家长未办理退费手续，请先与本园联系")
    row = transfer_row(receiver, transfer_id)
    assert row.state == "refused" and row.closed_reason == "转出园同意：家长未办理退费手续，请先与本园联系"
    with pytest.raises(ServiceError, match="不是您办理的步骤"):
        transfers.agree(sender, transfer_id)
    again = transfers.start_transfer(receiver, number, "李小明", class_id, "手续已办妥，再次申请")
    assert transfer_row(receiver, again).state == "sender"


def test_the_receiver_cancels_and_the_requests_are_withdrawn(actors: dict[str, Actor]) -> None:
    sender = actors["clerk"]
    _, number = numbered(actors)
    receiver, class_id = receiver_with_class(SAME_COUNTY)
    transfer_id = transfers.start_transfer(receiver, number, "李小明", class_id, "迁居")
    with pytest.raises(NotFound):
        transfers.cancel(sender, transfer_id, "不是发起方")
    with pytest.raises(ValidationError):
        transfers.cancel(receiver, transfer_id, "")
    transfers.cancel(receiver, transfer_id, "家长改变主意")
    assert transfer_row(sender, transfer_id).state == "cancelled"
    with db.session_scope() as session:
        states = session.exec(select(Request.state).where(Request.kind == transfers.KIND_OUT)).all()
    assert states == ["withdrawn"]
    with pytest.raises(ServiceError):
        transfers.agree(sender, transfer_id)
    history = transfers.transfer_history(receiver, transfer_id)
    assert [(e.action, e.reason) for e in history][-1] == ("撤销", "家长改变主意")


def test_a_transfer_past_thirty_working_days_expires(actors: dict[str, Actor]) -> None:
    sender, county = actors["clerk"], actors["county"]
    _, number = numbered(actors)
    receiver, class_id = receiver_with_class(SAME_COUNTY)
    started = workflow.local_today() - timedelta(days=60)
    transfer_id = transfers.start_transfer(receiver, number, "李小明", class_id, "迁居", today=started)
    with db.session_scope() as session:
        assert session.get(Transfer, transfer_id).due_date == add_working_days(started, 30)  # type: ignore[union-attr]
    # Deciding a lapsed transfer is refused even before the expiry is written down.
    with pytest.raises(ServiceError, match="已超过 30 个工作日"):
        transfers.agree(sender, transfer_id)
    assert transfer_row(county, transfer_id).state == "expired"  # listing closes it
    with db.session_scope() as session:
        assert session.exec(select(Request.state).where(Request.kind == transfers.KIND_OUT)).one() == "withdrawn"
        assert session.exec(select(func.count()).where(AuditLog.action == "transfer_expire")).one() == 1
    assert transfers.expire_transfers() == 0  # once only
    assert transfers.start_transfer(receiver, number, "李小明", class_id, "重新申请")


def test_deadlines_count_working_days_over_the_national_day_holiday(actors: dict[str, Actor]) -> None:
    _, number = numbered(actors)
    receiver, class_id = receiver_with_class(SAME_COUNTY)
    # 29 September 2026: 30 September is a working day, 1–7 October the National Day holiday,
    # Saturday 10 October a make-up working day. Five working days end on Monday 12 October.
    transfers.start_transfer(receiver, number, "李小明", class_id, "迁居", today=date(2026, 9, 29))
    with db.session_scope() as session:
        request = session.exec(select(Request).where(Request.kind == transfers.KIND_OUT)).one()
        transfer = session.exec(select(Transfer)).one()
    assert request.due_date == date(2026, 10, 12)
    # Thirty: 4 days to 10 October, then 5 a week for five weeks (to 13 November), then the 16th.
    assert transfer.due_date == date(2026, 11, 16)


def test_an_overdue_step_is_flagged_to_both_counties(actors: dict[str, Actor]) -> None:
    _, number = numbered(actors)
    receiver, class_id = receiver_with_class(OTHER_COUNTY)
    receiver_county = reviewer_of(Level.COUNTY, "410102")
    started = workflow.local_today() - timedelta(days=14)  # the sender's 5 working days have passed
    transfer_id = transfers.start_transfer(receiver, number, "李小明", class_id, "迁居", today=started)
    for county in (actors["county"], receiver_county):
        assert [r.id for r in transfers.overdue_transfers(county)] == [transfer_id]
    assert not transfers.overdue_transfers(reviewer_of(Level.COUNTY, "410105"))
    other_county_clerk = clerk_of("4101050001")
    with pytest.raises(NotFound):
        transfers.transfer_history(other_county_clerk, transfer_id)


def test_a_completed_transfer_keeps_the_other_records_untouched(actors: dict[str, Actor]) -> None:
    clerk = actors["clerk"]
    _, number = numbered(actors)
    other = enter(clerk, name="王小红", gender="女", sequence=2)
    receiver, class_id = receiver_with_class(SAME_COUNTY)
    transfer_id = transfers.start_transfer(receiver, number, "李小明", class_id, "迁居")
    transfers.agree(clerk, transfer_id)
    transfers.complete(receiver, transfer_id, class_id)
    with db.session_scope() as session:
        assert session.exec(select(Child.institution_id).where(col(Child.id) == other)).one() == clerk.institution_id
    with pytest.raises(ServiceError, match="已完成"):
        transfers.cancel(receiver, transfer_id, "太晚了")
