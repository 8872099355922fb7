"""Demo data: a small, realistic slice of Henan, made through the same services users call.

Four cities (郑州, 开封, 洛阳 and 济源), a county with townships (中牟县) and its township central
kindergarten, thirteen institutions of every kind, and one account for each role, all named
``demo-*``. The township codes below are illustrative: real ones come from the county's list
through ``python -m portal regions import-townships``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import func, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.roles import Duty, Level
from portal.data import db
from portal.data.models import Region, User
from portal.services import audit
from portal.services.accounts import NewUser, create_user
from portal.services.errors import ServiceError
from portal.services.institutions import InstitutionInput, register_institution
from portal.services.regions import import_townships, load_official_regions

DEFAULT_DEMO_PASSWORD = "Demo@12345"

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
    DemoAccount("demo-sysadmin", "赵磊", Level.PROVINCE, Duty.SYSADMIN, region_code="410000", phone="0371-69691001"),
    DemoAccount("demo-secadmin", "孙丽", Level.PROVINCE, Duty.SECADMIN, region_code="410000", phone="0371-69691002"),
    DemoAccount("demo-auditor", "周强", Level.PROVINCE, Duty.AUDITOR, region_code="410000", phone="0371-69691003"),
)


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


def _load_registry_states(password: str) -> None:
    """Institution information in every state: not filled, draft, waiting for the township,
    waiting for the county, returned, approved, a change declaration and a notice in review."""
    from datetime import timedelta

    from portal.services import registry, workflow
    from portal.services.login import build_actor

    for code, name in EXTRA_CLERKS:
        create_user(
            SYSTEM_ACTOR,
            NewUser(
                f"demo-clerk-{code}", name, Level.INSTITUTION, Duty.ENTRY, password, institution_code=code, is_demo=True
            ),
        )

    def actor(username: str):  # type: ignore[no-untyped-def]
        with db.session_scope() as session:
            return build_actor(session, session.exec(select(User).where(User.username == username)).one())

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
