"""Children's records: classes, the child form's rules, saving, submission, county review, the
province-wide duplicate check and student numbers (MISSION.md R3.1–R3.4; DOMAIN.md).

A child's record goes saved → submitted → approved (or returned, with the reviewer's reason).
Approval runs the duplicate check: the same document number anywhere in the province, or, for a
child without a document, the same name, gender and birth date. A child who passes gets a
student number (G / J / L) that never changes; one who fails becomes a problem record
(``portal.services.problems``). A child transferred in from another province (§27.3) is entered
with that province and the number it gave the child, and keeps that number when approved here.

ID numbers, student numbers and guardians' phones are stored encrypted with a keyed hash; every
list and export shows them masked. ``reveal`` shows one number to a user who may, with a reason,
and audits it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import String, any_, bindparam, update
from sqlalchemy import func as sa_func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, may, require, scope_filter
from portal.auth.roles import Level
from portal.clock import utcnow
from portal.data import crypto, db
from portal.data.child_fields import CHILD, CLASS, FLAGS, GRADE_CAPS, ORIGIN_PROVINCES
from portal.data.choices import DocumentType
from portal.data.fields import clean, clean_many, display
from portal.data.models import Child, Institution, NumberSequence, Region, Request, RequestEvent, SchoolClass
from portal.services import audit, workflow
from portal.services.errors import NotFound, ServiceError, ValidationError
from portal.services.identity import (
    check_document,
    fold_width,
    is_student_number,
    student_number_g,
    student_number_j,
    student_number_l,
)
from portal.services.inputs import check_text, search_term
from portal.services.workflow import Step, Workflow
from portal.settings import get_settings

KIND_CHILD = "child_record"

STATE_LABELS = {
    "saved": "已保存",
    "submitted": "已提交",
    "approved": "审核通过",
    "returned": "已驳回",
    "problem": "问题学籍",
    "deleted": "已删除",
    "graduated": "已毕业",
    "left": "已离园",
}
EDITABLE = ("saved", "returned", "problem")
CLOSED = ("deleted", "graduated", "left")  # records no longer in a class (a graduate keeps its number)
# The duplicate check at approval compares against the records that hold or dispute a number;
# an import also warns about records merely submitted elsewhere.
HOLDING = ("approved", "problem")
CLAIMING = ("submitted", *HOLDING)

CTX_DOCUMENT = "child.document_number"
CTX_PHONE = "child.phone"
CTX_STUDENT_NUMBER = "child.student_number"
CTX_IDENTITY = "child.identity"
CTX_CONTENT = "child.content"

NATIONALITY_BY_DOCUMENT: dict[str, tuple[str, ...]] = {
    DocumentType.RESIDENT_ID: ("中国",),
    DocumentType.HK_MACAO_PERMIT: ("中国香港", "中国澳门"),
    DocumentType.TAIWAN_PERMIT: ("中国台湾",),
    DocumentType.HMT_RESIDENCE: ("中国香港", "中国澳门", "中国台湾"),
    DocumentType.FOREIGN_PERMANENT: ("其他国家或地区",),
    DocumentType.PASSPORT: ("中国", "中国香港", "中国澳门", "中国台湾", "其他国家或地区"),
}
FOREIGN_DOCUMENTS = (DocumentType.FOREIGN_PERMANENT, DocumentType.PASSPORT)
_LABELS = {spec.name: spec.label for spec in CHILD.fields}

MIDDLE_DOTS = str.maketrans({"•": "·", "・": "·", "．": "·", "‧": "·", "﹒": "·"})
_CJK_RANGES = (
    (0x3400, 0x4DBF),  # Extension A
    (0x4E00, 0x9FFF),  # the basic block
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0x20000, 0x323AF),  # Extensions B–H (𠮷 is U+20BB7)
    (0x2F800, 0x2FA1F),  # compatibility supplement
)
PHONE = re.compile(r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|\+?852\d{8}|\+?853\d{8}|\+?886\d{9,10}", re.ASCII)


_CHINESE_NAME = re.compile(
    "[〇·" + "".join(f"{chr(low)}-{chr(high)}" for low, high in _CJK_RANGES) + "]+"
)  # every character a Chinese character or the middle dot: the usual name, checked at once


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return char == "〇" or any(low <= code <= high for low, high in _CJK_RANGES)


def normalise_name(name: str) -> str:
    """Trim, fold the look-alike dots into the middle dot ·, collapse spaces."""
    return " ".join(str(name).translate(MIDDLE_DOTS).split())


def name_problem(name: str, foreign: bool) -> str | None:
    """What is wrong with a child's name, or None. Chinese characters of any plane and the middle
    dot are allowed; a foreign child's name may also use Latin letters, spaces and hyphens."""
    if not name:
        return "姓名为必填项。"
    if name.startswith("·") or name.endswith("·") or "··" in name:
        return "姓名中的间隔号（·）只能出现在两个字之间。"
    if _CHINESE_NAME.fullmatch(name):
        return None
    for char in name:
        if _is_cjk(char) or char == "·":
            continue
        if foreign and (char.isascii() and (char.isalpha() or char in " -'")):
            continue
        if foreign:
            return f"姓名中的“{char}”不是汉字、字母或间隔号。"
        return f"姓名中的“{char}”不是汉字或间隔号（·）：请填写户口簿上的姓名。"
    return None


def school_year_of(day: date) -> str:
    """The school year a day belongs to: September to August (2026-09-01 → 2026-2027)."""
    start = day.year if day.month >= 9 else day.year - 1
    return f"{start}-{start + 1}"


def record_deadline(enrolment: date) -> date:
    """The day by which a child's record should be submitted (a setting: one month by default)."""
    return enrolment + relativedelta(months=get_settings().child_record_months)


# --- checking a record --------------------------------------------------------------------------


@dataclass
class CheckedChild:
    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _normalised(raw: dict[str, Any]) -> dict[str, Any]:
    raw = dict(raw)
    if raw.get("name") is not None:
        raw["name"] = normalise_name(raw["name"])
    return raw


def check_child(
    raw: dict[str, Any],
    *,
    class_names: Iterable[str],
    today: date,
    known_region: Callable[[str], bool] | None = None,
    existing_document: str | None = None,
    province_code: str | None = None,
) -> CheckedChild:
    """Check one child's values by the rules of the form (the import uses the same rules, through
    ``check_children``).

    Each error names its field, in Chinese. ``existing_document`` is the stored number of a
    record being edited, used when the form leaves the number blank ("unchanged").
    ``province_code`` is the institution's province: a child does not transfer in from it.
    """
    values, errors = clean(CHILD, _normalised(raw))
    known = class_names if isinstance(class_names, set | frozenset | dict) else set(class_names)
    return _checked(values, errors, known, today, known_region, existing_document, province_code)


def check_children(
    raws: Sequence[dict[str, Any]],
    *,
    class_names: Iterable[str],
    today: date,
    known_region: Callable[[str], bool] | None = None,
    province_code: str | None = None,
) -> list[CheckedChild]:
    """``check_child`` of many new records (an import): the same outcome for each, the fields
    checked a column at a time (``fields.clean_many``: each distinct 民族 or 班级 once)."""
    known = class_names if isinstance(class_names, set | frozenset | dict) else set(class_names)
    return [
        _checked(values, errors, known, today, known_region, None, province_code)
        for values, errors in clean_many(CHILD, [_normalised(raw) for raw in raws])
    ]


def _checked(
    values: dict[str, Any],
    errors: dict[str, str],
    class_names: set[str] | frozenset[str] | dict[str, Any],
    today: date,
    known_region: Callable[[str], bool] | None,
    existing_document: str | None,
    province_code: str | None,
) -> CheckedChild:
    """The rules across fields, after each field is checked on its own."""
    result = CheckedChild(values=values, errors=errors)
    document_type = values.get("document_type")
    foreign = document_type in FOREIGN_DOCUMENTS
    if "name" not in errors and values.get("name"):
        problem = name_problem(values["name"], foreign)
        if problem:
            errors["name"] = problem
    birth = (
        date.fromisoformat(values["birth_date"]) if values.get("birth_date") and "birth_date" not in errors else None
    )
    enrolment = (
        date.fromisoformat(values["enrolment_date"])
        if values.get("enrolment_date") and "enrolment_date" not in errors
        else None
    )
    if birth is not None and birth > today:
        errors["birth_date"] = "出生日期不能晚于今天。"
        birth = None
    if birth is not None and birth < date(today.year - 10, 1, 1):
        errors["birth_date"] = "出生日期过早：学前儿童应在 10 周岁以下，请核对。"
        birth = None
    if enrolment is not None:
        if birth is not None and enrolment < birth:
            errors["enrolment_date"] = "入园日期不能早于出生日期。"
        elif enrolment > today + timedelta(days=92):
            errors["enrolment_date"] = "入园日期不能晚于今天三个月以上。"
        elif birth is not None and (enrolment.year - birth.year, enrolment.month, enrolment.day) >= (
            7,
            birth.month,
            birth.day,
        ):
            result.warnings.append("入园时已满 7 周岁，请核对出生日期和入园日期。")
    if document_type and "document_type" not in errors:
        number = values.get("document_number") or ""
        if not number and existing_document and document_type != DocumentType.NONE:
            number = existing_document
        check = check_document(
            DocumentType(document_type),
            number,
            birth_date=birth,
            gender=values.get("gender"),
            today=today,
            known_region=known_region,
        )
        for message in check.errors:
            key = (
                "birth_date"
                if message.startswith("出生日期")
                else "gender"
                if message.startswith("性别")
                else "document_number"
            )
            errors.setdefault(key, message)
        result.warnings.extend(check.warnings)
        values["document_number"] = check.number or None
        nationality = values.get("nationality")
        allowed = NATIONALITY_BY_DOCUMENT.get(DocumentType(document_type))
        if nationality and allowed and nationality not in allowed and "nationality" not in errors:
            errors["nationality"] = f"持{document_type}的幼儿，国籍/地区应为：{'、'.join(allowed)}。"
    for prefix in ("guardian1", "guardian2"):
        phone_key = f"{prefix}_phone"
        phone = fold_width(values.get(phone_key) or "").replace(" ", "")
        if phone:
            values[phone_key] = phone
            if not PHONE.fullmatch(phone) and phone_key not in errors:
                label = _LABELS[phone_key]
                errors[phone_key] = f"{label}应为 11 位手机号码或带区号的固定电话。"
        given = [values.get(f"{prefix}_{part}") for part in ("relation", "name", "phone")]
        if prefix == "guardian2" and any(given) and not all(given):
            errors.setdefault("guardian2_name", "监护人二的关系、姓名和电话应同时填写，或都不填。")
    check_origin(values, errors, birth=birth, province_code=province_code)
    class_name = values.get("class_name")
    if class_name and "class_name" not in errors and class_name not in class_names:
        errors["class_name"] = f"班级“{class_name}”不存在：请先在“班级管理”中建立本学年的班级。"
    return result


def _number_problem(number: str, label: str) -> str | None:
    """What is wrong with the shape of a student number, or None."""
    if len(number) != 19:
        return f"{label}应为 19 位（1 个字母加 18 位），当前为 {len(number)} 位。"
    if number[0] not in "GJL":
        return f"{label}应以 G、J 或 L 开头。"
    if not is_student_number(number):
        return f"{label}的格式或校验位不正确：请核对外省学籍系统中的号码是否抄错。"
    return None


def check_origin(
    values: dict[str, Any], errors: dict[str, str], *, birth: date | None, province_code: str | None
) -> None:
    """The out-of-province fields (§27.3): both or none; not the institution's own province; the
    number shaped like a student number, a G number equal to G + the child's resident ID number
    and a J or L number carrying the child's birth date. Normalises ``origin_number`` in place."""
    province_label, number_label = _LABELS["origin_province"], _LABELS["origin_number"]
    province = values.get("origin_province")
    number = fold_width(values.get("origin_number") or "").replace(" ", "").upper()
    values["origin_number"] = number or None
    if "origin_province" in errors or "origin_number" in errors or not (province or number):
        return
    if not number:
        errors["origin_number"] = (
            f"选择了{province_label}“{province}”，请填写{number_label}（外省发给该幼儿的学籍号）。"
        )
        return
    if not province:
        errors["origin_province"] = f"填写了{number_label}，请选择{province_label}（幼儿从哪个省份转入）。"
        return
    if province_code and ORIGIN_PROVINCES.get(province) == province_code:
        errors["origin_province"] = (
            f"{province_label}不能是本省（{province}）：本省幼儿园之间转园请办理转园手续，不按外省转入登记。"
        )
        return
    problem = _number_problem(number, number_label)
    if problem:
        errors["origin_number"] = problem
        return
    document_type = values.get("document_type")
    if number[0] == "G":
        if "document_type" in errors or "document_number" in errors:
            return  # the document is wrong already: its own message says so
        if document_type != DocumentType.RESIDENT_ID or not values.get("document_number"):
            errors["origin_number"] = (
                f"{number_label}以 G 开头，是由居民身份证号码生成的学籍号：请选择证件类型“居民身份证”并填写"
                "该幼儿的身份证号码，或核对学籍号。"
            )
        elif number != student_number_g(values["document_number"]):
            errors["origin_number"] = (
                f"{number_label}以 G 开头时应为“G”加该幼儿的居民身份证号码，与所填证件号码不一致：请核对。"
            )
        return
    encoded = number[7:15]
    try:
        born = date(int(encoded[:4]), int(encoded[4:6]), int(encoded[6:8]))
    except ValueError:
        errors["origin_number"] = f"{number_label}第 8–15 位的出生日期“{encoded}”不是有效日期：请核对。"
        return
    if birth is not None and born != birth:
        errors["origin_number"] = (
            f"{number_label}第 8–15 位的出生日期（{born.isoformat()}）与幼儿的出生日期（{birth.isoformat()}）"
            "不一致：请核对学籍号或出生日期。"
        )


def identity_key(name: str, gender: str, birth: str) -> str:
    return crypto.lookup_hash(f"{normalise_name(name)}|{gender}|{birth}", CTX_IDENTITY)


def document_hash(document_type: str, number: str) -> str:
    return crypto.lookup_hash(f"{document_type}|{number}", CTX_DOCUMENT)


_CONTENT_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)  # as json.dumps with these options


def content_key(values: dict[str, Any]) -> str:
    return crypto.lookup_hash(_CONTENT_JSON.encode(values), CTX_CONTENT)


def column_values(values: dict[str, Any], institution: Institution, class_id: int | None) -> dict[str, Any]:
    """The columns of a ``child`` row for cleaned values: personal numbers encrypted and hashed."""
    number = values.get("document_number")
    row: dict[str, Any] = {
        "institution_id": institution.id,
        "class_id": class_id,
        "province_code": institution.province_code,
        "city_code": institution.city_code,
        "county_code": institution.county_code,
        "township_code": institution.township_code,
        "name": values["name"],
        "gender": values["gender"],
        "birth_date": date.fromisoformat(values["birth_date"]),
        "document_type": values["document_type"],
        "id_cipher": crypto.encrypt(number, CTX_DOCUMENT) if number else None,
        "id_hash": document_hash(values["document_type"], number) if number else None,
        "identity_hash": identity_key(values["name"], values["gender"], values["birth_date"]),
        "nationality": values["nationality"],
        "ethnicity": values["ethnicity"],
        "hukou_region": values.get("hukou_region") or "",
        "address": values.get("address") or "",
        "enrolment_date": date.fromisoformat(values["enrolment_date"]),
        "content_hash": content_key(values),
    }
    for prefix in ("guardian1", "guardian2"):
        phone = values.get(f"{prefix}_phone")
        row[f"{prefix}_relation"] = values.get(f"{prefix}_relation") or ""
        row[f"{prefix}_name"] = values.get(f"{prefix}_name") or ""
        row[f"{prefix}_phone_cipher"] = crypto.encrypt(phone, CTX_PHONE) if phone else None
        row[f"{prefix}_phone_hash"] = crypto.lookup_hash(phone, CTX_PHONE) if phone else None
    for name, _label in FLAGS:
        row[name] = bool(values.get(name))
    origin = values.get("origin_number")
    # A masked number comes from a stored record's shown values (a key change re-checks the whole
    # record): it is never stored, the record keeps the origin it has.
    if not (origin and "*" in origin):
        row["origin_province"] = (values.get("origin_province") or "") if origin else ""
        row["origin_number_cipher"] = crypto.encrypt(origin, CTX_STUDENT_NUMBER) if origin else None
    return row


def known_region_lookup(session: Session) -> Callable[[str], bool]:
    """A cached "is this a current county-level code" test for ID numbers' address codes."""
    codes = set(session.exec(select(Region.code).where(col(Region.level).in_(("city", "county")))).all())
    return lambda code: code in codes or code.endswith("0000")


# --- classes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassRow:
    id: int
    name: str
    grade: str
    school_year: str
    capacity: int
    children: int

    @property
    def label(self) -> str:
        return f"{self.name}（{self.grade}，{self.children}/{self.capacity} 人）"


def own_institution(session: Session, actor: Actor) -> Institution:
    require(actor, Action.MANAGE_CHILDREN)
    institution = session.get(Institution, actor.institution_id) if actor.institution_id else None
    if institution is None:
        raise NotFound("您的账户未关联机构。")
    require(actor, Action.MANAGE_CHILDREN, institution)
    return institution


def create_class(actor: Actor, raw: dict[str, Any]) -> ClassRow:
    """Create a class of the actor's institution; the size cap defaults to the grade's usual size."""
    raw = dict(raw)
    if not raw.get("capacity") and raw.get("grade") in GRADE_CAPS:
        raw["capacity"] = GRADE_CAPS[raw["grade"]]
    values, errors = clean(CLASS, raw)
    year = values.get("school_year") or ""
    if year and not errors.get("school_year"):
        match = re.fullmatch(r"(\d{4})-(\d{4})", year)
        if not match or int(match[2]) != int(match[1]) + 1:
            errors["school_year"] = "学年格式应为“2026-2027”（前后两年相连）。"
    if errors:
        raise ValidationError(errors)
    with db.session_scope(write=True) as session:
        institution = own_institution(session, actor)
        taken = session.exec(
            select(SchoolClass.id).where(
                SchoolClass.institution_id == institution.id,
                SchoolClass.school_year == year,
                SchoolClass.name == values["name"],
            )
        ).first()
        if taken is not None:
            raise ValidationError({"name": f"{year} 学年已有名为“{values['name']}”的班级。"})
        row = SchoolClass(
            institution_id=institution.id or 0,
            school_year=year,
            grade=values["grade"],
            name=values["name"],
            capacity=values["capacity"],
            created_by=actor.user_id,
        )
        session.add(row)
        session.flush()
        audit.record(session, actor, "class_create", object_type="class", object_id=row.id or "", after=values)
        return ClassRow(row.id or 0, row.name, row.grade, row.school_year, row.capacity, 0)


def _class_rows(session: Session, institution_id: int, school_year: str | None) -> list[ClassRow]:
    counts = dict(
        session.exec(
            select(Child.class_id, func.count())
            .where(Child.institution_id == institution_id, col(Child.state).not_in(CLOSED))
            .group_by(col(Child.class_id))
        ).all()
    )
    query = select(SchoolClass).where(SchoolClass.institution_id == institution_id)
    if school_year:
        query = query.where(SchoolClass.school_year == school_year)
    classes = session.exec(query.order_by(col(SchoolClass.school_year).desc(), col(SchoolClass.id))).all()
    return [ClassRow(c.id or 0, c.name, c.grade, c.school_year, c.capacity, counts.get(c.id, 0)) for c in classes]


def list_classes(actor: Actor, school_year: str | None = None, institution_id: int | None = None) -> list[ClassRow]:
    """The classes of the actor's institution (or, for a bureau, of one institution in scope)."""
    with db.session_scope() as session:
        target = institution_id or actor.institution_id
        institution = session.get(Institution, target) if target else None
        if institution is None:
            raise NotFound("机构不存在。")
        require(actor, Action.VIEW_CHILDREN, institution)
        return _class_rows(session, institution.id or 0, school_year)


def delete_class(actor: Actor, class_id: int) -> None:
    """Delete a class that has no children (DOMAIN.md: a class with children cannot be deleted)."""
    with db.session_scope(write=True) as session:
        institution = own_institution(session, actor)
        row = session.get(SchoolClass, class_id)
        if row is None or row.institution_id != institution.id:
            raise NotFound("班级不存在。")
        children = session.exec(
            select(func.count()).select_from(Child).where(Child.class_id == class_id, col(Child.state).not_in(CLOSED))
        ).one()
        if children:
            raise ServiceError(f"班级“{row.name}”还有 {children} 名幼儿，不能删除：请先把幼儿调到其他班级。")
        audit.record(
            session,
            actor,
            "class_delete",
            object_type="class",
            object_id=class_id,
            before={"name": row.name, "grade": row.grade, "school_year": row.school_year},
        )
        session.delete(row)


def class_lookup(session: Session, institution_id: int, school_year: str) -> dict[str, SchoolClass]:
    rows = session.exec(
        select(SchoolClass).where(SchoolClass.institution_id == institution_id, SchoolClass.school_year == school_year)
    ).all()
    return {row.name: row for row in rows}


# --- saving ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaveResult:
    child_id: int
    warnings: list[str]


def decrypt_field(token: str | None, context: str) -> str:
    return crypto.decrypt(token, context) if token else ""


def save_child(
    actor: Actor, raw: dict[str, Any], child_id: int | None = None, *, today: date | None = None
) -> SaveResult:
    """Create or edit one child of the actor's institution (saved, returned and problem records are
    editable). Blank personal numbers on an edit keep the stored ones. Warnings (a full class, an
    unknown address code) do not stop the save."""
    today = today or workflow.local_today()
    with db.session_scope(write=True) as session:
        institution = own_institution(session, actor)
        assert institution.id is not None
        classes = class_lookup(session, institution.id, school_year_of(today))
        existing: Child | None = None
        if child_id is not None:
            existing = session.get(Child, child_id)
            if existing is None or existing.institution_id != institution.id or existing.state == "deleted":
                raise NotFound("幼儿记录不存在。")
            if existing.state not in EDITABLE:
                raise ServiceError(f"该幼儿的记录{STATE_LABELS[existing.state]}，不能修改。")
            raw = dict(raw)
            for name in ("guardian1_phone", "guardian2_phone"):
                if not raw.get(name) and raw.get(name.replace("phone", "name")):
                    raw[name] = decrypt_field(getattr(existing, f"{name}_cipher"), CTX_PHONE)
            if not raw.get("origin_number") and raw.get("origin_province"):
                raw["origin_number"] = decrypt_field(existing.origin_number_cipher, CTX_STUDENT_NUMBER)
        existing_document = decrypt_field(existing.id_cipher, CTX_DOCUMENT) if existing is not None else None
        checked = check_child(
            raw,
            class_names=classes,
            today=today,
            known_region=known_region_lookup(session),
            existing_document=existing_document,
            province_code=institution.province_code,
        )
        if not checked.ok:
            raise ValidationError(checked.errors)
        values = checked.values
        school_class = classes[values["class_name"]]
        row = column_values(values, institution, school_class.id)
        clash = _same_record_in_institution(session, institution.id, row, exclude=child_id)
        if clash is not None:
            raise ValidationError({"document_number": f"本园已登记证件号码相同的幼儿（{clash.name}），请勿重复录入。"})
        warnings = list(checked.warnings)
        if values.get("origin_number"):
            holder = number_holder(session, values["origin_number"])
            if holder is not None and holder.id != child_id:
                warnings.append(
                    f"外省转入·原学籍号已被本省记录（{holder.name}）使用：请核实该幼儿是否确从外省转入；"
                    "提交审核后将作为问题学籍处理。"
                )
        in_class = session.exec(
            select(func.count())
            .select_from(Child)
            .where(Child.class_id == school_class.id, col(Child.state).not_in(CLOSED), col(Child.id) != (child_id or 0))
        ).one()
        if in_class + 1 > school_class.capacity:
            warnings.append(f"班级“{school_class.name}”已有 {in_class} 人，超过额定人数 {school_class.capacity}。")
        if values.get("enrolment_date") and record_deadline(date.fromisoformat(values["enrolment_date"])) < today:
            warnings.append("该幼儿入园已超过建档期限，请尽快提交审核。")
        if existing is None:
            child = Child(**row, state="saved", created_by=actor.user_id)
            session.add(child)
            session.flush()
            action = "child_create"
        else:
            child = existing
            for key, value in row.items():
                setattr(child, key, value)
            child.updated_at = utcnow()
            child.version += 1
            session.add(child)
            action = "child_update"
        audit.record(
            session,
            actor,
            action,
            object_type="child",
            object_id=child.id or "",
            after=masked_values(values),
        )
        return SaveResult(child.id or 0, warnings)


def _same_record_in_institution(
    session: Session, institution_id: int, row: dict[str, Any], exclude: int | None
) -> Child | None:
    if not row.get("id_hash"):
        return None
    query = select(Child).where(
        Child.institution_id == institution_id, Child.id_hash == row["id_hash"], col(Child.state) != "deleted"
    )
    if exclude is not None:
        query = query.where(col(Child.id) != exclude)
    return session.exec(query).first()


def masked_values(values: dict[str, Any]) -> dict[str, Any]:
    """The values with personal numbers masked, for audit rows and request payloads."""
    shown = dict(values)
    shown["document_number"] = crypto.mask(values.get("document_number"))
    shown["origin_number"] = crypto.mask(values.get("origin_number"), 7, 4)
    for name in ("guardian1_phone", "guardian2_phone"):
        shown[name] = crypto.mask(values.get(name), 3, 4)
    return shown


def delete_child(actor: Actor, child_id: int) -> None:
    """Delete a record that is not under review or numbered: it stays visible to the county and
    can be restored on request (幼儿信息恢复申请)."""
    from portal.services import problems

    with db.session_scope(write=True) as session:
        institution = own_institution(session, actor)
        child = session.get(Child, child_id)
        if child is None or child.institution_id != institution.id or child.state == "deleted":
            raise NotFound("幼儿记录不存在。")
        if child.state not in EDITABLE:
            raise ServiceError(f"该幼儿的记录{STATE_LABELS[child.state]}，不能删除。")
        before = child.state
        child.state = "deleted"
        child.updated_at = utcnow()
        child.version += 1
        session.add(child)
        problems.close_for_deleted(session, child)
        audit.record(
            session,
            actor,
            "child_delete",
            object_type="child",
            object_id=child_id,
            before={"state": before},
            detail=f"删除幼儿记录：{child.name}",
        )


# --- reading --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildRow:
    id: int
    name: str
    gender: str
    birth_date: date
    document_type: str
    document_masked: str
    student_number_masked: str
    class_name: str
    enrolment_date: date
    state: str
    state_label: str
    return_reason: str
    institution_name: str
    overdue: bool
    origin_province: str = ""  # transferred in from this province (§27.3); "" for other children

    @property
    def origin_mark(self) -> str:
        """The mark of a child transferred in from another province, e.g. 外省转入（河北省）; else ""."""
        return f"外省转入（{self.origin_province}）" if self.origin_province else ""


@dataclass(frozen=True)
class ChildPage:
    rows: Sequence[ChildRow]
    total: int
    next_after: int | None


def child_row(child: Child, class_name: str, institution_name: str, today: date) -> ChildRow:
    return ChildRow(
        id=child.id or 0,
        name=child.name,
        gender=child.gender,
        birth_date=child.birth_date,
        document_type=child.document_type,
        document_masked=crypto.mask(decrypt_field(child.id_cipher, CTX_DOCUMENT)),
        student_number_masked=crypto.mask(decrypt_field(child.student_number_cipher, CTX_STUDENT_NUMBER), 7, 4),
        class_name=class_name or "",
        enrolment_date=child.enrolment_date,
        state=child.state,
        state_label=STATE_LABELS[child.state],
        return_reason=child.return_reason,
        institution_name=institution_name,
        overdue=child.state in ("saved", "returned") and record_deadline(child.enrolment_date) < today,
        origin_province=child.origin_province,
    )


def list_children(
    actor: Actor,
    *,
    institution_id: int | None = None,
    state: str | None = None,
    class_id: int | None = None,
    name: str | None = None,
    overdue: bool = False,
    after_id: int | None = None,
    limit: int = 50,
) -> ChildPage:
    """Children in the actor's scope (an institution its own; a bureau its region), masked,
    keyset-paged by id. Deleted and graduated records are listed only when asked for by state."""
    require(actor, Action.VIEW_CHILDREN)
    today = workflow.local_today()
    conditions: list[Any] = [scope_filter(actor, Child)]
    if institution_id:
        conditions.append(col(Child.institution_id) == institution_id)
    conditions.append(col(Child.state) == state if state else col(Child.state).not_in(CLOSED))
    if class_id:
        conditions.append(col(Child.class_id) == class_id)
    if name and search_term(name):
        conditions.append(col(Child.name).contains(normalise_name(search_term(name)), autoescape=True))
    if overdue:
        months = get_settings().child_record_months
        conditions.append(col(Child.state).in_(("saved", "returned")))
        conditions.append(col(Child.enrolment_date) < today - relativedelta(months=months))
    with db.session_scope() as session:
        total = session.exec(select(func.count()).select_from(Child).where(*conditions)).one()
        query = (
            select(Child, SchoolClass.name, Institution.name)
            .join(Institution, col(Institution.id) == col(Child.institution_id))
            .outerjoin(SchoolClass, col(SchoolClass.id) == col(Child.class_id))
            .where(*conditions)
        )
        if after_id:
            query = query.where(col(Child.id) > after_id)
        found = session.exec(query.order_by(col(Child.id)).limit(limit + 1)).all()
        rows = [child_row(child, class_name, inst_name, today) for child, class_name, inst_name in found[:limit]]
    return ChildPage(rows=rows, total=total, next_after=rows[-1].id if len(found) > limit and rows else None)


def state_counts(actor: Actor, institution_id: int | None = None) -> dict[str, int]:
    """How many records in each state, in the actor's scope (index-driven group-by)."""
    require(actor, Action.VIEW_CHILDREN)
    with db.session_scope() as session:
        query = select(Child.state, func.count()).where(scope_filter(actor, Child))
        if institution_id:
            query = query.where(col(Child.institution_id) == institution_id)
        return dict(session.exec(query.group_by(col(Child.state))).all())


@dataclass(frozen=True)
class ChildDetail:
    row: ChildRow
    values: dict[str, Any]  # the form's values, personal numbers masked
    student_number_kind: str | None
    numbered_at: datetime | None
    dispute_id: int | None
    request_id: int | None
    transfer_note: str = ""  # the open transfer the child is in, if any (转园中)

    def shown(self) -> list[tuple[str, str]]:
        return [(spec.label, display(spec, self.values.get(spec.name))) for spec in CHILD.fields]


def _child_in_scope(session: Session, actor: Actor, child_id: int) -> Child:
    child = session.get(Child, child_id)
    if child is None or not may(actor, Action.VIEW_CHILDREN, child):
        raise NotFound("幼儿记录不存在，或不在您的管辖范围内。")
    return child


def form_values(child: Child, class_name: str) -> dict[str, Any]:
    """A stored record as the form's values, personal numbers masked (never in the clear)."""
    values: dict[str, Any] = {
        "name": child.name,
        "gender": child.gender,
        "birth_date": child.birth_date.isoformat(),
        "document_type": child.document_type,
        "document_number": crypto.mask(decrypt_field(child.id_cipher, CTX_DOCUMENT)),
        "nationality": child.nationality,
        "ethnicity": child.ethnicity,
        "hukou_region": child.hukou_region,
        "address": child.address,
        "enrolment_date": child.enrolment_date.isoformat(),
        "class_name": class_name,
    }
    for prefix in ("guardian1", "guardian2"):
        values[f"{prefix}_relation"] = getattr(child, f"{prefix}_relation") or None
        values[f"{prefix}_name"] = getattr(child, f"{prefix}_name")
        values[f"{prefix}_phone"] = crypto.mask(
            decrypt_field(getattr(child, f"{prefix}_phone_cipher"), CTX_PHONE), 3, 4
        )
    for name, _label in FLAGS:
        values[name] = getattr(child, name)
    values["origin_province"] = child.origin_province or None
    values["origin_number"] = crypto.mask(decrypt_field(child.origin_number_cipher, CTX_STUDENT_NUMBER), 7, 4)
    return values


def get_child(actor: Actor, child_id: int) -> ChildDetail:
    with db.session_scope() as session:
        child = _child_in_scope(session, actor, child_id)
        school_class = session.get(SchoolClass, child.class_id) if child.class_id else None
        institution = session.get(Institution, child.institution_id)
        class_name = school_class.name if school_class else ""
        return ChildDetail(
            row=child_row(child, class_name, institution.name if institution else "", workflow.local_today()),
            values=form_values(child, class_name),
            student_number_kind=child.student_number_kind,
            numbered_at=child.numbered_at,
            dispute_id=child.dispute_id,
            request_id=child.request_id,
            transfer_note=_transfer_note(session, child),
        )


def _transfer_note(session: Session, child: Child) -> str:
    """“正在转往…” / “正在从…转入” for a child in an open transfer, else ""."""
    from portal.services import transfers

    transfer = transfers.open_transfer_of(session, child.id or 0)
    if transfer is None:
        return ""
    other = session.get(Institution, transfer.to_institution_id)
    state = transfers.STATE_LABELS[transfer.state]
    return f"正在办理转园：转往{other.name if other else ''}（{state}，须在 {transfer.due_date} 前办结）"


REVEALABLE = {
    "document_number": ("id_cipher", CTX_DOCUMENT, "证件号码"),
    "student_number": ("student_number_cipher", CTX_STUDENT_NUMBER, "学籍号"),
    "guardian1_phone": ("guardian1_phone_cipher", CTX_PHONE, "监护人一电话"),
    "guardian2_phone": ("guardian2_phone_cipher", CTX_PHONE, "监护人二电话"),
    "origin_number": ("origin_number_cipher", CTX_STUDENT_NUMBER, "外省转入·原学籍号"),
}


def reveal(actor: Actor, child_id: int, field_name: str, reason: str) -> str:
    """One record's full number, for a user whose role allows it, after a stated reason (audited)."""
    reason = (reason or "").strip()
    if field_name not in REVEALABLE:
        raise ServiceError(f"不能查看该项：{field_name}")
    column, context, label = REVEALABLE[field_name]
    if len(reason) < 4:
        raise ValidationError({"reason": "请填写查看完整号码的理由（至少 4 个字），该操作将记入审计日志。"})
    check_text(reason, field="reason", label="查看理由", max_length=200)
    with db.session_scope(write=True) as session:
        child = _child_in_scope(session, actor, child_id)
        require(actor, Action.REVEAL_PERSONAL, child)
        value = decrypt_field(getattr(child, column), context)
        if not value:
            raise ServiceError(f"该幼儿没有{label}。")
        audit.record(
            session,
            actor,
            "personal_reveal",
            object_type="child",
            object_id=child_id,
            detail=f"查看{child.name}的完整{label}，理由：{reason}"[:500],
        )
        return value


def find_by_document(actor: Actor, document_type: str, number: str) -> list[ChildRow]:
    """Look a child up by document number (through the keyed hash), in the actor's scope."""
    require(actor, Action.VIEW_CHILDREN)
    key = document_hash(document_type, fold_width(number).strip().upper().replace(" ", ""))
    today = workflow.local_today()
    with db.session_scope() as session:
        found = session.exec(
            select(Child, SchoolClass.name, Institution.name)
            .join(Institution, col(Institution.id) == col(Child.institution_id))
            .outerjoin(SchoolClass, col(SchoolClass.id) == col(Child.class_id))
            .where(col(Child.id_hash) == key, scope_filter(actor, Child))
        ).all()
        return [child_row(child, class_name, inst_name, today) for child, class_name, inst_name in found]


# --- submission, review, duplicate check, numbers ----------------------------------------------


def submit_children(actor: Actor, child_ids: Sequence[int] | None = None, *, today: date | None = None) -> int:
    """Submit saved, returned or corrected problem records for the county's review: the ones
    named, or all of them. Returns how many were submitted."""
    from portal.services import problems

    with db.session_scope(write=True) as session:
        institution = own_institution(session, actor)
        query = select(Child).where(Child.institution_id == institution.id, col(Child.state).in_(EDITABLE))
        if child_ids is not None:
            if not child_ids:
                raise ServiceError("请先选择要提交的幼儿。")
            query = query.where(col(Child.id).in_(list(child_ids)))
        children = session.exec(query.order_by(col(Child.id))).all()
        if child_ids is not None and len(children) != len(set(child_ids)):
            raise ServiceError("所选幼儿中有记录已提交、已审核或不存在，请刷新后重试。")
        if not children:
            raise ServiceError("没有可提交的幼儿记录（已保存或已驳回的记录才能提交）。")
        class_names = {
            c.id: c.name for c in session.exec(select(SchoolClass).where(SchoolClass.institution_id == institution.id))
        }
        for child in children:
            if child.state == "problem":
                problems.close_for_corrected(session, child)
            # form_values masks every personal number: the payload is stored in the clear.
            payload = {"child_id": child.id, "values": form_values(child, class_names.get(child.class_id, ""))}
            request = workflow.submit(
                session,
                actor,
                kind=KIND_CHILD,
                institution=institution,
                subject_type="child",
                subject_id=child.id or 0,
                title=f"幼儿信息：{child.name}",
                payload=payload,
                today=today,
            )
            child.state = "submitted"
            child.request_id = request.id
            child.return_reason = ""
            child.version += 1
            session.add(child)
        audit.record(
            session,
            actor,
            "child_submit",
            object_type="institution",
            object_id=institution.id or "",
            detail=f"提交 {len(children)} 名幼儿的信息审核",
        )
        return len(children)


def _child_of(session: Session, request: Request) -> Child:
    child = session.get(Child, int(request.subject_id))
    if child is None:
        raise NotFound("幼儿记录不存在。")
    return child


def lock_identity(session: Session, key: str) -> None:
    """Serialise approvals of the same identity on PostgreSQL (SQLite writes are serial already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(sa_func.pg_advisory_xact_lock(int(key[:15], 16))))


def find_duplicate(session: Session, child: Child) -> Child | None:
    """The province-wide duplicate check for one record: an approved (or disputed) record with the
    same document number, or (no document) the same name, gender and birth date. First approved,
    first numbered: a later approval of the same child becomes the problem record."""
    query = select(Child).where(
        col(Child.id) != child.id,
        col(Child.province_code) == child.province_code,
        col(Child.state).in_(HOLDING),
    )
    if child.id_hash:
        query = query.where(col(Child.id_hash) == child.id_hash)
    else:
        query = query.where(col(Child.identity_hash) == child.identity_hash, col(Child.id_hash).is_(None))
    candidates = session.exec(query.order_by(col(Child.id))).all()
    order = {"approved": 0, "problem": 1}
    return min(candidates, key=lambda c: order[c.state]) if candidates else None


def duplicates_among(session: Session, province_code: str, id_hashes: Sequence[str]) -> set[str]:
    """Which of these document hashes are already claimed in the province (batched IN look-ups on
    the hash index): the check an import runs for 10,000 rows at once."""
    found: set[str] = set()
    if session.get_bind().dialect.name == "postgresql":  # one array parameter: one statement, one plan
        hashes = bindparam("hashes", list(id_hashes), type_=ARRAY(String))
        found.update(
            session.exec(
                select(Child.id_hash).where(
                    col(Child.id_hash) == any_(hashes),
                    col(Child.province_code) == province_code,
                    col(Child.state).in_(CLAIMING),
                )
            ).all()
        )
        found.discard(None)  # type: ignore[arg-type]
        return found
    for start in range(0, len(id_hashes), 900):
        chunk = list(id_hashes[start : start + 900])
        found.update(
            session.exec(
                select(Child.id_hash).where(
                    col(Child.id_hash).in_(chunk),
                    col(Child.province_code) == province_code,
                    col(Child.state).in_(CLAIMING),
                )
            ).all()
        )
    found.discard(None)  # type: ignore[arg-type]
    return found


def _next_sequence(session: Session, prefix: str) -> int:
    """Take the next sequence of a prefix: an upsert whose row lock serialises concurrent takers."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(NumberSequence).values(prefix=prefix, last=1)
    statement = statement.on_conflict_do_update(
        index_elements=["prefix"], set_={"last": NumberSequence.__table__.c.last + 1}
    ).returning(NumberSequence.__table__.c.last)
    return int(session.execute(statement).scalar_one())


def _temporary_documents() -> set[str]:
    return {d.strip() for d in get_settings().temporary_number_documents.split(",") if d.strip()}


def new_student_number(session: Session, child: Child) -> tuple[str, str]:
    """(kind, number) for a child passing the check: the number another province gave a child
    transferred in from there (kept: one number for life); G + resident ID; L (temporary) for the
    document types configured; otherwise J + region + birth date + sequence + check character."""
    origin = decrypt_field(child.origin_number_cipher, CTX_STUDENT_NUMBER)
    if origin:
        return origin[0], origin
    number = decrypt_field(child.id_cipher, CTX_DOCUMENT)
    if child.document_type == DocumentType.RESIDENT_ID and number:
        return "G", student_number_g(number)
    region = child.county_code
    if child.document_type in _temporary_documents():
        sequence = _next_sequence(session, f"L{region}{child.birth_date:%Y%m%d}")
        if sequence > 9999:
            raise ServiceError("该地区、该出生日期的临时学籍号已用完，请联系系统管理员。")
        return "L", student_number_l(region, child.birth_date, sequence)
    sequence = _next_sequence(session, f"J{region}{child.birth_date:%Y%m%d}")
    if sequence > 999:
        raise ServiceError("该地区、该出生日期的学籍号顺序码已用完，请联系系统管理员。")
    return "J", student_number_j(region, child.birth_date, sequence)


def give_number(session: Session, child: Child, kind: str, number: str) -> None:
    child.student_number_kind = kind
    child.student_number_cipher = crypto.encrypt(number, CTX_STUDENT_NUMBER)
    child.student_number_hash = crypto.lookup_hash(number, CTX_STUDENT_NUMBER)
    child.numbered_at = utcnow()
    child.state = "approved"
    child.version += 1
    session.add(child)


def number_of(child: Child) -> str:
    return decrypt_field(child.student_number_cipher, CTX_STUDENT_NUMBER)


def number_holder(session: Session, number: str) -> Child | None:
    """The record that holds this student number in the deployment (its keyed hash), if any."""
    key = crypto.lookup_hash(number, CTX_STUDENT_NUMBER)
    return session.exec(select(Child).where(col(Child.student_number_hash) == key)).first()


def approve_child(session: Session, child: Child, actor: Actor) -> str | None:
    """Run the duplicate check; give a number (kept if the record already has one) or make the
    record a problem record. Returns the dispute's reason when it fails, else None."""
    from portal.services import problems

    lock_identity(session, child.id_hash or child.identity_hash)
    other = find_duplicate(session, child)
    if other is not None:
        problems.open_dispute(session, child, other, actor)
        return "duplicate"
    if child.student_number_hash:  # a number once issued is never changed
        child.state = "approved"
        session.add(child)
        return None
    kind, number = new_student_number(session, child)
    try:
        with session.begin_nested():
            give_number(session, child, kind, number)
            session.flush()
    except IntegrityError:
        # Someone else holds this number (a concurrent approval of the same ID, a closed record, or
        # a record of this province already holding the number a child brought from another
        # province): a problem record, not a failed approval.
        session.refresh(child)
        holder = number_holder(session, number)
        if holder is None:
            raise
        problems.open_dispute(session, child, holder, actor, kind="same_number" if child.origin_number_cipher else None)
        return "duplicate"
    audit.record(
        session,
        actor,
        "student_number_issue",
        object_type="child",
        object_id=child.id or "",
        detail=f"{child.name}：{crypto.mask(number, 7, 4)}（{kind}）"
        + (f"，沿用{child.origin_province}的学籍号" if child.origin_province else ""),
    )
    return None


def _apply(session: Session, request: Request, actor: Actor) -> None:
    child = _child_of(session, request)
    child.updated_at = utcnow()
    approve_child(session, child, actor)


def _on_return(session: Session, request: Request) -> None:
    child = _child_of(session, request)
    reason = session.exec(
        select(RequestEvent.reason)
        .where(RequestEvent.request_id == request.id, RequestEvent.action == "return")
        .order_by(col(RequestEvent.id).desc())
    ).first()
    session.execute(
        update(Child)
        .where(col(Child.id) == child.id)
        .values(state="returned", return_reason=reason or "", version=child.version + 1, updated_at=utcnow())
    )


def _diff(detail: workflow.RequestDetail) -> list[tuple[str, str, str]]:
    values = detail.payload.get("values", {})
    return [(spec.label, "", display(spec, values.get(spec.name))) for spec in CHILD.fields]


workflow.register(
    Workflow(
        kind=KIND_CHILD,
        label="幼儿信息审核",
        steps=(Step("county_review", "县级审核", Level.COUNTY, get_settings().child_review_days),),
        apply=_apply,
        diff=_diff,
        on_return=_on_return,
    )
)


def overdue_children(actor: Actor, limit: int = 200) -> list[ChildRow]:
    """Records not yet submitted past the deadline of the rules, in the actor's scope."""
    return list(list_children(actor, overdue=True, limit=limit).rows)
