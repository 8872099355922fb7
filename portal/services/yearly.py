"""The yearly cycle of an institution's children (§13, §26.4, Notice 三.2): class moves, July
graduation, August promotion, September entry, and the monthly updates by the 25th.

Class moves, graduation and promotion are the institution's own acts on its children (no other
party decides them): each is one transaction with one audit row. Promotion is recorded per school
year (``cycle_event``), so it is never applied twice; a graduate keeps its student number.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from openpyxl import Workbook
from sqlmodel import Session, col, func, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, may
from portal.data import crypto, db
from portal.data.child_fields import GRADE_CAPS
from portal.data.models import Child, CycleEvent, Institution, SchoolClass, Transfer
from portal.services import audit, children, exports, transfers, workflow
from portal.services.errors import NotFound, ServiceError
from portal.settings import get_settings

NEXT_GRADE = {"托班": "小班", "小班": "中班", "中班": "大班", "学前班": "学前班", "混龄": "混龄"}
IN_CLASS = ("saved", "submitted", "approved", "returned", "problem")


def next_school_year(school_year: str) -> str:
    start = int(school_year[:4]) + 1
    return f"{start}-{start + 1}"


def _classes(session: Session, institution_id: int, school_year: str) -> dict[int, SchoolClass]:
    rows = session.exec(
        select(SchoolClass).where(SchoolClass.institution_id == institution_id, SchoolClass.school_year == school_year)
    ).all()
    return {row.id or 0: row for row in rows}


def _in_class(session: Session, institution_id: int, class_ids: Sequence[int]) -> list[Child]:
    return list(
        session.exec(
            select(Child)
            .where(
                Child.institution_id == institution_id,
                col(Child.class_id).in_(list(class_ids)),
                col(Child.state).in_(IN_CLASS),
            )
            .order_by(col(Child.class_id), col(Child.name), col(Child.id))
        ).all()
    )


# --- class moves ---------------------------------------------------------------------------------


def move_children(actor: Actor, child_ids: Sequence[int], class_id: int, *, today: date | None = None) -> list[str]:
    """Move children of the institution into another class of this school year. Returns warnings
    (a class over its usual size); refuses closed records and classes of another year."""
    if not child_ids:
        raise ServiceError("请先选择要调班的幼儿。")
    today = today or workflow.local_today()
    with db.session_scope(write=True) as session:
        institution = children.own_institution(session, actor)
        target = session.get(SchoolClass, class_id)
        if target is None or target.institution_id != institution.id:
            raise NotFound("班级不存在。")
        if target.school_year != children.school_year_of(today):
            raise ServiceError(f"只能调入本学年（{children.school_year_of(today)}）的班级。")
        found = session.exec(
            select(Child).where(Child.institution_id == institution.id, col(Child.id).in_(list(child_ids)))
        ).all()
        if len(found) != len(set(child_ids)):
            raise NotFound("所选幼儿中有记录不存在。")
        closed = [c.name for c in found if c.state not in IN_CLASS]
        if closed:
            raise ServiceError(f"已毕业或已删除的幼儿不能调班：{'、'.join(closed)}。")
        moving = [c for c in found if c.class_id != class_id]
        if not moving:
            raise ServiceError(f"所选幼儿已在“{target.name}”。")
        before = {c.id: c.class_id for c in moving}
        for child in moving:
            child.class_id = class_id
            child.version += 1
            session.add(child)
        session.flush()
        size = session.exec(
            select(func.count()).select_from(Child).where(Child.class_id == class_id, col(Child.state).in_(IN_CLASS))
        ).one()
        audit.record(
            session,
            actor,
            "child_move",
            object_type="class",
            object_id=class_id,
            before={str(k): v for k, v in before.items()},
            detail=f"{len(moving)} 名幼儿调入“{target.name}”：{'、'.join(c.name for c in moving)}"[:500],
        )
    if size > target.capacity:
        return [f"班级“{target.name}”现有 {size} 人，超过额定人数 {target.capacity}。"]
    return []


# --- graduation (July) -------------------------------------------------------------------------------


def graduation_cutoff(school_year: str) -> date:
    """The day by which a child must reach the graduation age: 31 August (a setting) of the
    school year's second calendar year."""
    month, day = (int(part) for part in get_settings().graduation_cutoff.split("-"))
    return date(int(school_year[5:]), month, day)


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@dataclass(frozen=True)
class GraduationRow:
    child_id: int
    name: str
    class_name: str
    birth_date: date
    age_at_cutoff: int
    state_label: str
    eligible: bool  # old enough and numbered: proposed for graduation
    reason: str  # why not, when not


def graduation_preview(actor: Actor, *, today: date | None = None) -> list[GraduationRow]:
    """The 大班 children of this school year, those old enough by the cut-off day (and numbered)
    proposed for graduation."""
    today = today or workflow.local_today()
    year = children.school_year_of(today)
    cutoff = graduation_cutoff(year)
    minimum = get_settings().graduation_age
    with db.session_scope() as session:
        institution = children.own_institution(session, actor)
        classes = {k: v for k, v in _classes(session, institution.id or 0, year).items() if v.grade == "大班"}
        rows = []
        in_class = _in_class(session, institution.id or 0, list(classes))
        transferring = set(
            session.exec(
                select(Transfer.open_child_id).where(col(Transfer.open_child_id).in_([c.id for c in in_class]))
            ).all()
        )
        for child in in_class:
            age = age_on(child.birth_date, cutoff)
            reason = ""
            if age < minimum:
                reason = f"至 {cutoff:%Y年%m月%d日} 未满 {minimum} 周岁"
            elif child.state != "approved":
                reason = f"学籍{children.STATE_LABELS[child.state]}，审核通过后才能毕业"
            elif child.id in transferring:
                reason = "正在办理转园，转园完成或撤销后才能毕业"
            rows.append(
                GraduationRow(
                    child.id or 0,
                    child.name,
                    classes[child.class_id or 0].name,
                    child.birth_date,
                    age,
                    children.STATE_LABELS[child.state],
                    not reason,
                    reason,
                )
            )
        return rows


def apply_graduation(actor: Actor, child_ids: Sequence[int], *, today: date | None = None) -> int:
    """Close the chosen children's records as graduated (they keep their student numbers). A child
    too young, not numbered, or not in a 大班 of this year is refused, and nothing is applied."""
    if not child_ids:
        raise ServiceError("请先选择毕业的幼儿。")
    today = today or workflow.local_today()
    preview = {row.child_id: row for row in graduation_preview(actor, today=today)}
    refused = [
        f"{preview[i].name}（{preview[i].reason}）" for i in child_ids if i in preview and not preview[i].eligible
    ]
    missing = [i for i in child_ids if i not in preview]
    if missing:
        raise ServiceError("所选幼儿中有不在本学年大班的记录，不能办理毕业。")
    if refused:
        raise ServiceError(f"以下幼儿不能毕业：{'；'.join(refused)}。")
    with db.session_scope(write=True) as session:
        children.own_institution(session, actor)
        found = session.exec(select(Child).where(col(Child.id).in_(list(child_ids)))).all()
        for child in found:
            if child.state != "approved":  # changed since the preview
                raise ServiceError(f"{child.name}的学籍已变化，请刷新后重试。")
            transfers.refuse_if_transferring(session, child.id or 0, f"毕业（{child.name}）")
            child.state = "graduated"
            child.closed_on = today
            child.closed_reason = "毕业（升入小学）"
            child.version += 1
            session.add(child)
        audit.record(
            session,
            actor,
            "child_graduate",
            object_type="institution",
            object_id=actor.institution_id or "",
            detail=f"{len(found)} 名幼儿毕业：{'、'.join(c.name for c in found)}"[:500],
        )
    return len(child_ids)


def graduates_workbook(actor: Actor, school_year: str | None = None) -> bytes:
    """The graduates of a school year for the primary-school register: student number, name,
    gender, birth date, ID type and ID number (masked unless the user may reveal it; a full
    export is audited)."""
    school_year = school_year or children.school_year_of(workflow.local_today())
    if not re.fullmatch(r"\d{4}-\d{4}", school_year):
        raise ServiceError("学年格式应为“2026-2027”。")
    first, last = date(int(school_year[:4]), 9, 1), date(int(school_year[5:]), 8, 31)
    with db.session_scope(write=True) as session:
        institution = children.own_institution(session, actor)
        full = may(actor, Action.REVEAL_PERSONAL, institution)
        graduates = session.exec(
            select(Child)
            .where(
                Child.institution_id == institution.id,
                Child.state == "graduated",
                col(Child.closed_on) >= first,
                col(Child.closed_on) <= last,
            )
            .order_by(col(Child.name), col(Child.id))
        ).all()
        book = Workbook()
        sheet = book.active
        sheet.title = "毕业幼儿"
        sheet.append(["学籍号", "姓名", "性别", "出生日期", "证件类型", "证件号码", "毕业日期", "幼儿园"])
        for child in graduates:
            number = children.decrypt_field(child.id_cipher, children.CTX_DOCUMENT)
            sheet.append(
                [
                    exports.neutralise(value)
                    for value in (
                        children.number_of(child),
                        child.name,
                        child.gender,
                        child.birth_date.isoformat(),
                        child.document_type,
                        number if full else crypto.mask(number),
                        child.closed_on.isoformat() if child.closed_on else "",
                        institution.name,
                    )
                ]
            )
        for column in "AF":
            sheet.column_dimensions[column].width = 24
        audit.record(
            session,
            actor,
            "graduates_export",
            object_type="institution",
            object_id=institution.id or "",
            detail=f"{school_year} 学年毕业幼儿 {len(graduates)} 名（证件号码{'完整' if full else '遮盖'}）",
        )
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()


# --- promotion (August) ------------------------------------------------------------------------------


def target_class_name(name: str, grade: str) -> str:
    """小一班 → 中一班: the grade's first character replaced; other names are kept."""
    following = NEXT_GRADE[grade]
    if following != grade and name.startswith(grade[0]):
        return following[0] + name[1:]
    return name


@dataclass(frozen=True)
class PromotionRow:
    child_id: int
    name: str
    from_class: str
    from_grade: str
    to_grade: str
    to_class: str


@dataclass(frozen=True)
class PromotionPlan:
    from_year: str
    to_year: str
    rows: list[PromotionRow]
    staying: list[str]  # 大班 children not graduated: they are not promoted
    done: bool  # already applied into ``to_year``


def promotion_preview(actor: Actor, *, today: date | None = None) -> PromotionPlan:
    """The whole institution's promotion from this school year into the next: each child with the
    class it will be in (托班→小班→中班→大班; 学前班 and 混龄 keep their kind)."""
    today = today or workflow.local_today()
    from_year = children.school_year_of(today)
    to_year = next_school_year(from_year)
    with db.session_scope() as session:
        institution = children.own_institution(session, actor)
        classes = _classes(session, institution.id or 0, from_year)
        done = (
            session.exec(
                select(CycleEvent.id).where(
                    CycleEvent.institution_id == institution.id,
                    CycleEvent.kind == "promotion",
                    CycleEvent.school_year == to_year,
                )
            ).first()
            is not None
        )
        rows, staying = [], []
        for child in _in_class(session, institution.id or 0, list(classes)):
            school_class = classes[child.class_id or 0]
            if school_class.grade == "大班":
                staying.append(child.name)
                continue
            rows.append(
                PromotionRow(
                    child.id or 0,
                    child.name,
                    school_class.name,
                    school_class.grade,
                    NEXT_GRADE[school_class.grade],
                    target_class_name(school_class.name, school_class.grade),
                )
            )
        return PromotionPlan(from_year, to_year, rows, staying, done)


def apply_promotion(
    actor: Actor, adjustments: Mapping[int, str] | None = None, *, today: date | None = None
) -> PromotionPlan:
    """Apply the promotion in one step: next year's classes are created where missing (grade and
    usual size of the proposal), each child placed in its class (``adjustments`` maps a child to
    another class name of next year). Refused when already applied for that school year."""
    adjustments = dict(adjustments or {})
    plan = promotion_preview(actor, today=today)
    if plan.done:
        raise ServiceError(f"本园已完成升入 {plan.to_year} 学年的升班，不能重复升班。")
    if not plan.rows:
        raise ServiceError("本学年没有需要升班的幼儿。")
    unknown = set(adjustments) - {row.child_id for row in plan.rows}
    if unknown:
        raise ServiceError("调整中有不在升班名单中的幼儿。")
    with db.session_scope(write=True) as session:
        institution = children.own_institution(session, actor)
        assert institution.id is not None
        session.add(
            CycleEvent(
                institution_id=institution.id,
                kind="promotion",
                school_year=plan.to_year,
                children=len(plan.rows),
                applied_by=None if actor.is_system else actor.user_id,
            )
        )
        session.flush()  # the unique index refuses a second promotion into the same year
        targets = {c.name: c for c in _classes(session, institution.id, plan.to_year).values()}
        for row in plan.rows:
            name = (adjustments.get(row.child_id) or row.to_class).strip()
            if not name:
                raise ServiceError(f"{row.name}的新班级名称不能为空。")
            if name not in targets:
                targets[name] = _new_class(session, institution, plan.to_year, name, row.to_grade, actor)
            child = session.get(Child, row.child_id)
            if child is None or child.state not in IN_CLASS:
                raise ServiceError(f"{row.name}的学籍已变化，请刷新后重试。")
            child.class_id = targets[name].id
            child.version += 1
            session.add(child)
        audit.record(
            session,
            actor,
            "class_promotion",
            object_type="institution",
            object_id=institution.id,
            detail=f"升入 {plan.to_year} 学年：{len(plan.rows)} 名幼儿；大班未升班 {len(plan.staying)} 名",
        )
    return promotion_preview(actor, today=today)


def _new_class(
    session: Session, institution: Institution, school_year: str, name: str, grade: str, actor: Actor
) -> SchoolClass:
    row = SchoolClass(
        institution_id=institution.id or 0,
        school_year=school_year,
        grade=grade,
        name=name,
        capacity=GRADE_CAPS[grade],
        created_by=None if actor.is_system else actor.user_id,
    )
    session.add(row)
    session.flush()
    return row


# --- what the calendar expects this month ------------------------------------------------------------


@dataclass(frozen=True)
class CycleTask:
    label: str
    due: str
    done: bool
    detail: str


def cycle_tasks(actor: Actor, *, today: date | None = None) -> list[CycleTask]:
    """What the yearly calendar expects of the institution this month, and what is still undone:
    graduation in July, promotion in August, entry of new children in September, and every month
    the changes entered by the 25th (a setting)."""
    today = today or workflow.local_today()
    tasks: list[CycleTask] = []
    if today.month == 7:
        waiting = [row for row in graduation_preview(actor, today=today) if row.eligible]
        tasks.append(
            CycleTask(
                "办理大班幼儿毕业",
                "7 月",
                not waiting,
                f"还有 {len(waiting)} 名符合毕业条件的大班幼儿未办理毕业。" if waiting else "已办理完毕。",
            )
        )
    if today.month == 8:
        plan = promotion_preview(actor, today=today)
        tasks.append(
            CycleTask(
                f"升班（升入 {plan.to_year} 学年）",
                "8 月",
                plan.done,
                "已完成升班。" if plan.done else f"{len(plan.rows)} 名幼儿待升班。",
            )
        )
    if today.month == 9:
        year = children.school_year_of(today)
        with db.session_scope() as session:
            institution = children.own_institution(session, actor)
            entered = session.exec(
                select(func.count())
                .select_from(Child)
                .where(Child.institution_id == institution.id, col(Child.enrolment_date) >= date(today.year, 9, 1))
            ).one()
        tasks.append(
            CycleTask(
                f"录入 {year} 学年新入园幼儿",
                "9 月",
                entered > 0,
                f"本学年已录入新入园幼儿 {entered} 名。" if entered else "尚未录入本学年新入园的幼儿。",
            )
        )
    tasks.append(monthly_update_task(actor))
    return tasks


MONTHLY_TASK = "本月幼儿信息变动录入并提交"
UNSENT_STATES = ("saved", "returned")  # records not (yet again) submitted: the month's update is not done


def monthly_update_task(actor: Actor) -> CycleTask:
    """The month's update: done when no record of the institution is saved or returned and not
    submitted (overdue records are among these). Reminders (``snapshots.monthly_reminder``) and the
    county's list of institutions behind (``snapshots.monthly_update_laggards``) use this rule."""
    day = get_settings().monthly_update_day
    pending = children.list_children(actor, overdue=True, limit=1).total
    unsent = sum(children.state_counts(actor).get(state, 0) for state in UNSENT_STATES)
    return CycleTask(
        MONTHLY_TASK,
        f"每月 {day} 日前",
        unsent == 0,
        (f"还有 {unsent} 条记录未提交审核（其中 {pending} 条已超过建档期限）。" if unsent else "本月变动已全部提交。"),
    )
