"""Children transferred in from another province (§27.3, issue 5): the receiving clerk enters the
child with the province and the number it gave the child; the county's approval keeps that number
(one number for life); the record is marked; the rules of the two fields; the import; a number
already held in this province becomes a problem record."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import col, func, select

from portal.auth.actor import Actor
from portal.auth.roles import Level
from portal.data import crypto, db
from portal.data.child_fields import CHILD, ORIGIN_PROVINCES
from portal.data.models import AuditLog, Child, Dispute, NumberSequence, Request
from portal.services import child_import, children, key_changes, problems, workflow
from portal.services.errors import ServiceError, ValidationError
from portal.services.identity import student_number_j, student_number_l
from tests.factories import TODAY, child_values, clerk_of, resident_id, reviewer_of, with_class
from tests.services.test_children import approve_all, child_count, enter, stored
from tests.services.test_key_changes import FILES, institution_reviewer

BIRTH = date(2022, 3, 15)
HEBEI_J = student_number_j("130102", BIRTH, 5)  # 河北省石家庄市长安区
SHANDONG_L = student_number_l("370102", BIRTH, 12)  # 山东省济南市历下区, a temporary number
LABEL = {spec.name: spec.label for spec in CHILD.fields}


def from_hebei(**changes: Any) -> dict[str, Any]:
    """A child without a document, transferred in from 河北省 with a J number."""
    values = child_values(document_type="无证件", document_number="", origin_province="河北省", origin_number=HEBEI_J)
    values.update(changes)
    return values


def refused(clerk: Actor, values: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ValidationError) as error:
        children.save_child(clerk, values, today=TODAY)
    return error.value.errors


def origin_of(child_id: int) -> tuple[str, str]:
    child = stored(child_id)
    return child.origin_province, children.decrypt_field(child.origin_number_cipher, children.CTX_STUDENT_NUMBER)


@pytest.fixture
def clerk(actors: dict[str, Actor]) -> Actor:
    with_class(actors["clerk"])
    return actors["clerk"]


# --- the number is kept ----------------------------------------------------------------------------


def test_a_j_number_from_another_province_is_kept_on_approval_and_the_record_is_marked(
    actors: dict[str, Actor], clerk: Actor
) -> None:
    county = actors["county"]
    child_id = children.save_child(clerk, from_hebei(), today=TODAY).child_id
    # Stored encrypted, shown masked; the mark on the list and the record.
    assert origin_of(child_id) == ("河北省", HEBEI_J)
    assert HEBEI_J not in (stored(child_id).origin_number_cipher or "")
    detail = children.get_child(clerk, child_id)
    assert detail.values["origin_province"] == "河北省"
    assert detail.values["origin_number"] == HEBEI_J[:7] + "********" + HEBEI_J[-4:]
    assert detail.row.origin_mark == "外省转入（河北省）"
    assert [r.origin_mark for r in children.list_children(county).rows] == ["外省转入（河北省）"]
    # The county sees both fields in the request, the number masked.
    children.submit_children(clerk, today=TODAY)
    request_id = workflow.queue(county, kind=children.KIND_CHILD).rows[0].id
    shown = {label: new for label, _old, new in workflow.detail(county, request_id).changes}
    assert shown["外省转入·原省份"] == "河北省"
    assert shown["外省转入·原学籍号"] == HEBEI_J[:7] + "********" + HEBEI_J[-4:]

    approve_all(county)
    child = stored(child_id)
    assert child.state == "approved" and child.student_number_kind == "J"
    assert children.number_of(child) == HEBEI_J  # exactly the other province's number
    assert child.student_number_hash == crypto.lookup_hash(HEBEI_J, children.CTX_STUDENT_NUMBER)
    assert children.get_child(county, child_id).row.origin_mark == "外省转入（河北省）"
    with db.session_scope() as session:
        # No sequence of this county was taken for it, and no full number in the audit log.
        assert session.exec(select(func.count()).select_from(NumberSequence)).one() == 0
        issued = session.exec(select(AuditLog).where(AuditLog.action == "student_number_issue")).one()
        assert "沿用河北省的学籍号" in issued.detail
        every = [f"{r.before}{r.after}{r.detail}" for r in session.exec(select(AuditLog)).all()]
        every += [r.payload for r in session.exec(select(Request)).all()]
    assert not [text for text in every if HEBEI_J in text]
    # A child of this county born the same day still gets the first J number of its own sequence.
    local = enter(clerk, name="王小红", gender="女", document_type="无证件", document_number="")
    children.submit_children(clerk, today=TODAY)
    approve_all(county)
    assert children.number_of(stored(local)).startswith("J41012220220315001")


def test_a_g_number_must_be_g_plus_the_childs_resident_id(actors: dict[str, Actor], clerk: Actor) -> None:
    hebei_id = resident_id("130102", birth=BIRTH)
    values = child_values(document_number=hebei_id, hukou_region="河北省石家庄市长安区", origin_province="河北省")
    errors = refused(clerk, {**values, "origin_number": "G" + resident_id("130102", birth=BIRTH, sequence=2)})
    assert "外省转入·原学籍号以 G 开头时应为“G”加该幼儿的居民身份证号码" in errors["origin_number"]
    errors = refused(
        clerk, {**values, "document_type": "无证件", "document_number": "", "origin_number": "G" + hebei_id}
    )
    assert "居民身份证" in errors["origin_number"] and list(errors) == ["origin_number"]
    assert child_count() == 0

    child_id = children.save_child(clerk, {**values, "origin_number": "g" + hebei_id}, today=TODAY).child_id
    children.submit_children(clerk, today=TODAY)
    approve_all(actors["county"])
    child = stored(child_id)
    assert (child.state, child.student_number_kind, children.number_of(child)) == ("approved", "G", "G" + hebei_id)


def test_an_l_number_is_kept_too(actors: dict[str, Actor], clerk: Actor) -> None:
    child_id = children.save_child(
        clerk, from_hebei(origin_province="山东省", origin_number=SHANDONG_L), today=TODAY
    ).child_id
    children.submit_children(clerk, today=TODAY)
    approve_all(actors["county"])
    assert (stored(child_id).student_number_kind, children.number_of(stored(child_id))) == ("L", SHANDONG_L)


# --- the rules of the two fields ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        # J number born 2022-03-16 for a child born 2022-03-15.
        (
            {"origin_number": student_number_j("130102", date(2022, 3, 16), 5)},
            "origin_number",
            "外省转入·原学籍号第 8–15 位的出生日期（2022-03-16）与幼儿的出生日期（2022-03-15）不一致",
        ),
        ({"origin_number": ""}, "origin_number", "选择了外省转入·原省份“河北省”，请填写外省转入·原学籍号"),
        ({"origin_province": None}, "origin_province", "填写了外省转入·原学籍号，请选择外省转入·原省份"),
        ({"origin_province": "河南省"}, "origin_province", "外省转入·原省份不能是本省（河南省）"),
        ({"origin_province": "香港特别行政区"}, "origin_province", "外省转入·原省份应为：北京市"),
        ({"origin_number": HEBEI_J[:-1] + ("0" if HEBEI_J[-1] != "0" else "1")}, "origin_number", "校验位不正确"),
        ({"origin_number": HEBEI_J[:-1]}, "origin_number", "外省转入·原学籍号应为 19 位"),
        ({"origin_number": "X" + HEBEI_J[1:]}, "origin_number", "外省转入·原学籍号应以 G、J 或 L 开头"),
        ({"origin_number": "L13010220221399" + "0001"}, "origin_number", "出生日期“20221399”不是有效日期"),
    ],
)
def test_each_wrong_origin_is_refused_naming_the_field_and_nothing_is_saved(
    clerk: Actor, changes: dict[str, Any], field: str, message: str
) -> None:
    errors = refused(clerk, from_hebei(**changes))
    assert message in errors.get(field, ""), errors
    assert child_count() == 0


def test_the_provinces_offered_are_the_mainland_ones(clerk: Actor) -> None:
    spec = CHILD.spec("origin_province")
    assert spec.kind == "choice" and not spec.required and len(spec.choices) == 31
    assert {"北京市", "河北省", "新疆维吾尔自治区", "河南省"} <= set(spec.choices)
    assert ORIGIN_PROVINCES["河北省"] == "13"
    assert not CHILD.spec("origin_number").required


def test_an_edit_keeps_the_stored_number_when_left_blank_and_clearing_both_removes_the_mark(clerk: Actor) -> None:
    child_id = children.save_child(clerk, from_hebei(), today=TODAY).child_id
    children.save_child(clerk, from_hebei(origin_number="", address="中牟县官渡镇新村 1 号"), child_id, today=TODAY)
    assert origin_of(child_id) == ("河北省", HEBEI_J)
    assert stored(child_id).address == "中牟县官渡镇新村 1 号"
    children.save_child(clerk, from_hebei(origin_province=None, origin_number=""), child_id, today=TODAY)
    assert origin_of(child_id) == ("", "")
    assert children.get_child(clerk, child_id).row.origin_mark == ""


# --- the import ----------------------------------------------------------------------------------------


def csv_of(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([spec.label for spec in CHILD.fields])
    for row in rows:
        cells = [row.get(spec.name, "") for spec in CHILD.fields]
        writer.writerow(["是" if c is True else "否" if c is False else "" if c is None else c for c in cells])
    return out.getvalue().encode("utf-8")


def test_the_template_has_the_two_columns_and_an_import_of_them_works(actors: dict[str, Actor], clerk: Actor) -> None:
    sheet = load_workbook(io.BytesIO(child_import.template_workbook()))["幼儿信息"]
    headers = [cell.value for cell in sheet[1]]
    assert headers[-2:] == ["外省转入·原省份", "外省转入·原学籍号"]  # optional: no * mark

    data = csv_of(
        [
            from_hebei(),
            child_values(name="王小红", gender="女", sequence=2),
            child_values(
                name="张三", sequence=3, origin_province="河南省", origin_number="G" + resident_id(sequence=3)
            ),
        ]
    )
    result = child_import.import_children(clerk, "幼儿.csv", data, today=TODAY)
    assert (result.inserted, result.refused) == (2, 1)
    (error,) = result.errors
    assert error.name == "张三" and "不能是本省" in error.messages["外省转入·原省份"]
    with db.session_scope() as session:
        imported = {c.name: c.id for c in session.exec(select(Child))}
    assert origin_of(imported["李小明"]) == ("河北省", HEBEI_J)
    assert origin_of(imported["王小红"]) == ("", "")
    # Importing the same file again changes nothing (the origin is part of the record's content).
    again = child_import.import_children(clerk, "幼儿.csv", data, today=TODAY)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    # The export shows the origin, the number masked.
    exported = load_workbook(io.BytesIO(child_import.export_children(clerk)))["幼儿信息"]
    rows = [[cell.value for cell in row] for row in exported.iter_rows()]
    columns = rows[0]
    hebei_row = next(r for r in rows if r[columns.index("姓名")] == "李小明")
    assert hebei_row[columns.index("外省转入·原省份")] == "河北省"
    assert hebei_row[columns.index("外省转入·原学籍号")] == HEBEI_J[:7] + "********" + HEBEI_J[-4:]

    children.submit_children(clerk, today=TODAY)
    approve_all(actors["county"])
    assert children.number_of(stored(imported["李小明"])) == HEBEI_J


# --- a number already held in this province ------------------------------------------------------------


def test_a_number_already_held_in_this_province_becomes_a_problem_record(
    actors: dict[str, Actor], clerk: Actor
) -> None:
    county = actors["county"]
    first = children.save_child(clerk, from_hebei(), today=TODAY).child_id
    children.submit_children(clerk, today=TODAY)
    approve_all(county)
    # Another kindergarten of another county enters a different child with the same number.
    other_clerk, other_county = clerk_of("4101020001"), reviewer_of(Level.COUNTY, "410102")
    with_class(other_clerk)
    saved = children.save_child(
        other_clerk,
        child_values(name="周小雨", gender="女", sequence=4, origin_province="山东省", origin_number=HEBEI_J),
        today=TODAY,
    )
    assert any("外省转入·原学籍号已被本省记录（李小明）使用" in w for w in saved.warnings)
    children.submit_children(other_clerk, today=TODAY)
    approve_all(other_county)  # no exception, no failed decision
    second = stored(saved.child_id)
    assert second.state == "problem" and second.student_number_hash is None
    assert children.number_of(stored(first)) == HEBEI_J and stored(first).state == "approved"
    with db.session_scope() as session:
        dispute = session.exec(select(Dispute)).one()
        assert (dispute.kind, dispute.child_id, dispute.other_child_id) == ("same_number", saved.child_id, first)
        assert dispute.level == "city"
    assert problems.get_dispute(other_clerk, dispute.id or 0).kind_label == "学籍号重复（外省转入）"
    city = actors["city"]
    with pytest.raises(ServiceError, match="学籍号相同，不能都保留"):
        problems.arbitrate(city, dispute.id or 0, "different", "两名不同幼儿")
    # Corrected by the clerk who copied the number wrong, and approved with its own number.
    children.save_child(
        other_clerk,
        child_values(name="周小雨", gender="女", sequence=4, origin_province=None, origin_number=""),
        saved.child_id,
        today=TODAY,
    )
    children.submit_children(other_clerk, today=TODAY)
    approve_all(other_county)
    assert children.number_of(stored(saved.child_id)) == "G" + resident_id(sequence=4, male=False)


def test_a_key_change_keeps_the_origin(actors: dict[str, Actor], clerk: Actor) -> None:
    """A key change re-checks the whole record from its shown (masked) values: the number brought
    from the other province is kept, never overwritten by its mask."""
    child_id = children.save_child(clerk, from_hebei(), today=TODAY).child_id
    children.submit_children(clerk, today=TODAY)
    approve_all(actors["county"])
    request = key_changes.request_key_change(
        clerk, child_id, {"name": "李晓明"}, "监护人申请更正姓名，附户口簿", FILES, today=TODAY
    )
    workflow.decide(institution_reviewer(), request.id or 0, "approve")
    child = stored(child_id)
    assert child.name == "李晓明" and children.number_of(child) == HEBEI_J
    assert origin_of(child_id) == ("河北省", HEBEI_J)
    with db.session_scope() as session:
        payloads = [r.payload + (r.before or "") for r in session.exec(select(Request)).all()]
        applied = session.exec(select(AuditLog).where(col(AuditLog.action) == "key_change_apply")).one()
    assert not [p for p in payloads if HEBEI_J in p]
    assert json.loads(applied.after or "{}")["name"] == "李晓明"
