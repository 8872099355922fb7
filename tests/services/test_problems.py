"""Problem records and arbitration: resolving one's own (delete, restore on request, correct), proof
from both sides, and the arbitration path between two counties decided by the city."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from portal.auth.actor import Actor
from portal.auth.roles import Level
from portal.data import db
from portal.data.models import AuditLog, Child
from portal.services import children, problems, workflow
from portal.services.errors import NotFound, ServiceError
from tests.factories import TODAY, child_values, clerk_of, resident_id, reviewer_of, with_class
from tests.services.test_children import approve_all, enter, stored

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def two_counties(actors: dict[str, Actor], **changes: object) -> tuple[Actor, Actor, int, int]:
    """The same child entered in 中牟县 (approved first) and in 郑州市中原区 (the problem record)."""
    first, second = actors["clerk"], clerk_of("4101020001")
    with_class(first)
    with_class(second)
    holder = enter(first, **changes)
    children.submit_children(first, today=TODAY)
    approve_all(actors["county"])
    claimant = enter(second, **changes)
    children.submit_children(second, today=TODAY)
    approve_all(reviewer_of(Level.COUNTY, "410102"))
    return first, second, holder, claimant


def test_the_arbitration_path_between_two_counties(actors: dict[str, Actor]) -> None:
    first, second, holder, claimant = two_counties(actors)
    assert stored(claimant).state == "problem"
    # Both institutions see the problem record, masked, side by side.
    for clerk in (first, second):
        (view,) = problems.list_disputes(clerk)
        assert (view.claimant.child.id, view.holder.child.id) == (claimant, holder)
        assert view.level_label == "市级" and not view.may_arbitrate
        assert ("证件号码", resident_id()[:6] + "********" + resident_id()[-4:]) in view.claimant.values
    dispute_id = view.id
    # A third institution does not see it; nor does a county reviewer get to decide it.
    with pytest.raises(NotFound):
        problems.get_dispute(clerk_of("4101220004"), dispute_id)
    with pytest.raises(NotFound):  # a dispute across counties is above the county
        problems.arbitrate(actors["county"], dispute_id, "keep_child", "核实")
    with pytest.raises(ServiceError, match="应由市级教育行政部门的审核人员仲裁"):  # the province sees, the city decides
        problems.arbitrate(reviewer_of(Level.PROVINCE, "410000"), dispute_id, "keep_child", "核实")
    # Both sides file proof; a refused file stores nothing.
    with pytest.raises(ServiceError, match="类型不支持"):
        problems.file_proof(second, dispute_id, "户口簿在本园所在地", [("户口簿.png", b"not an image")])
    assert problems.get_dispute(second, dispute_id).state == "open"
    problems.file_proof(second, dispute_id, "幼儿已于 9 月转入本园，附户口簿", [("户口簿.png", PNG)])
    problems.file_proof(first, dispute_id, "幼儿仍在本园就读", [("在园证明.png", PNG)])
    view = problems.get_dispute(actors["city"], dispute_id)
    assert view.state_label == "待仲裁" and view.may_arbitrate
    assert [p.filename for p in view.claimant.proofs] == ["户口簿.png"]
    assert problems.read_proof(actors["city"], view.holder.proofs[0].id or 0).data == PNG
    with pytest.raises(ServiceError, match="证件号码相同，不能认定为不同幼儿"):
        problems.arbitrate(actors["city"], dispute_id, "different", "两名幼儿")
    with pytest.raises(ServiceError, match="仲裁理由"):
        problems.arbitrate(actors["city"], dispute_id, "keep_child", " ")
    decided = problems.arbitrate(
        actors["city"], dispute_id, "keep_child", "户口簿与转园材料一致，幼儿现就读于伊河路幼儿园"
    )
    # Applied at once: the claimant keeps the child with the person's number; the other is deleted.
    assert stored(claimant).state == "approved" and stored(holder).state == "deleted"
    assert children.number_of(stored(claimant)) == "G" + resident_id()
    assert decided.outcome_label == "保留提出方记录" and decided.decided_by == "李慧敏（地市级审核员）"
    for clerk in (first, second):  # both institutions are told
        (seen,) = problems.list_disputes(clerk, open_only=False)
        assert seen.state_label == "已仲裁" and "转园材料" in seen.reason
    with pytest.raises(ServiceError, match="不能重复仲裁"):
        problems.arbitrate(actors["city"], dispute_id, "keep_other", "改判")
    with db.session_scope() as session:
        row = session.exec(select(AuditLog).where(AuditLog.action == "dispute_arbitrate")).one()
        assert row.real_name == "李慧敏" and "转园材料" in row.detail


def test_keep_the_other_record(actors: dict[str, Actor]) -> None:
    _first, second, holder, claimant = two_counties(actors)
    (view,) = problems.list_disputes(second)
    problems.arbitrate(actors["city"], view.id, "keep_other", "幼儿仍在中牟县就读")
    assert stored(claimant).state == "deleted" and stored(holder).state == "approved"
    assert children.number_of(stored(holder)) == "G" + resident_id()


def test_different_children_without_documents_both_get_numbers(actors: dict[str, Actor]) -> None:
    _first, second, holder, claimant = two_counties(actors, document_type="无证件", document_number="")
    (view,) = problems.list_disputes(second)
    assert view.kind == "same_identity"
    problems.arbitrate(actors["city"], view.id, "different", "两名幼儿父母不同，系同名同日出生")
    numbers = {children.number_of(stored(i)) for i in (holder, claimant)}
    assert len(numbers) == 2 and all(n.startswith("J") for n in numbers)


def test_the_institution_deletes_its_problem_record_and_asks_to_restore_it(actors: dict[str, Actor]) -> None:
    _first, second, _holder, claimant = two_counties(actors)
    children.delete_child(second, claimant)
    assert stored(claimant).state == "deleted"
    assert problems.list_disputes(second) == []  # resolved
    # Still visible to the county, restorable on request.
    zhongyuan = reviewer_of(Level.COUNTY, "410102")
    assert [r.id for r in children.list_children(zhongyuan, state="deleted").rows] == [claimant]
    with pytest.raises(ServiceError, match="恢复理由"):
        problems.request_restore(second, claimant, "")
    problems.request_restore(second, claimant, "误删，幼儿确在本园就读")
    (row,) = workflow.queue(zhongyuan, kind=problems.KIND_RESTORE).rows
    workflow.decide(zhongyuan, row.id, "approve")
    assert stored(claimant).state == "saved"


def test_the_institution_corrects_its_problem_record(actors: dict[str, Actor]) -> None:
    _first, second, _holder, claimant = two_counties(actors)
    (view,) = problems.list_disputes(second)
    fixed = child_values(name="李晓明", birth=date(2022, 3, 15), sequence=5)
    children.save_child(second, fixed, claimant, today=TODAY)
    children.submit_children(second, today=TODAY)
    assert problems.get_dispute(second, view.id).outcome_label == "问题学籍已更正后重新提交"
    approve_all(reviewer_of(Level.COUNTY, "410102"))
    assert children.number_of(stored(claimant)) == "G" + fixed["document_number"]


def test_across_cities_the_province_arbitrates(actors: dict[str, Actor]) -> None:
    clerk, lankao = actors["clerk"], clerk_of("4102250001")
    for c in (clerk, lankao):
        with_class(c)
        enter(c)
        children.submit_children(c, today=TODAY)
    approve_all(actors["county"])
    approve_all(reviewer_of(Level.COUNTY, "410225"))
    (view,) = problems.list_disputes(lankao)
    assert view.level_label == "省级"
    assert problems.list_disputes(actors["city"]) == []  # across cities: above 郑州市
    province = reviewer_of(Level.PROVINCE, "410000")
    problems.arbitrate(province, view.id, "keep_other", "经核实幼儿在中牟县就读")
    with db.session_scope() as session:
        assert session.exec(select(Child.state).order_by(Child.id)).all() == ["approved", "deleted"]
