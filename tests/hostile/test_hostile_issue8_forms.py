"""The forms of issue 8 (central funds, projects, monthly progress, notices, support contacts),
driven through their services with the catalogue: a clean refusal that stores nothing, or the
value stored and read back exactly. Then the amounts, percentages and years typed as text: NaN,
infinities, exponents, thousands separators, full-width digits, negatives, three decimals, huge
numbers, blanks; each refused with a Chinese message, or stored as the exact Decimal it means."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.roles import Duty, Level
from portal.services import notices, projects, support, workflow
from portal.services.accounts import NewUser, create_user
from portal.services.projects import ProjectInput
from portal.services.support import ContactInput
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.hostile.catalogue import COMPACT
from tests.hostile.conftest import TODAY, World, parametrize_cases
from tests.hostile.outcome import attempt, check

YEAR = TODAY.year
PROVINCE = "41"
ALLOCATION = Decimal("1000000.00")  # the approved project's amount: the ceiling of its spending
CODE = "4101220001"  # 中牟县 kindergarten funded by the county's projects


@dataclass
class Issue8:
    """What the forms of issue 8 act on, made once per world."""

    ministry: Actor  # records central funds
    approved: int  # an approved project of 中牟县 (monthly progress)
    saved: int  # a saved project of 中牟县 (edited again and again)


def issue8(world: World) -> Issue8:
    found = world.extras.get("issue8")
    if found is None:
        create_user(
            SYSTEM_ACTOR, NewUser("issue8-ministry", "部级审核员", Level.MINISTRY, Duty.REVIEWER, DEMO_PASSWORD)
        )
        county, city = world.actors["county"], world.actors["city"]
        approved = projects.save_project(county, ProjectInput("敌意输入测试项目", "county", YEAR, str(ALLOCATION)))
        workflow.decide(city, projects.submit_project(county, approved), "approve")
        saved = projects.save_project(county, ProjectInput("反复修改的项目", "county", YEAR, "100.00"))
        found = world.extras["issue8"] = Issue8(actor_for("issue8-ministry"), approved, saved)
    assert isinstance(found, Issue8)
    return found


# --- the text fields -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    """One text field of one form: how to submit a value and how to read the stored one."""

    submit: Callable[[World, str], Any]
    read: Callable[[World, Any], Any]
    max_length: int
    multiline: bool = False


def _fund(world: World, note: str = "", amount: Any = "1.00", year: Any = YEAR) -> projects.CentralFundRow:
    """Record (or change: with the version on file) the province's central funds of ``year``
    (the version of this year's row for a year typed in other digits)."""
    ministry = issue8(world).ministry
    key = year if isinstance(year, int) else YEAR
    on_file = [f for f in projects.list_central_funds(ministry) if f.year == key and f.province_code == PROVINCE]
    version = on_file[0].version if on_file else None
    return projects.record_central_fund(
        ministry, province_code=PROVINCE, year=year, amount=amount, note=note, version=version
    )


def _fund_read(world: World, row: projects.CentralFundRow) -> Any:
    return next(f for f in projects.list_central_funds(issue8(world).ministry, row.year) if f.id == row.id)


def _project(field: str, **fixed: Any) -> Callable[[World, str], int]:
    def submit(world: World, text: str) -> int:
        values: dict[str, Any] = {"name": "学前教育项目", "source": "county", "year": YEAR, "amount": "100.00"}
        values.update(fixed)
        values[field] = text
        return projects.save_project(world.actors["county"], ProjectInput(**values))

    return submit


def _project_update(world: World, text: str) -> int:
    data = ProjectInput(text, "county", YEAR, "100.00", "修改后的用途")
    return projects.save_project(world.actors["county"], data, project_id=issue8(world).saved)


def _project_read(field: str) -> Callable[[World, int], Any]:
    def read(world: World, project_id: int) -> Any:
        detail = projects.project_detail(world.actors["county"], project_id)
        return detail.row.name if field == "name" else detail.purpose

    return read


def _progress(world: World, text: str) -> int:
    projects.update_progress(world.actors["county"], issue8(world).approved, spent="0", percent="0", notes=text)
    return issue8(world).approved


def _progress_read(world: World, project_id: int) -> str:
    return projects.project_detail(world.actors["county"], project_id).progress[0].notes


def _notice(part: str) -> Callable[[World, str], int]:
    def submit(world: World, text: str) -> int:
        values = {"title": "关于做好项目进展填报的通知", "body": "请各地按时填报。", part: text}
        return notices.publish_notice(world.actors["province"], values["title"], values["body"])

    return submit


def _notice_read(part: str) -> Callable[[World, int], Any]:
    def read(world: World, notice_id: int) -> Any:
        return getattr(notices.open_notice(world.actors["province"], notice_id), part)

    return read


def _contact(field: str) -> Callable[[World, str], Any]:
    def submit(world: World, text: str) -> support.ContactRow:
        values = {"unit": "河南省教育厅信息中心", "phone": "0371-69691001", field: text}
        return support.set_contact(world.actors["sysadmin"], ContactInput(**values))

    return submit


def _contact_read(field: str) -> Callable[[World, Any], Any]:
    def read(world: World, _row: Any) -> Any:
        own = support.own_contact(world.actors["sysadmin"])
        assert own is not None
        return getattr(own, field)

    return read


FORMS: dict[str, Form] = {
    "fund-note": Form(lambda world, text: _fund(world, text), lambda world, row: _fund_read(world, row).note, 500),
    "project-name": Form(_project("name"), _project_read("name"), 200),
    "project-purpose": Form(_project("purpose"), _project_read("purpose"), 2000, multiline=True),
    "project-update": Form(_project_update, _project_read("name"), 200),
    "progress-notes": Form(_progress, _progress_read, 2000, multiline=True),
    "notice-title": Form(_notice("title"), _notice_read("title"), notices.TITLE_MAX),
    "notice-body": Form(_notice("body"), _notice_read("body"), notices.BODY_MAX, multiline=True),
    **{
        f"support-{name}": Form(_contact(name), _contact_read(name), length)
        for name, (_label, length) in support.FIELDS.items()
    },
}

# The fields that meet the whole catalogue (the most typed free text of each service); the others,
# behind the same check_text, the compact one.
FULL = ("project-name", "progress-notes", "notice-title")


@pytest.mark.parametrize("form", FULL)
@parametrize_cases()
def test_an_issue8_form_field_refuses_cleanly_or_stores_exactly(
    world: World, key: str, hostile: str, form: str
) -> None:
    _submit_and_check(world, FORMS[form], hostile)


@pytest.mark.parametrize("form", [name for name in FORMS if name not in FULL])
@parametrize_cases(COMPACT)
def test_the_other_issue8_form_fields_too(world: World, key: str, hostile: str, form: str) -> None:
    _submit_and_check(world, FORMS[form], hostile)


def _submit_and_check(world: World, spec: Form, hostile: str) -> None:
    outcome = attempt(lambda: spec.submit(world, hostile))
    check(
        outcome,
        hostile,
        lambda handle: spec.read(world, handle),
        max_length=spec.max_length,
        multiline=spec.multiline,
    )


@parametrize_cases(COMPACT)
def test_the_funded_institutions_take_codes_only(world: World, key: str, hostile: str) -> None:
    """The institutions box holds 10-digit codes (with an optional amount): any text of the
    catalogue, alone or after a good code, is refused with the line it is on."""
    for typed in (hostile, f"{CODE}\n{hostile}", f"{CODE}:{hostile}"):
        outcome = attempt(lambda typed=typed: _project("institutions")(world, typed))
        assert not outcome.accepted, repr(typed[:40])


def test_full_width_institution_codes_are_the_same_codes(world: World) -> None:
    """A code typed with a Chinese input method's full-width digits (and colon) is the same code."""
    typed = CODE.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}) + "：１２００"
    project_id = _project("institutions", amount="5000.00")(world, typed)
    detail = projects.project_detail(world.actors["county"], project_id)
    assert [(i.code, i.amount) for i in detail.institutions] == [(CODE, Decimal("1200.00"))]


# --- amounts, percentages and years typed as text ------------------------------------------------------


@dataclass(frozen=True)
class Amount:
    """An amount (or percentage) field: how to submit it and read back what was stored."""

    submit: Callable[[World, Any], Any]
    read: Callable[[World, Any], Decimal | None]
    maximum: Decimal = projects.MONEY_MAX
    allow_zero: bool = False
    unit: str = "元"
    in_text: bool = False  # typed inside a text of entries (the institutions box): commas part entries


def _project_amount(world: World, typed: Any) -> int:
    return projects.save_project(world.actors["county"], ProjectInput("金额测试项目", "county", YEAR, typed))


def _institution_amount(world: World, typed: Any) -> int:
    data = ProjectInput("金额测试项目", "county", YEAR, str(projects.MONEY_MAX), institutions=f"{CODE}:{typed}")
    return projects.save_project(world.actors["county"], data)


def _progress_figures(world: World, *, spent: Any = "0", percent: Any = "0") -> int:
    projects.update_progress(world.actors["county"], issue8(world).approved, spent=spent, percent=percent)
    return issue8(world).approved


def _latest(world: World, project_id: int) -> projects.ProgressEntry:
    return projects.project_detail(world.actors["county"], project_id).progress[0]


AMOUNTS: dict[str, Amount] = {
    "fund-amount": Amount(
        lambda world, typed: _fund(world, amount=typed), lambda world, row: _fund_read(world, row).amount
    ),
    "project-amount": Amount(
        _project_amount, lambda world, pid: projects.project_detail(world.actors["county"], pid).row.amount
    ),
    "institution-amount": Amount(
        _institution_amount,
        lambda world, pid: projects.project_detail(world.actors["county"], pid).institutions[0].amount,
        in_text=True,
    ),
    "progress-spent": Amount(
        lambda world, typed: _progress_figures(world, spent=typed),
        lambda world, pid: _latest(world, pid).spent,
        maximum=ALLOCATION,
        allow_zero=True,
    ),
    "progress-percent": Amount(
        lambda world, typed: _progress_figures(world, percent=typed),
        lambda world, pid: _latest(world, pid).percent,
        maximum=Decimal(100),
        allow_zero=True,
        unit="%",
    ),
}

D = Decimal
# id -> (what is typed, the exact amount it means, or None when it must be refused)
NUMBERS: dict[str, tuple[Any, Decimal | None]] = {
    "plain": ("12345.67", D("12345.67")),
    "nan": ("NaN", None),
    "signalling-nan": ("sNaN", None),
    "inf": ("inf", None),
    "minus-infinity": ("-Infinity", None),
    "exponent-huge": ("1e999999", None),
    "exponent": ("1e3", None),
    "hex": ("0x10", None),
    "thousands": ("1,000", D("1000.00")),
    "thousands-cents": ("1,234,567.89", D("1234567.89")),
    "fullwidth-comma": ("1，000", D("1000.00")),
    "comma-as-decimal-point": ("1,5", None),  # 1.5 or 15? never guessed
    "misplaced-comma": ("12,34,567", None),
    "fullwidth-digits": ("１２３", D("123.00")),
    "fullwidth-point": ("１２３．４５", D("123.45")),
    "arabic-indic": ("١٢٣", D("123.00")),  # decimal digits of another script: the same number
    "superscript": ("²", None),
    "negative": ("-5", None),
    "negative-zero": ("-0", D("0.00")),
    "zero": ("0", D("0.00")),
    "plus": ("+5", D("5.00")),
    "three-decimals": ("1.234", None),
    "three-decimals-zero": ("1.230", D("1.23")),
    "huge": ("9" * 5000, None),
    "maximum": ("1000000000000", D("1000000000000.00")),
    "over-maximum": ("1000000000000.01", None),
    "empty": ("", None),
    "blank": ("   ", None),
    "yuan": ("12元", D("12.00")),
    "percent-sign": ("50%", D("50.00")),
    "ctl-nul": ("1\x00", None),
    "ctl-bell": ("12\x07", None),
    "bidi-rlo": ("\u202e12", None),
    "lone-surrogate": ("1\ud800", None),
    "sql": ("0; DROP TABLE project; --", None),
    "formula": ("=1+1", None),
    "python-float": (0.1, None),
    "decimal-nan": (D("NaN"), None),
    "decimal-tiny": (D("1E-999999"), None),
}
NUMBERS_PG = ["thousands", "fullwidth-digits", "nan", "negative-zero", "three-decimals", "huge", "ctl-nul", "empty"]


def _expected(case: str, spec: Amount) -> Decimal | None:
    typed, value = NUMBERS[case]
    if spec.in_text and any(comma in str(typed) for comma in ",，"):
        return None  # the box's separator: "金额不用千位分隔符"
    if (case == "yuan" and spec.unit != "元") or (case == "percent-sign" and spec.unit != "%"):
        return None
    if value is None or (value == 0 and not spec.allow_zero) or value > spec.maximum:
        return None
    return value


def _number_cases() -> list[Any]:
    params = [
        pytest.param("sqlite", field, case, id=f"sqlite-{field}-{case}")
        for field, spec in AMOUNTS.items()
        for case, (typed, _value) in NUMBERS.items()
        if isinstance(typed, str) or not spec.in_text
    ]
    params += [
        pytest.param("postgresql", field, case, id=f"postgresql-{field}-{case}", marks=pytest.mark.postgres)
        for field in AMOUNTS
        for case in NUMBERS_PG
    ]
    return params


@pytest.mark.parametrize(("world", "field", "case"), _number_cases(), indirect=["world"])
def test_an_amount_is_refused_or_stored_as_the_exact_decimal_it_means(world: World, field: str, case: str) -> None:
    spec = AMOUNTS[field]
    typed = NUMBERS[case][0]
    expected = _expected(case, spec)
    outcome = attempt(lambda: spec.submit(world, typed))
    if expected is None:
        assert not outcome.accepted, f"accepted {str(typed)[:30]!r}"
        return
    assert outcome.accepted, f"refused {str(typed)[:30]!r}: {outcome.error}"
    stored = spec.read(world, outcome.value)
    assert isinstance(stored, Decimal) and stored == expected
    assert str(stored) == str(expected), f"stored {stored!r}"  # the same digits: no -0.00, two places


YEARS: dict[str, tuple[Any, int | None]] = {
    "plain": (str(YEAR), YEAR),
    "fullwidth": (str(YEAR).translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}), YEAR),
    "superscript": ("²⁰²⁶", None),
    "arabic-indic": ("٢٠٢٦", YEAR),  # decimal digits of any script, as in an amount
    "huge": ("9" * 5000, None),
    "negative": (f"-{YEAR}", None),
    "decimal": (f"{YEAR}.0", None),
    "float": (float(YEAR), None),
    "nan": ("NaN", None),
    "empty": ("", None),
    "nul": (f"{YEAR}\x00", None),
    "too-early": ("2009", None),
}


@pytest.mark.parametrize("case", list(YEARS))
def test_a_year_typed_as_text(world: World, case: str) -> None:
    typed, expected = YEARS[case]
    outcome = attempt(lambda: _fund(world, amount="2.00", year=typed))
    if expected is None:
        assert not outcome.accepted
    else:
        assert outcome.accepted and outcome.value.year == expected


@pytest.mark.parametrize(
    "code",
    ["²", "9" * 30, "9" * 5000, "' OR 1=1 --", "４１０１２２", "\x00"],
    ids=["superscript", "past-bigint", "5000-digits", "sql", "fullwidth", "nul"],
)
def test_a_hostile_code_on_the_project_dashboard_finds_nothing(world: World, code: str) -> None:
    assert projects.dashboard_projects(world.actors["county"], code) == []
    assert projects.dashboard_projects(world.actors["city"], code) == []
