"""The free text of the workflows: return reasons, leaving and key-change reasons, proof notes,
arbitration reasons, transfer reasons, the reason to see a full number; the search boxes; and
the login name. Each with the compact catalogue (the whole one for the reviewer's return reason,
the text most often typed): a clean refusal that stores nothing, or the text stored exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import col, select

from portal.data import db
from portal.data.models import AuditLog, Child, DisputeProof, Request
from portal.services import children, institutions, key_changes, leaving, problems, transfers, workflow
from portal.services.inputs import search_term
from tests.factories import child_values
from tests.hostile.catalogue import COMPACT
from tests.hostile.conftest import PNG, TODAY, World, a_valid_child, parametrize_cases
from tests.hostile.outcome import AUDIT_TABLES, attempt, check


def _payload(request_id: int) -> dict[str, Any]:
    with db.session_scope() as session:
        request = session.get(Request, request_id)
        assert request is not None
        return json.loads(request.payload)


def _close(world: World, request_id: int, reviewer: str = "county") -> None:
    """Return an accepted request, so that the next case starts from the same state."""
    actor = world.institution_reviewer if reviewer == "institution" else world.actors[reviewer]
    assert actor is not None
    workflow.decide(actor, request_id, "return", "测试结束，退回")


@parametrize_cases()
def test_a_return_reason(world: World, key: str, hostile: str) -> None:
    clerk = world.actors["clerk"]
    child_id = children.save_child(clerk, a_valid_child(world), today=TODAY).child_id
    children.submit_children(clerk, [child_id], today=TODAY)
    request_id = children.get_child(clerk, child_id).request_id
    assert request_id is not None
    outcome = attempt(lambda: workflow.decide(world.actors["county"], request_id, "return", hostile))

    def read(_request: Any) -> str:
        with db.session_scope() as session:
            child = session.get(Child, child_id)
            assert child is not None and child.state == "returned"
            return child.return_reason

    check(outcome, hostile, read, max_length=workflow.REASON_MAX, multiline=True)


@parametrize_cases(COMPACT)
def test_a_leaving_reason(world: World, key: str, hostile: str) -> None:
    outcome = attempt(
        lambda: leaving.request_leave(world.actors["clerk"], world.numbered_child, "left", TODAY, hostile)
    )
    check(
        outcome, hostile, lambda request: _payload(request.id)["reason"], max_length=leaving.REASON_MAX, multiline=True
    )
    if outcome.accepted:
        _close(world, outcome.value.id)


@parametrize_cases(COMPACT)
def test_a_key_change_reason(world: World, key: str, hostile: str) -> None:
    files = [("监护人申请书.png", PNG)]
    outcome = attempt(
        lambda: key_changes.request_key_change(
            world.actors["clerk"], world.numbered_child, {"name": "李小刚"}, hostile, files, today=TODAY
        )
    )
    check(outcome, hostile, lambda request: _payload(request.id)["reason"], max_length=500, multiline=True)
    if outcome.accepted:
        _close(world, outcome.value.id, "institution")


@parametrize_cases(COMPACT)
def test_a_proof_note(world: World, key: str, hostile: str) -> None:
    outcome = attempt(lambda: problems.file_proof(world.actors["clerk"], world.dispute, hostile, [("佐证.png", PNG)]))

    def read(_count: int) -> str:
        with db.session_scope() as session:
            return session.exec(select(DisputeProof.note).order_by(col(DisputeProof.id).desc())).first() or ""

    check(outcome, hostile, read, max_length=1000, multiline=True)


@parametrize_cases(COMPACT)
def test_a_transfer_reason_and_its_cancel_reason(world: World, key: str, hostile: str) -> None:
    receiver = world.receiver
    assert receiver is not None
    outcome = attempt(
        lambda: transfers.start_transfer(receiver, world.student_number, "李小明", world.receiver_class, hostile)
    )

    def read(transfer_id: int) -> str:
        return next(r.reason for r in transfers.list_transfers(receiver) if r.id == transfer_id)

    check(outcome, hostile, read, max_length=200)
    transfer_id = (
        outcome.value
        if outcome.accepted
        else transfers.start_transfer(receiver, world.student_number, "李小明", world.receiver_class, "随父母迁居")
    )
    cancelled = attempt(lambda: transfers.cancel(receiver, transfer_id, hostile))

    def closed_reason(_none: Any) -> str:
        return next(r.closed_reason for r in transfers.list_transfers(receiver) if r.id == transfer_id)

    check(cancelled, hostile, closed_reason, max_length=200)
    if not cancelled.accepted:
        transfers.cancel(receiver, transfer_id, "测试结束，撤销")


@parametrize_cases(COMPACT)
def test_a_name_that_does_not_match_starts_no_transfer(world: World, key: str, hostile: str) -> None:
    """Whatever the name, a mismatch gets the one message; only the audited try is written."""
    receiver = world.receiver
    assert receiver is not None
    outcome = attempt(
        lambda: transfers.start_transfer(receiver, world.student_number, hostile, world.receiver_class, "随父母迁居"),
        exclude=AUDIT_TABLES,
    )
    assert not outcome.accepted
    assert str(outcome.error) == transfers.MISMATCH


@parametrize_cases(COMPACT)
def test_a_student_number_typed_into_the_transfer_form(world: World, key: str, hostile: str) -> None:
    receiver = world.receiver
    assert receiver is not None
    outcome = attempt(
        lambda: transfers.start_transfer(receiver, hostile, "李小明", world.receiver_class, "随父母迁居"),
        exclude=AUDIT_TABLES,
    )
    assert not outcome.accepted


@parametrize_cases(COMPACT)
def test_the_reason_to_see_a_full_number(world: World, key: str, hostile: str) -> None:
    outcome = attempt(lambda: children.reveal(world.actors["county"], world.numbered_child, "document_number", hostile))

    def read(_number: str) -> str:
        with db.session_scope() as session:
            detail = session.exec(
                select(AuditLog.detail).where(AuditLog.action == "personal_reveal").order_by(col(AuditLog.id).desc())
            ).first()
        assert detail is not None
        return detail.split("理由：", 1)[1]

    check(outcome, hostile, read, max_length=200)


@parametrize_cases(COMPACT)
def test_an_arbitration_reason(world: World, key: str, hostile: str) -> None:
    """Each case on a dispute of its own (arbitrating closes one)."""
    dispute_id = _new_dispute(world)
    outcome = attempt(lambda: problems.arbitrate(world.actors["city"], dispute_id, "keep_other", hostile))
    check(outcome, hostile, lambda view: view.reason, max_length=1000, multiline=True)


def _new_dispute(world: World) -> int:
    """The same new child approved at the demo kindergarten, then at one in another county."""
    values = a_valid_child(world)
    for clerk, reviewer in (
        (world.actors["clerk"], world.actors["county"]),
        (world.extras["other_clerk"], world.extras["other_county"]),
    ):
        child_id = children.save_child(clerk, values, today=TODAY).child_id
        children.submit_children(clerk, [child_id], today=TODAY)
        request_id = children.get_child(clerk, child_id).request_id
        assert request_id is not None
        workflow.decide(reviewer, request_id, "approve")
    return max(d.id for d in problems.list_disputes(world.actors["city"]))


# --- search boxes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("box", ["children", "institutions", "queue"])
@parametrize_cases(COMPACT)
def test_a_search_box_finds_only_what_holds_the_text_and_writes_nothing(
    world: World, key: str, hostile: str, box: str
) -> None:
    """A search never refuses and never fails: it finds the rows whose name holds the text (the
    hostile values other cases stored among them), with no control characters in the term."""
    county = world.actors["county"]
    search: dict[str, Any] = {
        "children": lambda: [r.name for r in children.list_children(county, name=hostile, limit=500).rows],
        "institutions": lambda: [r.name for r in institutions.list_institutions(county, search=hostile).rows],
        "queue": lambda: [r.institution_name for r in workflow.queue(county, institution_name=hostile).rows],
    }
    outcome = attempt(search[box])
    assert outcome.accepted, outcome.error
    term = search_term(hostile)
    if box == "children":
        term = children.normalise_name(term)
    assert all(term in name for name in outcome.value), (term, outcome.value)


@pytest.mark.parametrize("wildcard", ["%", "_"])
def test_search_wildcards_are_literal(world: World, wildcard: str) -> None:
    """% and _ are text in a search, not SQL wildcards (LIKE ... ESCAPE)."""
    county = world.actors["county"]
    found = [
        *(r.name for r in children.list_children(county, name=wildcard, limit=500).rows),
        *(r.name for r in institutions.list_institutions(county, search=wildcard).rows),
        *(r.institution_name for r in workflow.queue(county, institution_name=wildcard).rows),
    ]
    assert all(wildcard in name for name in found), found


def test_the_saved_child_keeps_its_values_after_refused_updates(world: World) -> None:
    """Refused edits of a draft leave it exactly as it was (the update path, not only inserts)."""
    clerk = world.actors["clerk"]
    before = children.get_child(clerk, world.saved_child).values
    for text in ("王\x00芳", "\u202e芳王", "长" * 300):
        outcome = attempt(
            lambda text=text: children.save_child(
                clerk, child_values(sequence=3, address=text), world.saved_child, today=TODAY
            )
        )
        assert not outcome.accepted
    assert children.get_child(clerk, world.saved_child).values == before


@parametrize_cases(COMPACT)
def test_a_progress_filter_or_region(world: World, key: str, hostile: str) -> None:
    """The dashboard's filters and drill-down region come from choice lists; a forged value is a
    clean refusal (or simply matches nothing), never a database error."""
    from portal.services import progress

    for call in (
        lambda: progress.progress_table(world.actors["province"], filters=progress.Filters(kind=hostile)),
        lambda: progress.progress_table(world.actors["province"], filters=progress.Filters(urban_rural=hostile)),
        lambda: progress.progress_table(world.actors["province"], hostile),
    ):
        attempt(call)


@parametrize_cases(COMPACT)
def test_a_key_change_of_the_name(world: World, key: str, hostile: str) -> None:
    files = [("监护人申请书.png", PNG)]
    outcome = attempt(
        lambda: key_changes.request_key_change(
            world.actors["clerk"], world.numbered_child, {"name": hostile}, "户口簿上的姓名已更正", files, today=TODAY
        )
    )
    check(
        outcome,
        hostile,
        lambda request: _payload(request.id)["values"]["name"],
        max_length=50,
        normalise=children.normalise_name,
    )
    if outcome.accepted:
        _close(world, outcome.value.id, "institution")
