"""Children's records through the services: classes, the form's rules, encryption at rest,
submission and county review, the duplicate check and student numbers (G / J / L)."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import func, select

from portal.auth.actor import Actor
from portal.auth.roles import Level
from portal.data import crypto, db
from portal.data.models import AuditLog, Child, Dispute
from portal.services import children, workflow
from portal.services.errors import NotFound, PermissionDenied, ServiceError, ValidationError
from portal.services.identity import check_character, is_student_number
from portal.settings import reset_settings_cache
from tests.factories import SCHOOL_YEAR, TODAY, child_values, clerk_of, resident_id, reviewer_of, with_class


def child_count() -> int:
    with db.session_scope() as session:
        return session.exec(select(func.count()).select_from(Child)).one()


def stored(child_id: int) -> Child:
    with db.session_scope() as session:
        child = session.get(Child, child_id)
        assert child is not None
        return child


def approve_all(reviewer: Actor) -> None:
    page = workflow.queue(reviewer, kind=children.KIND_CHILD, limit=500)
    assert page.rows, "nothing waits for the reviewer"
    outcomes = workflow.decide_many(reviewer, [r.id for r in page.rows], "approve")
    assert all(not message for _, message in outcomes), outcomes


def enter(clerk: Actor, **changes: object) -> int:
    return children.save_child(clerk, child_values(**changes), today=TODAY).child_id


# --- classes ------------------------------------------------------------------------------------


def test_classes_come_first_and_one_with_children_cannot_be_deleted(actors: dict[str, Actor]) -> None:
    clerk = actors["clerk"]
    with pytest.raises(ValidationError) as refused:
        children.save_child(clerk, child_values(), today=TODAY)
    assert "班级“小一班”不存在" in refused.value.errors["class_name"]
    small = with_class(clerk)
    assert small.capacity == 25  # the usual size of a 小班
    with pytest.raises(ValidationError) as taken:
        with_class(clerk)
    assert "已有名为“小一班”的班级" in taken.value.errors["name"]
    with pytest.raises(ValidationError) as year:
        children.create_class(clerk, {"name": "大一班", "grade": "大班", "school_year": "2026-2028"})
    assert "学年格式" in year.value.errors["school_year"]
    empty = with_class(clerk, "大一班", "大班")
    enter(clerk)
    with pytest.raises(ServiceError, match="还有 1 名幼儿，不能删除"):
        children.delete_class(clerk, small.id)
    children.delete_class(clerk, empty.id)
    assert [c.name for c in children.list_classes(clerk)] == ["小一班"]
    assert children.list_classes(clerk)[0].children == 1
    with pytest.raises(PermissionDenied):
        children.create_class(actors["county"], {"name": "x", "grade": "小班", "school_year": SCHOOL_YEAR})


def test_a_full_class_is_a_warning_not_an_error(actors: dict[str, Actor]) -> None:
    clerk = actors["clerk"]
    children.create_class(clerk, {"name": "小一班", "grade": "小班", "school_year": SCHOOL_YEAR, "capacity": 1})
    assert not [w for w in children.save_child(clerk, child_values(), today=TODAY).warnings if "额定" in w]
    second = children.save_child(clerk, child_values(name="王小红", gender="女", sequence=2), today=TODAY)
    assert any("超过额定人数 1" in w for w in second.warnings)
    assert child_count() == 2


# --- the form's rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": "李小明2"}, "name", "“2”不是汉字"),
        ({"name": "·阿依"}, "name", "间隔号（·）只能出现在两个字之间"),
        ({"gender": "女", "document_number": resident_id()}, "gender", "性别与证件号码不符：证件号码显示为男"),
        ({"birth_date": "2022-03-16"}, "birth_date", "出生日期与证件号码不符"),
        ({"document_number": resident_id()[:17] + "0"}, "document_number", "校验位（第 18 位）不正确"),
        ({"document_number": "41012220220315001"}, "document_number", "应为 18 位，当前为 17 位"),
        ({"document_number": ""}, "document_number", "请填写居民身份证号码"),
        ({"document_type": "无证件"}, "document_number", "不应填写证件号码"),
        ({"document_type": "台湾居民来往大陆通行证", "document_number": "12345678"}, "nationality", "中国台湾"),
        ({"guardian1_phone": "12345"}, "guardian1_phone", "监护人一电话应为 11 位手机号码"),
        ({"guardian2_name": "李强"}, "guardian2_name", "应同时填写"),
        ({"enrolment_date": "2020-01-01"}, "enrolment_date", "不能早于出生日期"),
        ({"gender": "未知"}, "gender", "性别应为：男、女"),
        ({"address": ""}, "address", "现住址为必填项"),
    ],
)
def test_each_error_names_the_field_and_nothing_is_written(
    actors: dict[str, Actor], changes: dict[str, object], field: str, message: str
) -> None:
    clerk = actors["clerk"]
    with_class(clerk)
    with pytest.raises(ValidationError) as refused:
        children.save_child(clerk, child_values(**changes), today=TODAY)
    assert message in refused.value.errors.get(field, ""), refused.value.errors
    assert child_count() == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "𠮷祥"},  # a character outside the basic plane (U+20BB7)
        {"name": "阿依古丽·买买提", "ethnicity": "维吾尔族"},
        {"name": "阿依古丽•买买提"},  # a look-alike dot is folded into the middle dot
        {"document_type": "港澳居民来往内地通行证", "document_number": "H12345678", "nationality": "中国香港"},
        {"document_type": "台湾居民来往大陆通行证", "document_number": "12345678", "nationality": "中国台湾"},
        {
            "document_type": "港澳台居民居住证",
            "document_number": (lambda b: b + check_character(b))("83000020220315001"),
            "nationality": "中国台湾",
        },
        {"document_type": "护照", "document_number": "E12345678", "nationality": "其他国家或地区", "name": "Emma Li"},
        {"document_type": "无证件", "document_number": ""},
    ],
)
def test_every_document_type_and_rare_names_are_accepted(actors: dict[str, Actor], changes: dict[str, object]) -> None:
    clerk = actors["clerk"]
    with_class(clerk)
    child_id = enter(clerk, **changes)
    shown = children.get_child(clerk, child_id)
    assert shown.row.name == children.normalise_name(str(changes.get("name", "李小明")))
    assert "𠮷" in shown.row.name if changes.get("name") == "𠮷祥" else True


def test_the_same_document_twice_in_one_institution_is_refused(actors: dict[str, Actor]) -> None:
    clerk = actors["clerk"]
    with_class(clerk)
    enter(clerk)
    with pytest.raises(ValidationError, match="本园已登记证件号码相同的幼儿"):
        enter(clerk, name="李晓明")
    assert child_count() == 1


# --- personal numbers at rest --------------------------------------------------------------------


def test_numbers_are_encrypted_hashed_masked_and_revealed_only_with_a_reason(
    actors: dict[str, Actor], database: str
) -> None:
    clerk = actors["clerk"]
    with_class(clerk)
    number = resident_id()
    child_id = enter(clerk, guardian2_relation="父亲", guardian2_name="李强", guardian2_phone="13800138000")
    row = stored(child_id)
    assert row.id_cipher and number not in row.id_cipher and row.id_hash
    assert crypto.decrypt(row.id_cipher, children.CTX_DOCUMENT) == number
    listed = children.list_children(clerk).rows[0]
    assert listed.document_masked == number[:6] + "********" + number[-4:]
    assert children.get_child(clerk, child_id).values["guardian1_phone"] == "139****1234"
    assert [r.id for r in children.find_by_document(clerk, "居民身份证", number.lower())] == [child_id]
    with pytest.raises(ValidationError, match="理由"):
        children.reveal(clerk, child_id, "document_number", "")
    assert children.reveal(clerk, child_id, "document_number", "核对户口簿") == number
    assert children.reveal(actors["county"], child_id, "guardian2_phone", "家访联系") == "13800138000"
    with pytest.raises(PermissionDenied):
        children.reveal(actors["province"], child_id, "document_number", "领导查看")  # a leader sees masked only
    other_clerk = clerk_of("4101220004")
    with pytest.raises(NotFound):
        children.reveal(other_clerk, child_id, "document_number", "核对信息")
    with db.session_scope() as session:
        reveals = session.exec(select(AuditLog).where(AuditLog.action == "personal_reveal")).all()
    assert len(reveals) == 2 and "核对户口簿" in reveals[0].detail
    if database.startswith("sqlite"):
        db.dispose()  # checkpoint the write-ahead log into the file
        raw = b"".join(p.read_bytes() for p in Path(database.removeprefix("sqlite:///")).parent.glob("portal.db*"))
        for secret in (number, "13937131234", "13800138000"):
            assert secret.encode() not in raw


# --- submission, review, numbers -----------------------------------------------------------------


def test_submit_review_return_correct_and_approve_gives_a_g_number(actors: dict[str, Actor]) -> None:
    clerk, county = actors["clerk"], actors["county"]
    with_class(clerk)
    child_id = enter(clerk)
    with pytest.raises(PermissionDenied):
        children.submit_children(county)
    assert children.submit_children(clerk, [child_id], today=TODAY) == 1
    with pytest.raises(ServiceError, match="不能修改"):
        children.save_child(clerk, child_values(), child_id, today=TODAY)
    request_id = workflow.queue(county, kind=children.KIND_CHILD).rows[0].id
    assert ("证件号码", "", resident_id()[:6] + "********" + resident_id()[-4:]) in workflow.detail(
        county, request_id
    ).changes
    workflow.decide(county, request_id, "return", "家庭住址不完整")
    returned = children.get_child(clerk, child_id).row
    assert (returned.state, returned.return_reason) == ("returned", "家庭住址不完整")
    # Blank personal numbers on an edit keep the stored ones.
    children.save_child(
        clerk,
        child_values(address="中牟县官渡镇小庙王村 8 号院 3 单元", document_number="", guardian1_phone=""),
        child_id,
        today=TODAY,
    )
    assert crypto.decrypt(stored(child_id).id_cipher or "", children.CTX_DOCUMENT) == resident_id()
    children.submit_children(clerk, today=TODAY)
    approve_all(county)
    approved = stored(child_id)
    assert approved.state == "approved" and approved.student_number_kind == "G"
    assert children.number_of(approved) == "G" + resident_id()
    assert children.get_child(clerk, child_id).row.student_number_masked == "G410122********" + resident_id()[-4:]


def test_children_without_a_usable_id_get_j_numbers_and_configured_documents_l(
    actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    clerk, county = actors["clerk"], actors["county"]
    with_class(clerk)
    first = enter(clerk, document_type="无证件", document_number="")
    second = enter(clerk, name="王小红", gender="女", document_type="无证件", document_number="")
    children.submit_children(clerk, today=TODAY)
    approve_all(county)
    numbers = [children.number_of(stored(i)) for i in (first, second)]
    assert [n[:15] for n in numbers] == ["J41012220220315"] * 2
    assert numbers[0] != numbers[1] and all(is_student_number(n) for n in numbers)
    monkeypatch.setenv("PORTAL_TEMPORARY_NUMBER_DOCUMENTS", "港澳居民来往内地通行证,护照")
    reset_settings_cache()
    hk = enter(
        clerk,
        name="陈家乐",
        document_type="港澳居民来往内地通行证",
        document_number="H12345678",
        nationality="中国香港",
    )
    children.submit_children(clerk, today=TODAY)
    approve_all(county)
    assert children.number_of(stored(hk)) == "L4101222022031500" + "01"
    assert stored(hk).student_number_kind == "L"


def test_a_number_never_changes_once_issued(actors: dict[str, Actor]) -> None:
    """A later correction of a key field (the key-information change of issue 5 rewrites these
    columns) and a fresh approval keep the number issued first."""
    clerk, county = actors["clerk"], actors["county"]
    with_class(clerk)
    child_id = enter(clerk)
    children.submit_children(clerk, today=TODAY)
    approve_all(county)
    issued = children.number_of(stored(child_id))
    corrected = child_values(sequence=7, birth=date(2022, 3, 15))
    with db.session_scope(write=True) as session:
        child = session.get(Child, child_id)
        assert child is not None
        institution = session.get(children.Institution, child.institution_id)
        assert institution is not None
        for key, value in children.column_values(corrected, institution, child.class_id).items():
            setattr(child, key, value)
        assert children.approve_child(session, child, county) is None
    assert children.number_of(stored(child_id)) == issued != "G" + corrected["document_number"]


def test_the_duplicate_check_runs_province_wide(actors: dict[str, Actor]) -> None:
    clerk, county = actors["clerk"], actors["county"]
    with_class(clerk)
    enter(clerk)
    children.submit_children(clerk, today=TODAY)
    approve_all(county)
    # The same ID number in another county of the same city; then across cities.
    zhongyuan, lankao = clerk_of("4101020001"), clerk_of("4102250001")
    for other in (zhongyuan, lankao):
        with_class(other)
        enter(other, name="李晓明")
        children.submit_children(other, today=TODAY)
    approve_all(reviewer_of(Level.COUNTY, "410102"))
    approve_all(reviewer_of(Level.COUNTY, "410225"))
    states = {r.institution_name: r.state for r in children.list_children(actors["county"]).rows}
    assert states == {"中牟县官渡镇小庙王村幼儿园": "approved"}
    with db.session_scope() as session:
        disputes = session.exec(select(Dispute).order_by(Dispute.id)).all()
        assert [(d.kind, d.level, d.city_code, d.county_code) for d in disputes] == [
            ("same_id", "city", "410100", None),
            ("same_id", "province", None, None),
        ]
    # Without a document: the same name, gender and birth date.
    with_class(clerk_of("4101220004"))
    enter(clerk, name="赵一", document_type="无证件", document_number="")
    enter(clerk_of("4101220004"), name="赵一", document_type="无证件", document_number="")
    children.submit_children(clerk, today=TODAY)
    children.submit_children(clerk_of("4101220004"), today=TODAY)
    approve_all(county)
    with db.session_scope() as session:
        last = session.exec(select(Dispute).order_by(Dispute.id.desc())).first()  # type: ignore[union-attr]
        assert last is not None and (last.kind, last.level, last.county_code) == ("same_identity", "county", "410122")


def test_overdue_records_are_listed(actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    clerk = actors["clerk"]
    with_class(clerk)
    late = enter(clerk, enrolment_date="2026-09-01")
    enter(clerk, name="王小红", gender="女", sequence=2, enrolment_date=workflow.local_today().isoformat())
    assert [r.id for r in children.overdue_children(clerk)] == [late]
    assert [r.id for r in children.overdue_children(actors["county"])] == [late]
    monkeypatch.setenv("PORTAL_CHILD_RECORD_MONTHS", "24")
    reset_settings_cache()
    assert children.overdue_children(clerk) == []


def test_scope_a_county_sees_only_its_own_children(actors: dict[str, Actor]) -> None:
    clerk = actors["clerk"]
    with_class(clerk)
    child_id = enter(clerk)
    other_county = reviewer_of(Level.COUNTY, "410102")
    assert children.list_children(other_county).total == 0
    with pytest.raises(NotFound):
        children.get_child(other_county, child_id)
    assert children.list_children(actors["city"]).total == 1
    assert children.state_counts(actors["county"]) == {"saved": 1}


@pytest.mark.parametrize("documented", [True, False])
def test_concurrent_approvals_never_share_a_number(actors: dict[str, Actor], documented: bool) -> None:
    """Children approved at the same moment by different reviewers: with one ID number, one is
    numbered and the other a problem record; without documents, J sequences never collide."""
    pairs = [("4101220002", Level.COUNTY, "410122"), ("4101020001", Level.COUNTY, "410102")]
    if documented:
        pairs += [("4103110001", Level.COUNTY, "410311"), ("4102250001", Level.COUNTY, "410225")]
    reviewers = []
    for code, level, region in pairs:
        clerk = clerk_of(code)
        with_class(clerk)
        if documented:
            enter(clerk)
        else:
            for n in range(3):
                enter(
                    clerk, name=f"张{'一二三'[n]}{'甲乙'[len(reviewers)]}", document_type="无证件", document_number=""
                )
        children.submit_children(clerk, today=TODAY)
        reviewers.append(reviewer_of(level, region))
    if not documented:  # the same county numbers children of both institutions: same J prefix
        pairs_in_county = clerk_of("4101220004")
        with_class(pairs_in_county)
        for n in range(3):
            enter(pairs_in_county, name=f"刘{'一二三'[n]}", document_type="无证件", document_number="")
        children.submit_children(pairs_in_county, today=TODAY)
        reviewers.append(actors["county"])
    barrier = threading.Barrier(len(reviewers))
    failures: list[BaseException] = []

    def approve(reviewer: Actor) -> None:
        try:
            rows = workflow.queue(reviewer, kind=children.KIND_CHILD).rows
            barrier.wait(timeout=30)
            for row in rows:
                workflow.decide(reviewer, row.id, "approve")
        except ServiceError as exc:
            if "已被其他审核人处理" not in str(exc) and "已处理" not in str(exc):
                failures.append(exc)
        except BaseException as exc:  # collected for the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=approve, args=(r,)) for r in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    with db.session_scope() as session:
        rows = session.exec(select(Child)).all()
        numbers = [children.number_of(c) for c in rows if c.student_number_hash]
        states = sorted(c.state for c in rows)
    assert len(numbers) == len(set(numbers))
    if documented:
        assert states == ["approved", "problem", "problem", "problem"]
    else:
        assert states == ["approved"] * 9 and all(is_student_number(n) for n in numbers)


def test_the_unique_number_index_is_the_last_guard(actors: dict[str, Actor]) -> None:
    """If a record outside the duplicate check still holds the number (a closed record keeps its
    number for good), the approval does not fail: the record becomes a problem record."""
    clerk, county = actors["clerk"], actors["county"]
    with_class(clerk)
    first = enter(clerk)
    children.submit_children(clerk, today=TODAY)
    approve_all(county)
    with db.session_scope(write=True) as session:
        holder = session.get(Child, first)
        assert holder is not None
        holder.state = "graduated"  # closed records keep their numbers (issue 5)
        session.add(holder)
    second_clerk = clerk_of("4101220004")
    with_class(second_clerk)
    second = enter(second_clerk, name="李晓明")
    children.submit_children(second_clerk, today=TODAY)
    approve_all(county)
    assert stored(second).state == "problem" and stored(second).student_number_hash is None
