"""Demo data: a small, realistic slice of Henan, made through the same services users call.

Four cities (郑州, 开封, 洛阳 and 济源), a county with townships (中牟县) and its township central
kindergarten, thirteen institutions of every kind, and one account for each role, all named
``demo-*``. The full demo adds requests in every state and children's records: classes, children
saved, submitted, approved (with student numbers), returned and overdue, and one problem record
between kindergartens of two counties for the city to arbitrate. The township codes below are
illustrative: real ones come from the county's list through ``python -m portal regions import-townships``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import col, func, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.roles import Duty, Level
from portal.data import db
from portal.data.models import Region, User
from portal.services import audit
from portal.services.accounts import NewUser, create_user
from portal.services.errors import ServiceError
from portal.services.institutions import InstitutionInput, register_institution
from portal.services.regions import import_townships, load_official_regions
from portal.settings import get_settings

DEFAULT_DEMO_PASSWORD = "Demo#Portal2026"

DEMO_TOWNSHIPS_CSV = """代码,名称
410122100,城关镇
410122101,官渡镇
410122102,狼城岗镇
410122103,刘集镇
"""

# code, name, kind, ownership, inclusive, urban-rural class, county, township, township-central
DEMO_INSTITUTIONS: tuple[tuple[str, str, str, str, bool, str, str, str | None, bool], ...] = (
    ("4101220001", "中牟县官渡镇中心幼儿园", "独立设置幼儿园", "公办", True, "镇中心区", "410122", "410122101", True),
    ("4101220002", "中牟县官渡镇小庙王村幼儿园", "独立设置幼儿园", "民办", True, "村庄", "410122", "410122101", False),
    (
        "4101220003",
        "中牟县官渡镇第一小学附设幼儿班",
        "附设幼儿班",
        "公办",
        True,
        "乡中心区",
        "410122",
        "410122101",
        False,
    ),
    ("4101220004", "中牟县实验幼儿园", "独立设置幼儿园", "公办", True, "镇中心区", "410122", "410122100", False),
    ("4101220005", "中牟县狼城岗镇中心幼儿园", "独立设置幼儿园", "公办", True, "镇中心区", "410122", "410122102", True),
    ("4101020001", "郑州市中原区伊河路幼儿园", "独立设置幼儿园", "公办", True, "主城区", "410102", None, False),
    ("4101020002", "郑州市中原区小博士幼儿园", "独立设置幼儿园", "民办", False, "主城区", "410102", None, False),
    ("4101050001", "郑州市金水区经三路幼儿园", "独立设置幼儿园", "公办", True, "主城区", "410105", None, False),
    ("4101050002", "郑州市金水区阳光宝贝幼儿园", "独立设置幼儿园", "民办", True, "城乡结合区", "410105", None, False),
    ("4102250001", "兰考县城关镇第一幼儿园", "独立设置幼儿园", "公办", True, "镇中心区", "410225", None, False),
    ("4102250002", "兰考县东坝头乡张庄小学学前班", "学前班", "公办", True, "村庄", "410225", None, False),
    ("4103110001", "洛阳市洛龙区英才幼儿园", "独立设置幼儿园", "民办", False, "主城区", "410311", None, False),
    ("4190010001", "济源市第一幼儿园", "独立设置幼儿园", "公办", True, "主城区", "419001", None, False),
)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    real_name: str
    level: Level
    duty: Duty
    region_code: str | None = None
    institution_code: str | None = None
    phone: str = ""


DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("demo-province", "王建国", Level.PROVINCE, Duty.LEADER, region_code="410000", phone="0371-69691882"),
    DemoAccount("demo-city", "李慧敏", Level.CITY, Duty.REVIEWER, region_code="410100", phone="0371-67181234"),
    DemoAccount("demo-county", "张伟", Level.COUNTY, Duty.REVIEWER, region_code="410122", phone="0371-62171234"),
    DemoAccount(
        "demo-township", "刘芳", Level.TOWNSHIP, Duty.REVIEWER, institution_code="4101220001", phone="13937130001"
    ),
    DemoAccount(
        "demo-clerk", "陈静", Level.INSTITUTION, Duty.ENTRY, institution_code="4101220002", phone="13937130002"
    ),
    DemoAccount(
        "demo-reviewer", "吴娟", Level.INSTITUTION, Duty.REVIEWER, institution_code="4101220002", phone="13937130003"
    ),
    DemoAccount("demo-sysadmin", "赵磊", Level.PROVINCE, Duty.SYSADMIN, region_code="410000", phone="0371-69691001"),
    DemoAccount("demo-secadmin", "孙丽", Level.PROVINCE, Duty.SECADMIN, region_code="410000", phone="0371-69691002"),
    DemoAccount("demo-auditor", "周强", Level.PROVINCE, Duty.AUDITOR, region_code="410000", phone="0371-69691003"),
    DemoAccount(
        "demo-province-reviewer", "郑晓燕", Level.PROVINCE, Duty.REVIEWER, region_code="410000", phone="0371-69691005"
    ),
    DemoAccount("demo-finance", "钱敏", Level.PROVINCE, Duty.FINANCE, region_code="410000", phone="0371-69691004"),
)


def _load_projects_and_notices() -> None:
    """Projects with their review and monthly progress (§15, §16); a funding run of the province
    (R4.2); notices from the province and the county, and the support contacts of the province,
    郑州市 and 中牟县 (R7)."""
    from portal.services import funding, notices, projects, support, workflow

    today = workflow.local_today()
    projects.seed_demo(today)
    funding.seed_demo(today)
    notices.seed_demo(today)
    support.seed_demo(today)


@dataclass(frozen=True)
class DemoSummary:
    regions: int
    townships: int
    institutions: int
    accounts: int


def load_demo(password: str = DEFAULT_DEMO_PASSWORD, with_requests: bool = True) -> DemoSummary:
    """Fill an empty database with the demo province. Refuses if any account exists.

    ``with_requests`` adds institution information in every review state, so that each queue
    has work in it (tests that need a clean slate leave it out)."""
    with db.session_scope() as session:
        if session.exec(select(func.count()).select_from(User)).one():
            raise ServiceError("数据库中已有用户账户：演示数据只能载入空数据库。")
        has_regions = session.exec(select(func.count()).select_from(Region)).one() > 0
    if not has_regions:
        load_official_regions(SYSTEM_ACTOR)
    townships = import_townships(SYSTEM_ACTOR, DEMO_TOWNSHIPS_CSV.encode("utf-8"))
    if not townships.ok:
        raise ServiceError("；".join(townships.errors))
    for code, name, kind, ownership, inclusive, urban_rural, county, township, central in DEMO_INSTITUTIONS:
        register_institution(
            SYSTEM_ACTOR,
            InstitutionInput(
                code=code,
                name=name,
                kind=kind,
                ownership=ownership,
                inclusive=inclusive,
                urban_rural=urban_rural,
                county_code=county,
                township_code=township,
                is_township_central=central,
            ),
        )
    for account in DEMO_ACCOUNTS:
        create_user(
            SYSTEM_ACTOR,
            NewUser(
                username=account.username,
                real_name=account.real_name,
                level=account.level,
                duty=account.duty,
                password=password,
                phone=account.phone,
                region_code=account.region_code,
                institution_code=account.institution_code,
                is_demo=True,
            ),
        )
    if with_requests:
        _load_registry_states(password)
        _load_children(password)
        _load_projects_and_notices()
    with db.session_scope(write=True) as session:
        regions = session.exec(select(func.count()).select_from(Region)).one()
        audit.record(session, SYSTEM_ACTOR, "demo_load", detail="载入演示数据")
    return DemoSummary(
        regions=regions,
        townships=townships.added,
        institutions=len(DEMO_INSTITUTIONS),
        accounts=len(DEMO_ACCOUNTS),
    )


# Extra clerks (beyond the eight demo roles) so that several institutions have information in review.
EXTRA_CLERKS: tuple[tuple[str, str], ...] = (
    ("4101220003", "杨丽"),
    ("4101220004", "郭敏"),
    ("4101020001", "马晓燕"),
)


def _values(institution_code: str, section: str, **changes: object) -> dict[str, object]:
    """Plausible values for a section of a demo institution."""
    n = int(institution_code[-2:])
    base = {
        "base": {
            "address": f"河南省郑州市中牟县{('官渡镇', '官渡镇', '城关镇')[n % 3]}人民路 {10 + n} 号",
            "postcode": "451450",
            "phone": f"0371-6217{1000 + n:04d}",
            "principal": ("王秀英", "李红梅", "张丽", "赵玉兰")[n % 4],
            "license_no": f"教{'民' if n % 2 == 0 else '公'}1410122{70000 + n}",
            "founded": f"{2000 + n}-09-01",
            "sponsor": "中牟县教育局" if n % 2 else "王秀英",
            "authority": "教育部门" if n % 2 else "民办",
            "boarding": False,
        },
        "conditions": {
            "land_area": 1200 + 100 * n,
            "building_area": 860.5 + 50 * n,
            "playground_area": 400 + 20 * n,
            "classrooms": 4 + n,
            "books": 1200 + 100 * n,
            "staff": 10 + 2 * n,
            "teachers": 6 + n,
            "toys": "基本齐全",
        },
        "buildings": {
            "premises": "自有",
            "built_year": 2005 + n,
            "structure": "砖混",
            "floors": 2,
            "dangerous": False,
            "fire_checked": True,
        },
    }[section]
    return {**base, **changes}


def _actor(username: str) -> Actor:
    from portal.services.login import build_actor

    with db.session_scope() as session:
        return build_actor(session, session.exec(select(User).where(User.username == username)).one())


def _load_registry_states(password: str) -> None:
    """Institution information in every state: not filled, draft, waiting for the township,
    waiting for the county, returned, approved, a change declaration and a notice in review."""
    from datetime import timedelta

    from portal.services import registry, workflow

    for code, name in EXTRA_CLERKS:
        create_user(
            SYSTEM_ACTOR,
            NewUser(
                f"demo-clerk-{code}", name, Level.INSTITUTION, Duty.ENTRY, password, institution_code=code, is_demo=True
            ),
        )

    actor = _actor
    clerk, township, county = actor("demo-clerk"), actor("demo-township"), actor("demo-county")
    # 小庙王村幼儿园 (demo-clerk): base approved; conditions returned by the township; buildings a draft.
    request = registry.submit_section(clerk, "base", _values("4101220002", "base"))
    workflow.decide(township, request.id or 0, "approve")
    workflow.decide(county, request.id or 0, "approve")
    request = registry.submit_section(clerk, "conditions", _values("4101220002", "conditions", books=50))
    workflow.decide(township, request.id or 0, "return", "幼儿图书册数明显偏少，请核实后重新填报")
    registry.save_draft(clerk, "buildings", _values("4101220002", "buildings"))
    # 第一小学附设幼儿班: base waiting for the township's first check, past its deadline (its
    # working days are counted from a submission three weeks ago).
    registry.submit_section(
        actor("demo-clerk-4101220003"),
        "base",
        _values("4101220003", "base"),
        today=workflow.local_today() - timedelta(days=21),
    )
    # 实验幼儿园 (urban): base waiting for the county; conditions approved, then a change
    # declaration (more classrooms) and a notice (new phone number) waiting for the county.
    experimental = actor("demo-clerk-4101220004")
    registry.submit_section(experimental, "base", _values("4101220004", "base"))
    request = registry.submit_section(experimental, "conditions", _values("4101220004", "conditions"))
    workflow.decide(county, request.id or 0, "approve")
    registry.submit_section(experimental, "conditions", _values("4101220004", "conditions", classrooms=10))
    request = registry.submit_section(experimental, "buildings", _values("4101220004", "buildings"))
    workflow.decide(county, request.id or 0, "approve")
    # 小庙王村幼儿园 changed its phone number: a notice the county only acknowledges.
    registry.submit_section(clerk, "base", _values("4101220002", "base", phone="0371-62179999"))
    # 伊河路幼儿园 (中原区): base waiting for its county.
    registry.submit_section(actor("demo-clerk-4101020001"), "base", _values("4101020001", "base"))
    _load_supervision(actor("demo-sysadmin"), experimental)


def _load_supervision(designer: Actor, clerk: Actor) -> None:
    """A published provincial supervision form, answered by one kindergarten (in the county's queue)."""
    from datetime import timedelta

    from portal.services import supervision, workflow
    from portal.services.supervision import FieldInput

    form = supervision.design_form(
        designer,
        title="2026 年秋季学期收费与安全情况",
        description="请各园按实际情况填报，收费标准以物价部门核定为准。",
        due_date=workflow.local_today() + timedelta(days=20),
        fields=[
            FieldInput("保育教育费（元/月）", "number", True),
            FieldInput("收费是否公示", "bool"),
            FieldInput("招生方式", "choice", True, "划片招生、摇号、自主招生"),
            FieldInput("本学期安全检查项目", "multichoice", False, "消防、食品、校车、大型玩具"),
            FieldInput("最近一次消防演练日期", "date", True),
            FieldInput("收费公示照片", "file"),
        ],
    )
    supervision.publish_form(designer, form.id or 0)
    supervision.answer_form(
        clerk,
        form.id or 0,
        {"f1": "680", "f2": True, "f3": "划片招生", "f4": ["消防", "食品"], "f5": "2026-10-16"},
        submit=True,
    )


# --- children's records ---------------------------------------------------------------------------

# A reviewer of 中原区 (the county of 伊河路幼儿园), so that a child there can be approved.
EXTRA_REVIEWERS: tuple[tuple[str, str], ...] = (("410102", "韩冬梅"),)

_CLASSES: tuple[tuple[str, str], ...] = (("小一班", "小班"), ("中一班", "中班"), ("大一班", "大班"), ("托一班", "托班"))
# name, gender, age at the start of the school year (born that many years before, on month/day),
# class, state to reach ("overdue": saved, enrolled more than the deadline ago), document ("id" or
# "none"). The sequence of the ID number is the child's place in the list, from 11.
_CHILDREN: tuple[tuple[str, str, int, int, int, str, str, str], ...] = (
    ("王梓涵", "女", 3, 5, 12, "小一班", "approved", "id"),
    ("李浩然", "男", 3, 8, 3, "小一班", "approved", "id"),
    ("张欣怡", "女", 4, 2, 20, "中一班", "approved", "id"),
    ("刘子轩", "男", 5, 11, 6, "大一班", "approved", "none"),
    ("陈雨桐", "女", 3, 1, 9, "小一班", "submitted", "id"),
    ("杨宇航", "男", 4, 6, 30, "中一班", "submitted", "id"),
    ("赵一诺", "女", 4, 9, 17, "中一班", "returned", "id"),
    ("黄俊熙", "男", 5, 3, 25, "大一班", "saved", "id"),
    ("周思琪", "女", 3, 12, 1, "小一班", "overdue", "id"),
)
_GUARDIANS = (("母亲", "王丽"), ("父亲", "李强"), ("母亲", "张敏"), ("祖父母", "刘建华"), ("母亲", "陈红"))


def _resident_id(region: str, birth: date, sequence: int, male: bool) -> str:
    from portal.services.identity import check_character

    body = f"{region}{birth:%Y%m%d}{sequence * 2 - (1 if male else 0):03d}"
    return body + check_character(body)


def _child(
    name: str, gender: str, birth: date, class_name: str, enrolment: date, document: str, sequence: int, region: str
) -> dict[str, object]:
    relation, guardian = _GUARDIANS[sequence % len(_GUARDIANS)]
    values: dict[str, object] = {
        "name": name,
        "gender": gender,
        "birth_date": birth.isoformat(),
        "document_type": "居民身份证" if document == "id" else "无证件",
        "document_number": _resident_id(region, birth, sequence, gender == "男") if document == "id" else "",
        "nationality": "中国",
        "ethnicity": "汉族",
        "hukou_region": "河南省郑州市中牟县" if region == "410122" else "河南省郑州市中原区",
        "address": "中牟县官渡镇小庙王村" if region == "410122" else "郑州市中原区伊河路",
        "guardian1_relation": relation,
        "guardian1_name": guardian,
        "guardian1_phone": f"1393713{sequence:04d}",
        "enrolment_date": enrolment.isoformat(),
        "class_name": class_name,
        "flag_left_behind": sequence % 4 == 0,
        "flag_poverty": sequence % 5 == 2,  # 建档立卡: the funding run shows the aid
    }
    return values


def _load_children(password: str) -> None:
    """Children of 小庙王村幼儿园 (demo-clerk) in every state, and a child of 伊河路幼儿园 (中原区)
    whom 小庙王村 also registered: a problem record between two counties, for the city."""
    from dateutil.relativedelta import relativedelta

    from portal.services import children, workflow

    for region, name in EXTRA_REVIEWERS:
        create_user(
            SYSTEM_ACTOR,
            NewUser(
                f"demo-county-{region}", name, Level.COUNTY, Duty.REVIEWER, password, region_code=region, is_demo=True
            ),
        )
    clerk, county = _actor("demo-clerk"), _actor("demo-county")
    other_clerk, other_county = _actor("demo-clerk-4101020001"), _actor("demo-county-410102")
    today = workflow.local_today()
    year = children.school_year_of(today)
    start = date(int(year[:4]), 9, 1)
    for class_name, grade in _CLASSES:
        children.create_class(clerk, {"name": class_name, "grade": grade, "school_year": year})
    children.create_class(other_clerk, {"name": "小一班", "grade": "小班", "school_year": year})

    ids: dict[str, list[int]] = {}
    months = get_settings().child_record_months
    for sequence, (name, gender, age, month, day, class_name, state, document) in enumerate(_CHILDREN, start=11):
        birth = date(start.year - age, month, day)
        # Children of the older grades came in earlier years; the overdue one a term ago, the
        # one just saved last week.
        enrolment = start - relativedelta(years=age - 3) if age > 3 else start
        if state == "overdue":
            enrolment = min(start, today - relativedelta(months=months, days=15))
        elif state == "saved":
            enrolment = max(start, today - relativedelta(days=7))
        values = _child(name, gender, birth, class_name, enrolment, document, sequence, "410122")
        saved = children.save_child(clerk, values, today=today)
        ids.setdefault(state, []).append(saved.child_id)
    for state in ("approved", "submitted", "returned"):
        children.submit_children(clerk, ids[state])
    for request_id in _child_requests(ids["approved"]):
        workflow.decide(county, request_id, "approve")
    for request_id in _child_requests(ids["returned"]):
        workflow.decide(county, request_id, "return", "出生日期与户口簿不一致，请核对后重新提交")

    # The same child in two kindergartens: approved in 中原区 first (a student number), then
    # registered by 小庙王村 too; its approval by 中牟县 finds the number taken: a problem record
    # for 郑州市 to arbitrate (the two kindergartens are in different counties).
    birth = date(start.year - 3, 7, 8)
    twin = _child("孙嘉怡", "女", birth, "小一班", start, "id", 2, "410102")
    first = children.save_child(other_clerk, twin, today=today)
    children.submit_children(other_clerk, [first.child_id])
    workflow.decide(other_county, _child_requests([first.child_id])[0], "approve")
    second = children.save_child(
        clerk, {**twin, "address": "中牟县官渡镇小庙王村", "guardian1_phone": "13937139876"}, today=today
    )
    children.submit_children(clerk, [second.child_id])
    workflow.decide(county, _child_requests([second.child_id])[0], "approve")

    _load_life_events(clerk, county, start, today)

    # A guardian's application to correct a numbered child's name, waiting for demo-reviewer.
    from portal.services import key_changes

    key_changes.request_key_change(
        clerk,
        ids["approved"][0],
        {"name": "王梓晗"},
        "监护人申请：户口簿上的姓名为“王梓晗”，入园时录入有误",
        [("监护人申请书.pdf", DEMO_PDF)],
    )


def _numbered(clerk: Actor, reviewer: Actor, values: dict[str, object], today: date) -> int:
    """A child entered, submitted and approved: numbered."""
    from portal.services import children, workflow

    saved = children.save_child(clerk, values, today=today)
    children.submit_children(clerk, [saved.child_id], today=today)
    workflow.decide(reviewer, _child_requests([saved.child_id])[0], "approve")
    return saved.child_id


def _number(child_id: int) -> str:
    from portal.data.models import Child
    from portal.services import children

    with db.session_scope() as session:
        child = session.get(Child, child_id)
        assert child is not None
        return children.number_of(child)


def _load_life_events(clerk: Actor, county: Actor, start: date, today: date) -> None:
    """A child's life after the first record, for 小庙王村幼儿园 (demo-clerk): last year's graduates,
    a child who left, and transfers at every stage: one asked of it by 实验幼儿园 (waiting for its
    agreement, past the sender's deadline, so flagged to the county), one to 中原区 waiting for the
    county's review, one coming in from 实验幼儿园 waiting for it to complete, one completed."""
    from datetime import timedelta

    from portal.services import children, leaving, transfers, workflow, yearly

    year = children.school_year_of(today)
    # Last school year's 大班: two children graduated in July, their records closed, numbers kept.
    last_year = children.school_year_of(date(start.year, 6, 1))
    children.create_class(clerk, {"name": "大一班", "grade": "大班", "school_year": last_year})
    graduates = [
        _numbered(
            clerk,
            county,
            _child(name, gender, birth, "大一班", date(start.year - 3, 9, 1), "id", sequence, "410122"),
            date(start.year, 6, 1),
        )
        for name, gender, birth, sequence in (
            ("徐子墨", "男", date(start.year - 6, 3, 14), 31),
            ("何雨萱", "女", date(start.year - 6, 7, 2), 32),
        )
    ]
    yearly.apply_graduation(clerk, graduates, today=date(start.year, 7, 10))

    # A child who left with her parents for another province.
    left = _numbered(
        clerk, county, _child("吴佳琪", "女", date(start.year - 4, 4, 21), "中一班", start, "id", 33, "410122"), today
    )
    leaving.request_leave(
        clerk, left, "left", max(start, today - timedelta(days=20)), "随父母迁往江苏省苏州市", today=today
    )
    workflow.decide(county, workflow.queue(county, kind=leaving.KIND_LEAVE).rows[0].id, "approve")

    # A child who came from 河北省 with the J number given there: kept on approval, marked 外省转入.
    from portal.services.identity import student_number_j

    hebei_birth = date(start.year - 4, 1, 23)
    hebei = _child("田语桐", "女", hebei_birth, "中一班", start, "none", 37, "410122")
    hebei.update(origin_province="河北省", origin_number=student_number_j("130102", hebei_birth, 53))
    _numbered(clerk, county, hebei, today)

    lab, lab_county = _actor("demo-clerk-4101220004"), county
    children.create_class(lab, {"name": "中一班", "grade": "中班", "school_year": year})
    children.create_class(lab, {"name": "小一班", "grade": "小班", "school_year": year})
    lab_class = children.list_classes(lab)
    ours = {c.name: c.id for c in children.list_classes(clerk)}

    # 实验幼儿园 asks for 张欣怡 (approved above); 小庙王村 has not answered in time.
    asked = next(r for r in children.list_children(clerk, name="张欣怡").rows)
    transfers.start_transfer(
        lab,
        _number(asked.id),
        "张欣怡",
        lab_class[0].id,
        "随父母搬至县城居住",
        today=max(start, today - timedelta(days=12)),
    )

    # 伊河路幼儿园 (中原区) asks for 马浩宇; 小庙王村 agreed; 中牟县 reviews next (across counties).
    leaver = _numbered(
        clerk, county, _child("马浩宇", "男", date(start.year - 5, 10, 5), "大一班", start, "id", 34, "410122"), today
    )
    other = _actor("demo-clerk-4101020001")
    transfer_id = transfers.start_transfer(
        other, _number(leaver), "马浩宇", children.list_classes(other)[0].id, "父母工作调动至郑州市中原区", today=today
    )
    transfers.agree(clerk, transfer_id, today=today)

    # 小庙王村 asks 实验幼儿园 for 高梓萌; it agreed; 小庙王村 completes it (待本园办理转入).
    coming = _numbered(
        lab, lab_county, _child("高梓萌", "女", date(start.year - 3, 2, 11), "小一班", start, "id", 35, "410122"), today
    )
    transfer_id = transfers.start_transfer(clerk, _number(coming), "高梓萌", ours["小一班"], "离家更近", today=today)
    transfers.agree(lab, transfer_id, today=today)

    # 罗一鸣 came from 实验幼儿园 last month: completed, his record and number unchanged.
    came = _numbered(
        lab, lab_county, _child("罗一鸣", "男", date(start.year - 4, 8, 19), "中一班", start, "id", 36, "410122"), today
    )
    transfer_id = transfers.start_transfer(clerk, _number(came), "罗一鸣", ours["中一班"], "随祖父母居住", today=today)
    transfers.agree(lab, transfer_id, today=today)
    transfers.complete(clerk, transfer_id, ours["中一班"])


# A one-page PDF standing in for the guardian's signed application (demo data only).
DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def _child_requests(child_ids: list[int]) -> list[int]:
    from portal.data.models import Child

    with db.session_scope() as session:
        rows = session.exec(select(Child.request_id).where(col(Child.id).in_(child_ids)).order_by(col(Child.id))).all()
        return [r for r in rows if r is not None]
