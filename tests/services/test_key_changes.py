"""Key-information changes (§27.2): the clerk asks with the guardian's documents, the institution's
reviewer approves, the change applies with the old values kept and the student number unchanged;
the refusals; the county step when the setting asks for it; a corrected ID that another record
already holds makes a problem record."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy.exc import NoResultFound
from sqlmodel import col, func, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.roles import Duty, Level
from portal.data import db
from portal.data.models import AuditLog, EvidenceFile, Request
from portal.services import children, key_changes, problems, workflow
from portal.services.accounts import NewUser, create_user
from portal.services.errors import NotFound, PermissionDenied, ServiceError, ValidationError
from portal.settings import reset_settings_cache
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.factories import TODAY, clerk_of, resident_id, reviewer_of, with_class
from tests.services.test_children import approve_all, enter, stored

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
FILES = [("监护人申请书.png", PNG)]
NEW_BIRTH = date(2022, 3, 16)


def institution_reviewer(institution_code: str = "4101220002") -> Actor:
    """The reviewer of a demo institution (created on first use)."""
    username = f"reviewer-{institution_code}"
    try:
        return actor_for(username)
    except NoResultFound:  # not created yet
        create_user(
            SYSTEM_ACTOR,
            NewUser(
                username,
                "园内审核员",
                Level.INSTITUTION,
                Duty.REVIEWER,
                DEMO_PASSWORD,
                institution_code=institution_code,
                is_demo=True,  # a test account, spared the second factor like the demo's
            ),
        )
        return actor_for(username)


def numbered_child(
    actors: dict[str, Actor], clerk: Actor | None = None, county: Actor | None = None, **changes: object
) -> int:
    """A child entered by the clerk and approved by the county: numbered G + ID."""
    clerk = clerk or actors["clerk"]
    with_class(clerk)
    child_id = enter(clerk, **changes)
    children.submit_children(clerk, today=TODAY)
    approve_all(county or actors["county"])
    assert stored(child_id).state == "approved"
    return child_id


def key_change_requests() -> list[Request]:
    with db.session_scope() as session:
        return list(
            session.exec(select(Request).where(Request.kind == key_changes.KIND_KEY_CHANGE).order_by(col(Request.id)))
        )


def evidence_count() -> int:
    with db.session_scope() as session:
        return session.exec(select(func.count()).select_from(EvidenceFile)).one()


def corrected_id() -> str:
    """The ID number of the same boy born a day later (the birth date corrected)."""
    return resident_id(birth=NEW_BIRTH)


def test_happy_path_keeps_the_number_and_the_old_values(actors: dict[str, Actor]) -> None:
    clerk, reviewer = actors["clerk"], institution_reviewer()
    child_id = numbered_child(actors)
    number = children.number_of(stored(child_id))
    assert number == "G" + resident_id()
    class_id = stored(child_id).class_id
    request = key_changes.request_key_change(
        clerk,
        child_id,
        {"name": "李晓明", "birth_date": NEW_BIRTH, "document_number": corrected_id()},
        "监护人申请更正姓名和出生日期，附户口簿",
        FILES,
        today=TODAY,
    )
    assert evidence_count() == 1
    # The institution reviewer has it in the queue; the diff shows old → new, masked.
    (row,) = workflow.queue(reviewer).rows
    assert row.id == request.id and row.step_label == "本园审核" and row.kind_label == "幼儿关键信息变更"
    detail = workflow.detail(reviewer, request.id or 0)
    assert detail.may_act
    changes = {label: (old, new) for label, old, new in detail.changes}
    assert changes["姓名"] == ("李小明", "李晓明")
    assert changes["出生日期"] == ("2022-03-15", "2022-03-16")
    assert changes["证件号码"] == (
        resident_id()[:6] + "********" + resident_id()[-4:],
        corrected_id()[:6] + "********" + corrected_id()[-4:],
    )
    assert "性别" not in changes and "监护人申请" in changes["变更原因"][1]
    # The county is informed and may look, but it is not its turn.
    assert not workflow.detail(actors["county"], request.id or 0).may_act
    assert request.id in [r.id for r in workflow.institution_history(actors["county"], stored(child_id).institution_id)]
    assert [r.state_label for r in key_changes.list_key_changes(clerk)] == ["待审核"]

    workflow.decide(reviewer, request.id or 0, "approve")
    child = stored(child_id)
    assert (child.name, child.birth_date) == ("李晓明", NEW_BIRTH)
    assert children.decrypt_field(child.id_cipher, children.CTX_DOCUMENT) == corrected_id()
    assert child.id_hash == children.document_hash("居民身份证", corrected_id())
    assert child.identity_hash == children.identity_key("李晓明", "男", NEW_BIRTH.isoformat())
    # The number never changes; class and state are kept.
    assert children.number_of(child) == number and child.state == "approved" and child.class_id == class_id
    assert children.get_child(clerk, child_id).values["guardian1_phone"] == "139****1234"
    (done,) = key_changes.list_key_changes(clerk)
    assert done.state_label == "审核通过" and done.changed == "姓名、出生日期、证件号码"
    # The history keeps the old values, masked; no full ID number anywhere.
    with db.session_scope() as session:
        saved = session.get(Request, request.id)
        assert saved is not None
        before = json.loads(saved.before or "{}")["values"]
        assert before["name"] == "李小明" and before["birth_date"] == "2022-03-15"
        audit_rows = session.exec(select(AuditLog).where(col(AuditLog.action).like("key_change%"))).all()
        applied = next(r for r in audit_rows if r.action == "key_change_apply")
        assert json.loads(applied.before or "{}")["name"] == "李小明"
        assert json.loads(applied.after or "{}")["name"] == "李晓明"
        every = [saved.payload, saved.before or ""] + [
            f"{r.before}{r.after}{r.detail}" for r in session.exec(select(AuditLog)).all()
        ]
    for text in every:
        for plain in (resident_id(), corrected_id(), "13937131234"):
            assert plain not in text


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"birth_date": "2022-03-16"}, "birth_date", "出生日期与证件号码不符"),
        ({"gender": "女"}, "gender", "性别与证件号码不符"),
        ({"name": "李晓明2"}, "name", "“2”不是汉字"),
        ({"document_number": resident_id()[:17] + "0"}, "document_number", "校验位"),
        ({"document_type": "护照"}, "document_number", "请填写新证件上的完整号码"),
    ],
)
def test_a_bad_value_names_the_field_and_nothing_is_written(
    actors: dict[str, Actor], changes: dict[str, object], field: str, message: str
) -> None:
    child_id = numbered_child(actors)
    with pytest.raises(ValidationError) as refused:
        key_changes.request_key_change(actors["clerk"], child_id, changes, "监护人申请", FILES, today=TODAY)
    assert message in refused.value.errors.get(field, ""), refused.value.errors
    assert key_change_requests() == [] and evidence_count() == 0


def test_refusals(actors: dict[str, Actor]) -> None:
    clerk = actors["clerk"]
    child_id = numbered_child(actors)
    saved_id = enter(clerk, name="王小红", gender="女", sequence=2)
    with pytest.raises(ServiceError, match="只有审核通过、已有学籍号的幼儿"):
        key_changes.request_key_change(clerk, saved_id, {"name": "王晓红"}, "监护人申请", FILES, today=TODAY)
    with pytest.raises(ServiceError, match="无需申请变更"):
        key_changes.request_key_change(
            clerk, child_id, {"name": " 李小明 ", "document_number": ""}, "监护人申请", FILES, today=TODAY
        )
    with pytest.raises(ServiceError, match="请上传监护人的申请书"):
        key_changes.request_key_change(clerk, child_id, {"name": "李晓明"}, "监护人申请", [], today=TODAY)
    with pytest.raises(ServiceError, match="类型不支持"):
        key_changes.request_key_change(clerk, child_id, {"name": "李晓明"}, "监护人申请", [("a.png", b"x")])
    with pytest.raises(ValidationError, match="请填写变更原因"):
        key_changes.request_key_change(clerk, child_id, {"name": "李晓明"}, " ", FILES, today=TODAY)
    with pytest.raises(ServiceError, match="只能修改"):
        key_changes.request_key_change(clerk, child_id, {"address": "郑州"}, "监护人申请", FILES, today=TODAY)
    with pytest.raises(PermissionDenied):  # only the institution's clerk asks
        key_changes.request_key_change(institution_reviewer(), child_id, {"name": "李晓明"}, "申请", FILES)
    with pytest.raises(NotFound):  # another institution's clerk does not see the child
        key_changes.request_key_change(clerk_of("4101220004"), child_id, {"name": "李晓明"}, "申请", FILES)
    assert key_change_requests() == [] and evidence_count() == 0

    first = key_changes.request_key_change(clerk, child_id, {"name": "李晓明"}, "监护人申请", FILES, today=TODAY)
    with pytest.raises(ServiceError, match="已有待审核的申请"):  # one open change per child
        key_changes.request_key_change(clerk, child_id, {"name": "李明明"}, "监护人申请", FILES, today=TODAY)
    assert len(key_change_requests()) == 1 and evidence_count() == 1

    # Only the institution's own reviewer decides (the county only looks, the setting being off).
    with pytest.raises(ServiceError, match="应由幼儿园审核员处理"):
        workflow.decide(clerk, first.id or 0, "approve")
    with pytest.raises(ServiceError, match="应由幼儿园审核员处理"):
        workflow.decide(actors["county"], first.id or 0, "approve")
    with pytest.raises(NotFound):
        workflow.decide(institution_reviewer("4101220004"), first.id or 0, "approve")
    assert stored(child_id).name == "李小明"
    # Returned with a reason: nothing changes, and the clerk may ask again.
    workflow.decide(institution_reviewer(), first.id or 0, "return", "户口簿照片不清晰")
    assert stored(child_id).name == "李小明"
    (returned,) = key_changes.list_key_changes(clerk)
    assert returned.state_label == "已驳回" and returned.return_reason == "户口簿照片不清晰"
    key_changes.request_key_change(clerk, child_id, {"name": "李晓明"}, "监护人申请，附清晰照片", FILES, today=TODAY)


def test_the_county_reviews_too_when_the_setting_says_so(
    actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_KEY_CHANGE_COUNTY_REVIEW", "true")
    reset_settings_cache()
    child_id = numbered_child(actors)
    request = key_changes.request_key_change(
        actors["clerk"], child_id, {"name": "李晓明"}, "监护人申请", FILES, today=TODAY
    )
    workflow.decide(institution_reviewer(), request.id or 0, "approve", today=TODAY)
    assert stored(child_id).name == "李小明"  # not yet: the county's turn
    (row,) = workflow.queue(actors["county"], kind=key_changes.KIND_KEY_CHANGE).rows
    assert row.step_label == "县级审核"
    with pytest.raises(ServiceError, match="应由县级审核员"):
        workflow.decide(institution_reviewer(), request.id or 0, "approve")
    workflow.decide(actors["county"], request.id or 0, "approve")
    assert stored(child_id).name == "李晓明" and stored(child_id).state == "approved"


def test_a_corrected_id_held_elsewhere_makes_a_problem_record(actors: dict[str, Actor]) -> None:
    """The change applies (the documents prove it) and the province-wide check runs again: the
    number is held by an approved child of another county's institution, so a dispute opens."""
    other_clerk = clerk_of("4101020001")
    holder = numbered_child(
        actors, clerk=other_clerk, county=reviewer_of(Level.COUNTY, "410102"), birth=NEW_BIRTH, name="李晓明"
    )
    child_id = numbered_child(actors)
    number = children.number_of(stored(child_id))
    request = key_changes.request_key_change(
        actors["clerk"],
        child_id,
        {"birth_date": NEW_BIRTH.isoformat(), "document_number": corrected_id()},
        "监护人申请更正出生日期",
        FILES,
        today=TODAY,
    )
    workflow.decide(institution_reviewer(), request.id or 0, "approve")
    child = stored(child_id)
    assert child.state == "problem" and child.birth_date == NEW_BIRTH
    assert children.number_of(child) == number  # the number stays
    assert stored(holder).state == "approved"
    (view,) = problems.list_disputes(actors["clerk"])
    assert (view.claimant.child.id, view.holder.child.id) == (child_id, holder)
    assert view.kind == "same_id"
