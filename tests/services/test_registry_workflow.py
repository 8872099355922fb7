"""The review engine through the institution registry: reports, township check, county review,
change declarations, refused transitions, scope, concurrent approval."""

from __future__ import annotations

import json
import threading
from datetime import date

import pytest
from sqlmodel import select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.roles import Duty, Level
from portal.data import db
from portal.data.models import InstitutionDraft, InstitutionRecord, Request, RequestEvent
from portal.services import registry, workflow
from portal.services.accounts import NewUser, create_user
from portal.services.errors import NotFound, PermissionDenied, ServiceError, ValidationError
from portal.services.workdays import add_working_days
from tests.conftest import DEMO_PASSWORD, actor_for

BASE = {
    "address": "中牟县官渡镇小庙王村 1 号",
    "postcode": "451450",
    "phone": "0371-62001234",
    "principal": "王秀英",
    "license_no": "教民141012270001",
    "founded": "2012-09-01",
    "sponsor": "王秀英",
    "authority": "民办",
    "boarding": False,
}
CONDITIONS = {
    "land_area": 1200,
    "building_area": 860.5,
    "playground_area": 400,
    "classrooms": 6,
    "books": 1500,
    "staff": 14,
    "teachers": 8,
    "toys": "基本齐全",
}


def request_row(request_id: int) -> Request:
    with db.session_scope() as session:
        row = session.get(Request, request_id)
        assert row is not None
        return row


def record(institution_id: int, section: str) -> InstitutionRecord | None:
    with db.session_scope() as session:
        return session.get(InstitutionRecord, (institution_id, section))


def approve_through(actors: dict[str, Actor], section: str = "base", values: dict | None = None) -> Request:
    request = registry.submit_section(actors["clerk"], section, values or BASE)
    workflow.decide(actors["township"], request.id or 0, "approve")
    return workflow.decide(actors["county"], request.id or 0, "approve")


def test_rural_report_goes_township_then_county(actors: dict[str, Actor]) -> None:
    request = registry.submit_section(actors["clerk"], "base", BASE)
    assert (request.kind, request.state, request.step_level) == ("institution_info", "pending", "township")
    assert request.due_date == add_working_days(workflow.local_today(), 5)
    assert [r.title for r in workflow.queue(actors["township"]).rows] == ["中牟县官渡镇小庙王村幼儿园·机构基本信息"]
    assert workflow.queue(actors["county"]).total == 0

    with pytest.raises(ServiceError, match="应由乡镇中心园审核员处理"):
        workflow.decide(actors["county"], request.id or 0, "approve")
    workflow.decide(actors["township"], request.id or 0, "approve")
    assert request_row(request.id or 0).step_level == "county"
    with pytest.raises(ServiceError, match="应由县级审核员处理"):
        workflow.decide(actors["township"], request.id or 0, "approve")
    assert workflow.queue(actors["county"]).total == 1

    done = workflow.decide(actors["county"], request.id or 0, "approve")
    assert done.state == "approved"
    stored = record(actors["clerk"].institution_id or 0, "base")
    assert stored is not None and json.loads(stored.data)["principal"] == "王秀英"
    assert (stored.filled_by, stored.reviewed_by) == (actors["clerk"].user_id, actors["county"].user_id)
    with db.session_scope() as session:
        events = session.exec(select(RequestEvent).where(RequestEvent.request_id == request.id)).all()
        assert [(e.action, e.real_name) for e in events] == [
            ("submit", "陈静"),
            ("approve", "刘芳"),
            ("approve", "张伟"),
        ]
    _, states = registry.institution_sections(actors["clerk"])
    base_state = states[0]
    assert (base_state.status, base_state.filled_by, base_state.reviewed_by) == ("已审核", "陈静", "张伟")


def test_approving_twice_is_refused(actors: dict[str, Actor]) -> None:
    request = approve_through(actors)
    with pytest.raises(ServiceError, match="已处理"):
        workflow.decide(actors["county"], request.id or 0, "approve")


def test_return_needs_a_reason_and_shows_it_to_the_clerk(actors: dict[str, Actor]) -> None:
    request = registry.submit_section(actors["clerk"], "base", BASE)
    with pytest.raises(ServiceError, match="驳回必须填写理由"):
        workflow.decide(actors["township"], request.id or 0, "return", "   ")
    assert request_row(request.id or 0).state == "pending"
    workflow.decide(actors["township"], request.id or 0, "return", "办园许可证号与证书不符")
    assert request_row(request.id or 0).state == "returned"
    _, states = registry.institution_sections(actors["clerk"])
    assert (states[0].status, states[0].last_return_reason) == ("已驳回", "办园许可证号与证书不符")
    # The clerk corrects and submits again.
    again = registry.submit_section(actors["clerk"], "base", {**BASE, "license_no": "教民141012270002"})
    assert again.state == "pending"


def test_a_second_submission_waits_for_the_first(actors: dict[str, Actor]) -> None:
    registry.submit_section(actors["clerk"], "base", BASE)
    with pytest.raises(ServiceError, match="已有待审核的申请"):
        registry.submit_section(actors["clerk"], "base", BASE)


def test_urban_institutions_go_straight_to_the_county(actors: dict[str, Actor]) -> None:
    create_user(
        SYSTEM_ACTOR,
        NewUser(
            "sy-clerk", "实验园填报员", Level.INSTITUTION, Duty.ENTRY, DEMO_PASSWORD, institution_code="4101220004"
        ),
    )
    request = registry.submit_section(actor_for("sy-clerk"), "conditions", CONDITIONS)
    assert (request.step_level, json.loads(request.route)) == ("county", ["county_review"])
    assert request.due_date == add_working_days(workflow.local_today(), 10)


def test_change_declarations_are_reviewed_or_acknowledged(actors: dict[str, Actor]) -> None:
    approve_through(actors, "conditions", CONDITIONS)
    institution_id = actors["clerk"].institution_id or 0
    with pytest.raises(ServiceError, match="无需申报"):
        registry.submit_section(actors["clerk"], "conditions", CONDITIONS)

    change = registry.submit_section(actors["clerk"], "conditions", {**CONDITIONS, "classrooms": 7})
    assert (change.kind, change.step_level) == ("institution_change", "county")
    assert change.due_date == add_working_days(workflow.local_today(), 5)
    detail = workflow.detail(actors["county"], change.id or 0)
    assert detail.changes == [("活动室数", "6间", "7间")]
    workflow.decide(actors["county"], change.id or 0, "return", "请附活动室照片")
    assert json.loads(record(institution_id, "conditions").data)["classrooms"] == 6  # type: ignore[union-attr]

    notice = registry.submit_section(actors["clerk"], "conditions", {**CONDITIONS, "books": 2000})
    assert notice.kind == "institution_notice"
    with pytest.raises(ServiceError, match="只需阅知"):
        workflow.decide(actors["county"], notice.id or 0, "approve")
    workflow.decide(actors["county"], notice.id or 0, "acknowledge")
    assert request_row(notice.id or 0).state == "acknowledged"
    assert json.loads(record(institution_id, "conditions").data)["books"] == 2000  # type: ignore[union-attr]


def test_a_county_reviewer_never_sees_another_countys_requests(actors: dict[str, Actor]) -> None:
    request = registry.submit_section(actors["clerk"], "base", BASE)
    workflow.decide(actors["township"], request.id or 0, "approve")
    create_user(
        SYSTEM_ACTOR,
        NewUser("lk-reviewer", "兰考审核员", Level.COUNTY, Duty.REVIEWER, DEMO_PASSWORD, region_code="410225"),
    )
    lankao = actor_for("lk-reviewer")
    assert workflow.queue(lankao).total == 0
    with pytest.raises(NotFound):
        workflow.decide(lankao, request.id or 0, "approve")
    with pytest.raises(NotFound):
        workflow.detail(lankao, request.id or 0)
    assert request_row(request.id or 0).state == "pending"


def test_bad_values_are_refused_and_nothing_is_written(actors: dict[str, Actor]) -> None:
    with pytest.raises(ValidationError) as caught:
        registry.submit_section(actors["clerk"], "conditions", {**CONDITIONS, "classrooms": "六", "staff": None})
    assert caught.value.errors == {"classrooms": "活动室数应为数字。", "staff": "教职工数为必填项。"}
    with pytest.raises(ValidationError):
        registry.save_draft(actors["clerk"], "base", {"founded": "2012/9/1"})
    with db.session_scope() as session:
        assert session.exec(select(Request)).all() == []
        assert session.exec(select(InstitutionDraft)).all() == []


def test_drafts_keep_gaps_and_go_with_the_submission(actors: dict[str, Actor]) -> None:
    registry.save_draft(actors["clerk"], "base", {"address": "官渡镇小庙王村", "founded": date(2012, 9, 1)})
    _, states = registry.institution_sections(actors["clerk"])
    assert states[0].status == "草稿" and states[0].working_values["founded"] == "2012-09-01"
    registry.submit_section(actors["clerk"], "base", BASE)
    _, states = registry.institution_sections(actors["clerk"])
    assert states[0].status == "待审核" and states[0].draft is None


def test_only_the_clerk_of_the_institution_submits(actors: dict[str, Actor]) -> None:
    for name in ("county", "township", "province"):
        with pytest.raises((ServiceError, PermissionDenied)):
            registry.submit_section(actors[name], "base", BASE)


def test_two_reviewers_approving_at_once_exactly_one_wins(actors: dict[str, Actor]) -> None:
    create_user(
        SYSTEM_ACTOR,
        NewUser("zm-reviewer2", "第二审核员", Level.COUNTY, Duty.REVIEWER, DEMO_PASSWORD, region_code="410122"),
    )
    second = actor_for("zm-reviewer2")
    for section, values in (("base", BASE), ("conditions", CONDITIONS)):
        request = registry.submit_section(actors["clerk"], section, values)
        workflow.decide(actors["township"], request.id or 0, "approve")
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def approve(
            actor: Actor,
            request_id: int = request.id or 0,
            barrier: threading.Barrier = barrier,
            outcomes: list[str] = outcomes,
        ) -> None:
            barrier.wait()
            try:
                workflow.decide(actor, request_id, "approve")
                outcomes.append("ok")
            except ServiceError as exc:
                outcomes.append(str(exc))

        threads = [threading.Thread(target=approve, args=(a,)) for a in (actors["county"], second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(outcomes, key=lambda o: o != "ok")[0] == "ok"
        assert outcomes.count("ok") == 1, outcomes
        loser = next(o for o in outcomes if o != "ok")
        assert "已被其他审核人处理" in loser or "已处理" in loser
        with db.session_scope() as session:
            approvals = session.exec(
                select(RequestEvent).where(RequestEvent.request_id == request.id, RequestEvent.action == "approve")
            ).all()
            assert len(approvals) == 2  # the township's and exactly one county approval


def test_overdue_requests_are_flagged_to_the_county_and_visible_to_the_city(actors: dict[str, Actor]) -> None:
    from sqlalchemy import update

    request = registry.submit_section(actors["clerk"], "base", BASE)
    workflow.decide(actors["township"], request.id or 0, "approve", today=date(2026, 9, 1))  # due 2026-09-15
    assert request_row(request.id or 0).due_date == date(2026, 9, 15)
    for name in ("county", "city", "province"):
        rows = workflow.overdue(actors[name])
        assert [r.id for r in rows] == [request.id], name
        assert rows[0].days_left is not None and rows[0].days_left < 0
    assert [r.id for r in workflow.queue(actors["county"], overdue=True).rows] == [request.id]
    with db.session_scope() as session:
        session.execute(update(Request).values(due_date=date(2099, 1, 1)))
    assert workflow.overdue(actors["county"]) == []
    assert workflow.queue(actors["county"], overdue=True).total == 0


def test_institution_history_newest_first(actors: dict[str, Actor]) -> None:
    first = registry.submit_section(actors["clerk"], "base", BASE)
    workflow.decide(actors["township"], first.id or 0, "return", "地址不详")
    second = registry.submit_section(actors["clerk"], "base", BASE)
    history = workflow.institution_history(actors["city"], actors["clerk"].institution_id or 0)
    assert [(r.id, r.state_label) for r in history] == [(second.id, "待审核"), (first.id, "已驳回")]
    with pytest.raises(PermissionDenied):
        workflow.institution_history(actors["auditor"], actors["clerk"].institution_id or 0)


def test_queue_filters_by_kind_step_action_and_institution(actors: dict[str, Actor]) -> None:
    approve_through(actors, "conditions", CONDITIONS)
    change = registry.submit_section(actors["clerk"], "conditions", {**CONDITIONS, "classrooms": 9})
    notice_values = {**BASE}
    approve_through(actors, "base", notice_values)
    notice = registry.submit_section(actors["clerk"], "base", {**BASE, "phone": "0371-62009999"})
    county = actors["county"]
    assert {r.id for r in workflow.queue(county).rows} == {change.id, notice.id}
    assert [r.id for r in workflow.queue(county, step_action="acknowledge").rows] == [notice.id]
    assert [r.id for r in workflow.queue(county, step_action="review").rows] == [change.id]
    assert [r.id for r in workflow.queue(county, kind="institution_change").rows] == [change.id]
    assert workflow.queue(county, institution_name="小庙王").total == 2
    assert workflow.queue(county, institution_name="实验幼儿园").total == 0


def test_a_long_queue_is_counted_up_to_the_cap(actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    approve_through(actors, "conditions", CONDITIONS)
    registry.submit_section(actors["clerk"], "conditions", {**CONDITIONS, "classrooms": 9})
    approve_through(actors, "base", {**BASE})
    registry.submit_section(actors["clerk"], "base", {**BASE, "phone": "0371-62009999"})
    county = actors["county"]
    assert (workflow.queue(county).total, workflow.queue(county).more, workflow.queue_count(county)) == (2, False, 2)
    monkeypatch.setattr(workflow, "QUEUE_COUNT_CAP", 1)  # "1+": counting stops one past the cap
    page = workflow.queue(county)
    assert (page.total, page.more, len(page.rows), workflow.queue_count(county)) == (1, True, 2, 2)


def test_the_county_deadline_skips_national_day_and_counts_the_make_up_saturday(actors: dict[str, Actor]) -> None:
    request = registry.submit_section(actors["clerk"], "base", BASE)
    workflow.decide(actors["township"], request.id or 0, "approve", today=date(2026, 9, 30))
    # Ten working days after 30 September 2026: 8, 9, 10 (Saturday, worked), 12-16, 19, 20 October.
    assert request_row(request.id or 0).due_date == date(2026, 10, 20)
