"""Supervision information (监管信息, §14): forms the bureaus design at run time (low-code).

A provincial, city or county system administrator designs a form (fields of the same kinds as the
built-in forms, stored as data), publishes it with a due date to the institutions of their region;
institutions fill and submit it; the county reviews the answers in the one queue. The designer
sees the fill rate per sub-region and downloads the answers as an Excel workbook.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, func, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, in_scope, require, scope_filter
from portal.auth.roles import Level
from portal.clock import utcnow
from portal.data import db
from portal.data.fields import FIELD_KINDS, FieldSpec, Section, clean, diff, display
from portal.data.models import Institution, Region, Request, SupervisionAnswer, SupervisionForm
from portal.data.text import text_problem
from portal.services import audit, evidence, uploads, workflow
from portal.services.errors import NotFound, ServiceError, ValidationError
from portal.services.workflow import Step, Workflow
from portal.settings import get_settings

KIND = "supervision"
DESIGNER_LEVELS = (Level.PROVINCE, Level.CITY, Level.COUNTY)
LABEL_MAX = 100
HELP_MAX = 200
DESCRIPTION_MAX = 1000  # SupervisionForm.description holds 1,000 characters
ANSWER_STATES = {"draft": "草稿", "submitted": "待审核", "approved": "审核通过", "returned": "已驳回"}


@dataclass(frozen=True)
class FieldInput:
    """One field as the designer enters it."""

    label: str
    kind: str
    required: bool = False
    choices: str = ""  # 单选/多选的选项，用顿号或逗号分隔
    help: str = ""


def section_of(form: SupervisionForm) -> Section:
    specs = []
    for item in json.loads(form.fields):
        item["choices"] = tuple(item.get("choices") or ())
        specs.append(FieldSpec(**item))
    return Section(f"supervision_{form.id}", form.title, tuple(specs))


def _apply_answer(session: Session, request: Request, _actor: Actor) -> None:
    answer = session.get(SupervisionAnswer, int(request.subject_id))
    if answer is not None:
        answer.state = "approved"
        session.add(answer)


def _diff(detail: workflow.RequestDetail) -> list[tuple[str, str, str]]:
    with db.session_scope() as session:
        form = session.get(SupervisionForm, detail.payload["form_id"])
        if form is None:
            return []
        return diff(section_of(form), None, detail.payload["values"])


def _mark_returned(session: Session, request: Request) -> None:
    """A returned answer can be edited and submitted again."""
    answer = session.get(SupervisionAnswer, int(request.subject_id))
    if answer is not None:
        answer.state = "returned"
        session.add(answer)


workflow.register(
    Workflow(
        KIND,
        "监管信息报送",
        (Step("county_review", "县级审核", Level.COUNTY, get_settings().change_review_days),),
        _apply_answer,
        _diff,
        _mark_returned,
    )
)


def _specs(fields: Sequence[FieldInput]) -> list[FieldSpec]:
    errors: dict[str, str] = {}
    specs: list[FieldSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(fields, start=1):
        label = (item.label or "").strip()
        key = f"field_{index}"
        if not label:
            errors[key] = f"第 {index} 个字段没有名称。"
            continue
        if len(label) > LABEL_MAX:
            errors[key] = f"第 {index} 个字段的名称不超过 {LABEL_MAX} 个字。"
            continue
        if problem := text_problem(label, f"第 {index} 个字段的名称"):
            errors[key] = problem
            continue
        if label in seen:
            errors[key] = f"字段名称“{label}”重复。"
        seen.add(label)
        if item.kind not in FIELD_KINDS:
            errors[key] = f"字段“{label}”的类型不正确。"
            continue
        choices = tuple(c.strip() for c in item.choices.replace("，", "、").replace(",", "、").split("、") if c.strip())
        if item.kind in ("choice", "multichoice") and len(choices) < 2:
            errors[key] = f"字段“{label}”是选择题，至少需要两个选项（用顿号分隔）。"
        elif any(len(choice) > LABEL_MAX or text_problem(choice, "选项") for choice in choices):
            errors[key] = f"字段“{label}”的选项每个不超过 {LABEL_MAX} 个字，且不能含有控制字符或不可见字符。"
        help_text = (item.help or "").strip()
        if len(help_text) > HELP_MAX:
            errors[key] = f"字段“{label}”的填写说明不超过 {HELP_MAX} 个字。"
        elif problem := text_problem(help_text, f"字段“{label}”的填写说明"):
            errors[key] = problem
        specs.append(
            FieldSpec(
                name=f"f{index}",
                label=label,
                kind=item.kind,
                required=bool(item.required),
                help=help_text,
                choices=choices if item.kind in ("choice", "multichoice") else (),
                max_length=500,
            )
        )
    if not fields:
        errors["fields"] = "表单至少需要一个字段。"
    if errors:
        raise ValidationError(errors)
    return specs


def design_form(
    actor: Actor, *, title: str, description: str, due_date: date, fields: Sequence[FieldInput]
) -> SupervisionForm:
    """Save a new form as a draft, for the institutions of the designer's region."""
    require(actor, Action.DESIGN_FORM)
    errors: dict[str, str] = {}
    title, description = title.strip(), description.strip()
    if not title or len(title) > 100:
        errors["title"] = "表单名称不能为空，且不超过 100 个字。"
    elif problem := text_problem(title, "表单名称"):
        errors["title"] = problem
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = f"填报说明不超过 {DESCRIPTION_MAX} 个字（现有 {len(description)} 个）。"
    elif problem := text_problem(description, "填报说明", multiline=True):
        errors["description"] = problem
    if due_date < workflow.local_today():
        errors["due_date"] = "截止日期不能早于今天。"
    try:
        specs = _specs(fields)
    except ValidationError as exc:
        errors.update(exc.errors)
        specs = []
    if errors:
        raise ValidationError(errors)
    with db.session_scope(write=True) as session:
        form = SupervisionForm(
            title=title,
            description=description,
            fields=json.dumps([asdict(s) for s in specs], ensure_ascii=False),
            due_date=due_date,
            level=actor.level.value,
            province_code=actor.province_code,
            city_code=actor.city_code if actor.level in (Level.CITY, Level.COUNTY) else None,
            county_code=actor.county_code if actor.level is Level.COUNTY else None,
            created_by=actor.user_id,
        )
        session.add(form)
        session.flush()
        audit.record(session, actor, "form_design", object_type="supervision_form", object_id=form.id or "")
    return form


def _designer_form(session: Session, actor: Actor, form_id: int) -> SupervisionForm:
    require(actor, Action.DESIGN_FORM)
    form = session.get(SupervisionForm, form_id)
    if form is None or not in_scope(actor, form) or form.level != actor.level.value:
        raise NotFound("表单不存在，或不是本级设计的表单。")
    return form


def publish_form(actor: Actor, form_id: int) -> SupervisionForm:
    with db.session_scope(write=True) as session:
        form = _designer_form(session, actor, form_id)
        if form.state == "published":
            raise ServiceError("该表单已发布。")
        form.state, form.published_at = "published", utcnow()
        session.add(form)
        audit.record(session, actor, "form_publish", object_type="supervision_form", object_id=form_id)
    return form


def designed_forms(actor: Actor) -> list[SupervisionForm]:
    require(actor, Action.DESIGN_FORM)
    with db.session_scope() as session:
        return list(
            session.exec(
                select(SupervisionForm)
                .where(scope_filter(actor, SupervisionForm), SupervisionForm.level == actor.level.value)
                .order_by(col(SupervisionForm.id).desc())
            ).all()
        )


def _reaches(institution: Institution) -> ColumnElement[bool]:
    """The published forms whose region contains the institution."""
    return and_(
        col(SupervisionForm.state) == "published",
        col(SupervisionForm.province_code) == institution.province_code,
        or_(col(SupervisionForm.city_code).is_(None), col(SupervisionForm.city_code) == institution.city_code),
        or_(col(SupervisionForm.county_code).is_(None), col(SupervisionForm.county_code) == institution.county_code),
    )


@dataclass(frozen=True)
class DueForm:
    form: SupervisionForm
    section: Section
    state: str  # 未填报 / 草稿 / 待审核 / 审核通过 / 已驳回
    values: dict[str, Any]


def forms_due(actor: Actor) -> list[DueForm]:
    """The published forms that reach the actor's institution, with its answer to each."""
    with db.session_scope() as session:
        institution = session.get(Institution, actor.institution_id or 0)
        if institution is None:
            raise NotFound("您的账户未关联机构。")
        require(actor, Action.EDIT_INSTITUTION, institution)
        forms = session.exec(
            select(SupervisionForm).where(_reaches(institution)).order_by(col(SupervisionForm.due_date))
        ).all()
        answers = {
            a.form_id: a
            for a in session.exec(
                select(SupervisionAnswer).where(SupervisionAnswer.institution_id == institution.id)
            ).all()
        }
        result = []
        for form in forms:
            answer = answers.get(form.id or 0)
            result.append(
                DueForm(
                    form=form,
                    section=section_of(form),
                    state=ANSWER_STATES[answer.state] if answer else "未填报",
                    values=json.loads(answer.data) if answer else {},
                )
            )
        return result


def answer_form(
    actor: Actor,
    form_id: int,
    raw: dict[str, Any],
    *,
    submit: bool,
    files: dict[str, tuple[str, bytes]] | None = None,
) -> SupervisionAnswer:
    """Save (``submit=False``) or submit an institution's answer; file fields carry their files."""
    files = files or {}
    with db.session_scope() as session:
        form = session.get(SupervisionForm, form_id)
        section = section_of(form) if form else None
    if form is None or section is None:
        raise NotFound("表单不存在。")
    for spec in section.fields:
        if spec.kind == "file" and spec.name in files:
            raw = {**raw, spec.name: uploads.display_name(files[spec.name][0])}
    values, errors = clean(section, raw, check_required=submit)
    if errors:
        raise ValidationError(errors)
    for filename, data in files.values():
        evidence.check(filename, data)
    with evidence.removed_on_failure() as written, db.session_scope(write=True) as session:
        institution = session.get(Institution, actor.institution_id or 0)
        if institution is None:
            raise NotFound("您的账户未关联机构。")
        require(actor, Action.EDIT_INSTITUTION, institution)
        reaches = session.exec(
            select(SupervisionForm.id).where(_reaches(institution), SupervisionForm.id == form_id)
        ).first()
        if reaches is None:
            raise NotFound("表单不存在，或未发布给本园。")
        answer = session.exec(
            select(SupervisionAnswer).where(
                SupervisionAnswer.form_id == form_id, SupervisionAnswer.institution_id == institution.id
            )
        ).first()
        if answer is not None and answer.state in ("submitted", "approved"):
            raise ServiceError(f"本园的答复{ANSWER_STATES[answer.state]}，不能再修改。")
        if answer is None:
            answer = SupervisionAnswer(
                form_id=form_id, institution_id=institution.id or 0, data="{}", updated_by=actor.user_id
            )
        answer.data = json.dumps(values, ensure_ascii=False, sort_keys=True)
        answer.updated_by, answer.updated_at = actor.user_id, utcnow()
        answer.state = "submitted" if submit else "draft"
        session.add(answer)
        session.flush()
        if submit:
            request = workflow.submit(
                session,
                actor,
                kind=KIND,
                institution=institution,
                subject_type="supervision_answer",
                subject_id=answer.id or 0,
                title=f"{institution.name}·{form.title}",
                payload={"form_id": form_id, "values": values},
            )
            answer.request_id = request.id
            for filename, data in files.values():
                evidence.store(session, actor, request, filename, data, written)
        audit.record(
            session,
            actor,
            "form_submit" if submit else "form_save",
            object_type="supervision_form",
            object_id=form_id,
            after=values,
        )
    return answer


@dataclass(frozen=True)
class FillRateRow:
    code: str
    name: str
    institutions: int
    submitted: int
    approved: int

    @property
    def rate(self) -> float:
        return (self.submitted + self.approved) / self.institutions if self.institutions else 0.0


def fill_rate(actor: Actor, form_id: int) -> list[FillRateRow]:
    """Per sub-region of the designer: institutions reached, answers submitted and approved."""
    with db.session_scope() as session:
        form = _designer_form(session, actor, form_id)
        group = {Level.PROVINCE: Institution.city_code, Level.CITY: Institution.county_code}.get(
            actor.level, Institution.township_code
        )
        totals = dict(
            session.exec(select(group, func.count()).where(scope_filter(actor, Institution)).group_by(group)).all()
        )
        states: dict[tuple[str, str], int] = {}
        for key, state, n in session.exec(
            select(group, SupervisionAnswer.state, func.count())
            .join(Institution, col(Institution.id) == col(SupervisionAnswer.institution_id))
            .where(col(SupervisionAnswer.form_id) == form.id, scope_filter(actor, Institution))
            .group_by(group, SupervisionAnswer.state)
        ).all():
            states[(key, state)] = n
        names = {r.code: r.name for r in session.exec(select(Region).where(col(Region.code).in_(list(totals)))).all()}
        return [
            FillRateRow(
                code=code or "",
                name=names.get(code, code) if code else "（未划入乡镇）",
                institutions=n,
                submitted=states.get((code, "submitted"), 0),
                approved=states.get((code, "approved"), 0),
            )
            for code, n in sorted(totals.items(), key=lambda item: item[0] or "")
        ]


def export_answers(actor: Actor, form_id: int) -> bytes:
    """The answers in the designer's scope as an .xlsx workbook (the download is audited)."""
    with db.session_scope(write=True) as session:
        form = _designer_form(session, actor, form_id)
        section = section_of(form)
        rows = session.exec(
            select(SupervisionAnswer, Institution)
            .join(Institution, col(Institution.id) == col(SupervisionAnswer.institution_id))
            .where(col(SupervisionAnswer.form_id) == form.id, scope_filter(actor, Institution))
            .order_by(col(Institution.code))
        ).all()
        workbook = Workbook()
        sheet = workbook.active
        assert sheet is not None
        sheet.title = "答复"
        sheet.append(["机构标识码", "机构名称", "状态", *[spec.label for spec in section.fields]])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for answer, institution in rows:
            values = json.loads(answer.data)
            sheet.append(
                [
                    institution.code,
                    institution.name,
                    ANSWER_STATES[answer.state],
                    *[display(spec, values.get(spec.name)) for spec in section.fields],
                ]
            )
        buffer = io.BytesIO()
        workbook.save(buffer)
        audit.record(
            session,
            actor,
            "form_export",
            object_type="supervision_form",
            object_id=form_id,
            detail=f"{len(rows)} 条答复",
        )
    return buffer.getvalue()
