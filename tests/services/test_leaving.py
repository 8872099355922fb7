"""Leaving and accidental leaving (§27.4): declared by the clerk, reviewed by the county; the
accidental one within 30 working days, with a certificate, cancels the number; a record closed by
mistake comes back on request."""

from __future__ import annotations

from datetime import date

import pytest

from portal.auth.actor import Actor
from portal.services import children, leaving, problems, workflow
from portal.services.errors import ServiceError, ValidationError
from tests.factories import TODAY, with_class
from tests.services.test_children import approve_all, enter, stored

PDF = b"%PDF-1.4\n%%EOF\n"


def numbered(actors: dict[str, Actor]) -> int:
    clerk = actors["clerk"]
    with_class(clerk)
    child_id = enter(clerk)
    children.submit_children(clerk, today=TODAY)
    approve_all(actors["county"])
    return child_id


def decide_all(reviewer: Actor, kind: str) -> None:
    for row in workflow.queue(reviewer, kind=kind).rows:
        workflow.decide(reviewer, row.id, "approve")


def test_leaving_closes_the_record_and_keeps_the_number(actors: dict[str, Actor]) -> None:
    clerk, county = actors["clerk"], actors["county"]
    child_id = numbered(actors)
    number = children.number_of(stored(child_id))
    with pytest.raises(ValidationError) as refused:
        leaving.request_leave(clerk, child_id, "left", date(2026, 12, 1), "", today=TODAY)
    assert set(refused.value.errors) == {"left_on", "reason"}
    leaving.request_leave(clerk, child_id, "left", date(2026, 11, 20), "随父母迁往外省", today=TODAY)
    with pytest.raises(ServiceError, match="已有待审核的申请"):
        leaving.request_leave(clerk, child_id, "left", date(2026, 11, 20), "再次申请", today=TODAY)
    assert stored(child_id).state == "approved"  # until the county approves
    decide_all(county, leaving.KIND_LEAVE)
    left = stored(child_id)
    assert (left.state, left.closed_on, left.closed_reason) == ("left", date(2026, 11, 20), "离园：随父母迁往外省")
    assert children.number_of(left) == number and left.student_number_hash
    assert child_id not in [r.id for r in children.list_children(clerk).rows]
    with pytest.raises(ServiceError, match="只有审核通过的在园幼儿"):
        leaving.request_leave(clerk, child_id, "left", date(2026, 11, 20), "重复", today=TODAY)
    # Closed by mistake: restored on request, back in school with the same number.
    problems.request_restore(clerk, child_id, "离园登记错误，幼儿仍在园")
    decide_all(county, problems.KIND_RESTORE)
    assert stored(child_id).state == "approved" and children.number_of(stored(child_id)) == number


def test_an_accidental_leaving_needs_a_certificate_in_time_and_cancels_the_number(actors: dict[str, Actor]) -> None:
    clerk, county = actors["clerk"], actors["county"]
    child_id = numbered(actors)
    with pytest.raises(ValidationError) as no_file:
        leaving.request_leave(clerk, child_id, "accident", date(2026, 11, 20), "意外受伤", today=TODAY)
    assert set(no_file.value.errors) == {"files"}
    assert "证明材料" in no_file.value.errors["files"]
    # 30 working days on the official calendar: from 16 October they ended on 27 November; from
    # 19 October they end on 30 November (weekends skipped), so on 28 November it is still in time.
    with pytest.raises(ValidationError, match="30 个工作日内录入"):
        leaving.request_leave(clerk, child_id, "accident", date(2026, 10, 16), "意外", [("证明.pdf", PDF)], today=TODAY)
    leaving.request_leave(
        clerk, child_id, "accident", date(2026, 10, 19), "意外受伤，长期治疗", [("医院证明.pdf", PDF)], today=TODAY
    )
    decide_all(county, leaving.KIND_LEAVE)
    closed = stored(child_id)
    assert closed.state == "left" and closed.student_number_hash is None  # the number is cancelled
    assert "意外离园" in closed.closed_reason
    with pytest.raises(ServiceError, match="只有已删除、已毕业或已离园"):
        problems.request_restore(clerk, enter(clerk, name="王小红", gender="女", sequence=2), "理由")
