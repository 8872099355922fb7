"""Henan-scale demo data (MISSION.md R8.1): ``python -m portal demo --scale henan``.

Generates, into an empty database, the province of 附件2 (``portal.data.henan_2017``): per city the
same number of institutions in the system, of those whose base information is reported and
reviewed, the same education-statistics baseline (per county, year 2017) and the same number of
children with a student number, plus a few percent entered and not yet approved (saved or
submitted). ``--scale 0.01`` (any fraction in (0, 1]) rounds each city's figures, half up, and
keeps every city.

Institutions are spread over the real counties of each city (济源 is its own county) with
plausible names, kinds and sizes; children get valid resident ID numbers (the county's code, birth
dates of 3–5 year olds at the start of the school year) and student numbers G + ID, stored
encrypted and hashed exactly as the application stores them. Every reported institution has a
request of the review engine (pending at its county, or approved with the approved base section
as its record of truth); every submitted child a pending request in its county's queue. Each
institution has a clerk account, each city and county a reviewer; all are demo accounts.

The rows are written in bulk in one transaction (SQLite: the driver's ``executemany``;
PostgreSQL: ``COPY``), never through the ORM one by one, and the children of each county are
generated (names, numbers, encryption) in a pool of worker processes while the parent writes.
The progress counters, which the session hooks keep for ORM writes only, are rebuilt set-based
at the end (``counters.rebuild``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import multiprocessing
import os
import random
import time
from base64 import urlsafe_b64encode
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from itertools import accumulate
from operator import itemgetter, mul
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from faker.providers.person.zh_CN import Provider as NameProvider
from faker.providers.phone_number.zh_CN import Provider as PhoneProvider
from sqlalchemy import Boolean, Connection, Date, DateTime, Table, func, select, text
from sqlalchemy.dialects import sqlite
from sqlmodel import SQLModel

from portal.auth.actor import SYSTEM_ACTOR
from portal.auth.passwords import hash_password, password_problems
from portal.auth.roles import Duty, Level, role_label
from portal.clock import LOCAL_TZ, utcnow
from portal.data import counters, crypto, db
from portal.data.child_fields import GRADE_CAPS
from portal.data.fields import clean
from portal.data.henan_2017 import BASELINE_YEAR, CITIES
from portal.data.institution_fields import BASE
from portal.data.models import (
    Child,
    Institution,
    Region,
    Request,
    RequestEvent,
    User,
)
from portal.data.types import UTCDateTime
from portal.services import audit
from portal.services.children import (
    CTX_CONTENT,
    CTX_DOCUMENT,
    CTX_IDENTITY,
    CTX_PHONE,
    CTX_STUDENT_NUMBER,
    KIND_CHILD,
    normalise_name,
    school_year_of,
)
from portal.services.demo import DEFAULT_DEMO_PASSWORD
from portal.services.errors import ServiceError, ValidationError
from portal.services.identity import CHECK_CHARACTERS, WEIGHTS
from portal.services.registry import KIND_REPORT
from portal.services.workdays import add_working_days
from portal.settings import get_settings

PROVINCE_CODE = "41"
Echo = Callable[[str], None]

# Where a load spends its time is the children: above this many the pool is used.
POOL_THRESHOLD = 60_000
CHUNK_ROWS = 5_000  # rows per executemany / per progress step of the writer
ECHO_EVERY = 250_000  # children between two progress lines (besides one line per city)

# The accounts of the province, as in the small demo (portal.services.demo.DEMO_ACCOUNTS).
PROVINCE_ACCOUNTS: tuple[tuple[str, str, Duty, str], ...] = (
    ("demo-province", "王建国", Duty.LEADER, "0371-69691882"),
    ("demo-sysadmin", "赵磊", Duty.SYSADMIN, "0371-69691001"),
    ("demo-secadmin", "孙丽", Duty.SECADMIN, "0371-69691002"),
    ("demo-auditor", "周强", Duty.AUDITOR, "0371-69691003"),
    ("demo-finance", "钱敏", Duty.FINANCE, "0371-69691004"),
    ("demo-province-reviewer", "郑晓燕", Duty.REVIEWER, "0371-69691005"),
)

# --- what the province looks like -----------------------------------------------------------------

# Telephone area codes and the first four digits of the postcodes of the cities.
CITY_CONTACT: dict[str, tuple[str, str]] = {
    "410100": ("0371", "4500"),
    "410200": ("0371", "4750"),
    "410300": ("0379", "4710"),
    "410400": ("0375", "4670"),
    "410500": ("0372", "4550"),
    "410600": ("0392", "4580"),
    "410700": ("0373", "4530"),
    "410800": ("0391", "4540"),
    "410900": ("0393", "4570"),
    "411000": ("0374", "4610"),
    "411100": ("0395", "4620"),
    "411200": ("0398", "4720"),
    "411300": ("0377", "4730"),
    "411400": ("0370", "4760"),
    "411500": ("0376", "4640"),
    "411600": ("0394", "4660"),
    "411700": ("0396", "4630"),
    "419001": ("0391", "4590"),
}
KINDS = (("独立设置幼儿园", 0.72), ("附设幼儿班", 0.20), ("学前班", 0.08))
KIND_SIZE = {"独立设置幼儿园": 1.25, "附设幼儿班": 0.6, "学前班": 0.4}  # relative number of children
URBAN_CLASSES = (("主城区", 0.6), ("城乡结合区", 0.3), ("镇中心区", 0.1))
RURAL_CLASSES = (("镇中心区", 0.25), ("镇乡结合区", 0.1), ("乡中心区", 0.2), ("村庄", 0.44), ("特殊区域", 0.01))
STREETS = (
    "人民路", "建设路", "文化路", "解放路", "中原路", "黄河路", "嵩山路", "健康路", "工业路", "新华路",
    "团结路", "胜利路", "花园路", "育才街", "和平路", "光明路", "迎宾路", "振兴路", "长江路", "淮河路",
    "学府路", "东风路", "交通路", "民主路", "政通路", "南环路", "北环路", "朝阳路", "滨河路", "商都路",
)  # fmt: skip
PLACE_ENDINGS = ("庄", "营", "寨", "楼", "屯", "洼", "岗", "集", "湾", "桥", "店", "口", "坡", "湖")
BRANDS = (
    "阳光", "小太阳", "金太阳", "小天使", "爱心", "蓝天", "育才", "启明星", "博雅", "童心", "快乐宝贝",
    "金色摇篮", "七彩虹", "贝贝", "希望", "新星", "明珠", "智慧树", "春苗", "小博士", "星辰", "育英",
    "小精灵", "童乐", "艺术", "双语", "蒙特梭利", "未来星", "苗苗", "甜甜",
)  # fmt: skip
NUMERALS = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十")
# Given names of today's children (the parents' generation takes faker's zh_CN names).
BOY_CHARS = (
    "子", "梓", "浩", "宇", "轩", "睿", "泽", "俊", "博", "一", "铭", "皓", "晨", "辰", "航", "文", "嘉",
    "锦", "逸", "思", "承", "奕", "煜", "佑", "恒", "昊", "然", "阳", "宸", "硕", "沐", "骏", "明", "天",
    "墨", "言", "景", "瑞", "诚", "钧", "翰", "峻", "哲", "凯", "乐", "毅", "豪", "宁", "远", "家", "卓",
)  # fmt: skip
GIRL_CHARS = (
    "欣", "怡", "涵", "梓", "诗", "雨", "桐", "萱", "可", "馨", "悦", "一", "诺", "婉", "清", "若", "汐",
    "语", "思", "佳", "琪", "彤", "芮", "依", "晴", "沫", "瑶", "妍", "蕊", "艺", "安", "夕", "嘉", "念",
    "紫", "晨", "雅", "静", "梦", "月", "心", "子", "佩", "童", "舒", "菲", "宁", "乐", "芊", "希", "玥",
)  # fmt: skip
ETHNICITIES = (("汉族", 0.987), ("回族", 0.01), ("满族", 0.002), ("蒙古族", 0.001))
RELATIONS = (("母亲", 0.5), ("父亲", 0.35), ("祖父母", 0.1), ("外祖父母", 0.05))
SURNAMES = tuple(NameProvider.last_names)
SURNAME_WEIGHTS = tuple(float(w) for w in NameProvider.last_names.values())
MOBILE_PREFIXES = tuple(str(p) for p in PhoneProvider.phonenumber_prefixes)


Draw = Callable[[], float]  # random.Random().random: the one source of randomness of a draw
_CUMULATIVE: dict[int, tuple[list[str], list[float]]] = {}


def _pick(r: Draw, weighted: Sequence[tuple[str, float]]) -> str:
    """One value of (value, weight) pairs, by weight."""
    found = _CUMULATIVE.get(id(weighted))
    if found is None:
        found = _CUMULATIVE[id(weighted)] = ([v for v, _ in weighted], list(accumulate(w for _, w in weighted)))
    values, cumulative = found
    return values[min(bisect(cumulative, r() * cumulative[-1]), len(values) - 1)]


def _one(r: Draw, values: Sequence[str]) -> str:
    return values[int(r() * len(values))]


SURNAME_CUMULATIVE = list(accumulate(SURNAME_WEIGHTS))


def _surname(r: Draw) -> str:
    """A surname by its frequency (faker's zh_CN table)."""
    return SURNAMES[min(bisect(SURNAME_CUMULATIVE, r() * SURNAME_CUMULATIVE[-1]), len(SURNAMES) - 1)]


def _adult_name(r: Draw, male: bool, surname: str | None = None) -> str:
    """A parent's or grandparent's name (faker's zh_CN given names of that generation)."""
    surname = surname or _surname(r)
    given = _one(r, NameProvider.first_names_male if male else NameProvider.first_names_female)
    while given == surname:
        given = _one(r, NameProvider.first_names_male if male else NameProvider.first_names_female)
    return surname + given


def _child_name(r: Draw, surname: str, male: bool) -> str:
    chars = BOY_CHARS if male else GIRL_CHARS
    first = _one(r, chars)
    if r() < 0.15:
        return surname + first
    second = _one(r, chars)
    while second == first:
        second = _one(r, chars)
    return surname + first + second


def _mobile(r: Draw) -> str:
    return f"{_one(r, MOBILE_PREFIXES)}{int(r() * 100_000_000):08d}"


def _place(r: Draw) -> str:
    """A village or township name of the plain: 王庄, 李营, 张寨."""
    return _surname(r) + _one(r, PLACE_ENDINGS)


def _check_character(first17: str) -> str:
    """``identity.check_character`` without its argument checks (the test compares them)."""
    return CHECK_CHARACTERS[sum(map(mul, map(int, first17), WEIGHTS)) % 11]


# --- scale and the plan ---------------------------------------------------------------------------


def parse_scale(value: str | float) -> Decimal:
    """``henan`` (or 1) for the full province; a fraction in (0, 1] for a proportional one."""
    if isinstance(value, str) and value.strip().lower() in ("henan", "full"):
        return Decimal(1)
    try:
        scale = Decimal(str(value).strip())
    except InvalidOperation:
        raise ServiceError(f"比例“{value}”无效：应为 henan 或 (0, 1] 之间的小数，如 0.01。") from None
    if not scale.is_finite() or not (Decimal(0) < scale <= Decimal(1)):
        raise ServiceError(f"比例“{value}”无效：应为 henan 或 (0, 1] 之间的小数，如 0.01。")
    return scale


def scaled(value: int, scale: Decimal) -> int:
    """A figure of the notice at a scale, rounded half up."""
    return int((Decimal(value) * scale).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class CityTarget:
    code: str
    name: str
    institutions: int
    reported: int
    reviewed: int
    baseline: int
    numbered: int


def city_targets(scale: Decimal) -> list[CityTarget]:
    """Each city's figures at a scale: rounded half up; at least one institution per city."""
    found = []
    for city in CITIES:
        institutions = max(1, scaled(city.institutions, scale))
        reported = min(scaled(city.reported, scale), institutions)
        reviewed = min(scaled(city.reviewed, scale), reported)
        found.append(
            CityTarget(
                city.code,
                city.name,
                institutions,
                reported,
                reviewed,
                scaled(city.baseline, scale),
                scaled(city.numbered, scale),
            )
        )
    return found


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder): the parts sum to it."""
    if not weights:
        return []
    whole = sum(weights)
    if total <= 0 or whole <= 0:
        return [0] * len(weights)
    quotas = [total * w / whole for w in weights]
    parts = [math.floor(q) for q in quotas]
    order = sorted(range(len(weights)), key=lambda i: (quotas[i] - parts[i], -i), reverse=True)
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


@dataclass
class ClassPlan:
    id: int
    grade: str
    name: str
    capacity: int
    children: int


@dataclass
class InstitutionPlan:
    id: int
    code: str
    name: str
    kind: str
    ownership: str
    inclusive: bool
    urban_rural: str
    county_code: str
    city_code: str
    town: str
    clerk_id: int = 0
    clerk_name: str = ""
    state: str = "none"  # none / reported / reviewed
    numbered: int = 0
    saved: int = 0
    submitted: int = 0
    classes: list[ClassPlan] = field(default_factory=list)

    @property
    def children(self) -> int:
        return self.numbered + self.saved + self.submitted


@dataclass
class CountyPlan:
    code: str
    name: str
    city_code: str
    city_name: str
    urban: bool
    weight: float
    baseline: int = 0
    reviewer_id: int = 0
    reviewer_name: str = ""
    institutions: list[InstitutionPlan] = field(default_factory=list)

    @property
    def children(self) -> int:
        return sum(i.children for i in self.institutions)


@dataclass
class CityPlan:
    target: CityTarget
    counties: list[CountyPlan]
    reviewer_id: int = 0


def _counties(session: Any) -> dict[str, list[Region]]:
    """The real counties of each city of the notice (a city-level unit without counties, 济源, is
    its own county)."""
    found: dict[str, list[Region]] = {}
    for city in CITIES:
        rows = session.execute(
            select(Region).where(Region.level == "county", Region.city_code == city.code).order_by(Region.code)
        ).scalars()
        counties = list(rows)
        if not counties:
            own = session.get(Region, city.code)
            if own is not None and own.county_code == own.code:
                counties = [own]
        if not counties:
            raise ServiceError(f"{city.name}（{city.code}）没有县级区划：请先运行 python -m portal db upgrade。")
        found[city.code] = counties
    return found


def _class_plans(rng: random.Random, institution: InstitutionPlan, next_id: Iterator[int]) -> list[ClassPlan]:
    total = institution.children
    if total == 0:
        return []
    if institution.kind == "独立设置幼儿园":
        grades = ("小班", "中班", "大班")
        counts = apportion(total, [rng.uniform(0.85, 1.15) * base for base in (0.31, 0.33, 0.36)])
    elif institution.kind == "附设幼儿班":
        grades, counts = ("混龄",), [total]
    else:
        grades, counts = ("学前班",), [total]
    plans = []
    for grade, count in zip(grades, counts, strict=True):
        capacity = GRADE_CAPS[grade]
        classes = max(1, math.ceil(count / capacity)) if count else 0
        prefix = {"小班": "小", "中班": "中", "大班": "大", "混龄": "混龄", "学前班": "学前"}[grade]
        for number, size in enumerate(apportion(count, [1.0] * classes), start=1):
            label = (
                NUMERALS[number - 1] if number <= 10 else f"十{NUMERALS[number - 11]}" if number < 20 else str(number)
            )
            plans.append(ClassPlan(next(next_id), grade, f"{prefix}{label}班", capacity, size))
    return plans


def _institution_name(
    rng: random.Random, county: CountyPlan, kind: str, ownership: str, town: str, used: set[str]
) -> str:
    place = county.city_name + county.name if county.urban and county.code != county.city_code else county.name
    for _attempt in range(20):
        if kind == "附设幼儿班":
            name = f"{place}{town}{_place(rng.random)}小学附设幼儿班"
        elif kind == "学前班":
            name = f"{place}{town}{_place(rng.random)}小学学前班"
        elif ownership == "公办":
            name = rng.choice(
                (
                    f"{place}{town}中心幼儿园",
                    f"{place}第{rng.choice(NUMERALS)}幼儿园",
                    f"{place}实验幼儿园",
                    f"{place}{town}{_place(rng.random)}村幼儿园",
                    f"{place}机关幼儿园",
                )
            )
        else:
            name = f"{place}{town}{rng.choice(BRANDS)}幼儿园"
        if name not in used:
            used.add(name)
            return name
    name = f"{place}{town}{_place(rng.random)}{rng.choice(BRANDS)}幼儿园"
    used.add(name)
    return name


def plan_province(session: Any, scale: Decimal, seed: int = 2017) -> list[CityPlan]:
    """Decide every institution, class and count (no children yet), deterministically from the
    seed: the same scale and seed give the same province."""
    rng = random.Random(f"henan:{seed}")
    counties_of = _counties(session)
    institution_ids = iter(range(1, 10**9))
    class_ids = iter(range(1, 10**9))
    plans = []
    for target in sorted(city_targets(scale), key=lambda t: t.code):
        regions = counties_of[target.code]
        counties = [
            CountyPlan(
                r.code,
                r.name,
                target.code,
                target.name,
                urban=r.name.endswith("区"),
                weight=rng.uniform(0.5, 1.5) * (0.8 if r.name.endswith("区") else 1.0),
            )
            for r in regions
        ]
        city = CityPlan(target, counties)
        for county, count in zip(counties, apportion(target.institutions, [c.weight for c in counties]), strict=True):
            towns = [
                f"{_place(rng.random)}{'镇' if rng.random() < 0.6 else '乡'}"
                if not county.urban
                else rng.choice(STREETS)
                for _ in range(max(3, min(25, count // 8 + 3)))
            ]
            used: set[str] = set()
            for sequence in range(1, count + 1):
                kind = _pick(rng.random, KINDS)
                public_share = 0.35 if kind == "独立设置幼儿园" else 0.9
                ownership = "公办" if rng.random() < public_share else "民办"
                inclusive = ownership == "公办" or rng.random() < 0.35
                urban_rural = _pick(rng.random, URBAN_CLASSES if county.urban else RURAL_CLASSES)
                if kind != "独立设置幼儿园" and not county.urban and rng.random() < 0.7:
                    urban_rural = rng.choice(("乡中心区", "村庄"))
                town = rng.choice(towns)
                county.institutions.append(
                    InstitutionPlan(
                        id=next(institution_ids),
                        code=f"{county.code}{sequence:04d}",
                        name=_institution_name(rng, county, kind, ownership, town, used),
                        kind=kind,
                        ownership=ownership,
                        inclusive=inclusive,
                        urban_rural=urban_rural,
                        county_code=county.code,
                        city_code=target.code,
                        town=town,
                    )
                )
        institutions = [i for c in counties for i in c.institutions]
        order = list(institutions)
        rng.shuffle(order)
        for index, institution in enumerate(order):
            institution.state = (
                "reviewed" if index < target.reviewed else "reported" if index < target.reported else "none"
            )
        # Only a reviewed institution's children get numbers (备注 2 of the notice).
        holders = (
            [i for i in institutions if i.state == "reviewed"]
            or [i for i in institutions if i.state == "reported"]
            or institutions
        )
        weights = [rng.uniform(0.3, 1.7) * KIND_SIZE[i.kind] for i in holders]
        for institution, count in zip(holders, apportion(target.numbered, weights), strict=True):
            institution.numbered = count
        average = target.numbered / max(1, len(holders))
        for institution in institutions:
            if institution.numbered:
                entered = round(institution.numbered * rng.uniform(0.0, 0.08))
            elif institution.state == "reported" and rng.random() < 0.3:
                entered = max(1, round(average * KIND_SIZE[institution.kind] * rng.uniform(0.05, 0.4)))
            else:
                entered = 0
            institution.submitted = round(entered * rng.uniform(0.3, 0.6))
            institution.saved = entered - institution.submitted
            institution.classes = _class_plans(rng, institution, class_ids)
        baseline_weights = [c.weight * rng.uniform(0.9, 1.1) for c in counties]
        for county, baseline in zip(counties, apportion(target.baseline, baseline_weights), strict=True):
            county.baseline = baseline
        plans.append(city)
    return plans


# --- writing rows in bulk -------------------------------------------------------------------------


def _defaults(table: Table) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        found[column.name] = default.arg if default is not None and getattr(default, "is_scalar", False) else None
    return found


@lru_cache(maxsize=8)
def _processors(table_name: str, dialect_name: str) -> tuple[tuple[str, ...], tuple[Any, ...], tuple[Any, ...]]:
    """The columns of a table, their Python defaults (None where a column has none), and on
    SQLite the conversions of Python values into what SQLAlchemy stores; PostgreSQL's COPY takes
    the Python values as they are."""
    table = SQLModel.metadata.tables[table_name]
    defaults = _defaults(table)
    names = tuple(c.name for c in table.columns)
    if dialect_name == "sqlite":
        procs = tuple(_sqlite_processor(c.type) for c in table.columns)
    else:
        procs = tuple(None for _ in table.columns)
    return names, tuple(defaults[n] for n in names), procs


def _sqlite_datetime(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_processor(column_type: Any) -> Any:
    """What SQLAlchemy stores on SQLite for a value of this type: its own bind processor, or the
    same conversion written directly for the types of the bulk rows (dates as ISO text, aware UTC
    datetimes as their UTC wall time with microseconds, booleans as 0/1), which is several times
    faster (the test compares the two)."""
    if isinstance(column_type, UTCDateTime):
        return _sqlite_datetime
    if isinstance(column_type, Date) and not isinstance(column_type, DateTime):
        return date.isoformat
    if isinstance(column_type, Boolean):
        return int
    dialect = sqlite.dialect()
    return column_type.dialect_impl(dialect).bind_processor(dialect)


def _row_maker(table_name: str, dialect_name: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function from a dict of column values to the row tuple in the table's column order, with
    the columns' defaults filled in and, on SQLite, the values converted as SQLAlchemy stores them."""
    names, defaults, procs = _processors(table_name, dialect_name)
    template = dict(zip(names, defaults, strict=True))
    getter = itemgetter(*names)
    converted = [(index, proc) for index, proc in enumerate(procs) if proc is not None]

    def make(values: dict[str, Any]) -> tuple[Any, ...]:
        full = template.copy()
        full.update(values)
        row = list(getter(full))
        for index, proc in converted:
            if row[index] is not None:
                row[index] = proc(row[index])
        return tuple(row)

    return make


def as_rows(table_name: str, dialect_name: str, dicts: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Dicts of column values as rows ready for ``write``."""
    make = _row_maker(table_name, dialect_name)
    return [make(values) for values in dicts]


def write(connection: Connection, table_name: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Bulk-insert prepared rows: COPY on PostgreSQL, the driver's executemany on SQLite."""
    if not rows:
        return
    dialect_name = connection.dialect.name
    names = _processors(table_name, dialect_name)[0]
    quoted = ", ".join(f'"{n}"' for n in names)
    if dialect_name == "postgresql":
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f'COPY "{table_name}" ({quoted}) FROM STDIN') as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in names)
    statement = f'INSERT INTO "{table_name}" ({quoted}) VALUES ({marks})'
    for start in range(0, len(rows), CHUNK_ROWS):
        connection.exec_driver_sql(statement, list(rows[start : start + CHUNK_ROWS]))


# --- children: generated per county in worker processes -------------------------------------------


@dataclass(frozen=True)
class CountyTask:
    """What a worker needs to generate one county's children (picklable)."""

    seed: str
    dialect: str
    county_code: str
    county_name: str
    city_code: str
    city_name: str
    urban: bool
    school_start: date
    today: date
    now: datetime
    first_child_id: int
    first_request_id: int
    first_event_id: int  # one submission event per request, in the same order
    reviewer_days: int
    # (institution id, clerk id, clerk name, town, numbered, saved, submitted,
    #  ((class id, grade, class name, children), ...))
    institutions: tuple[tuple[int, int, str, str, int, int, int, tuple[tuple[int, str, str, int], ...]], ...]


@dataclass
class CountyRows:
    county_code: str
    children: list[tuple[Any, ...]]
    requests: list[tuple[Any, ...]]
    events: list[tuple[Any, ...]]
    numbered: int
    entered: int


class _Keys:
    """The application's keys, derived once per process (``crypto`` derives them per call)."""

    def __init__(self) -> None:
        encrypt_key, hash_key = crypto._keys(crypto._secret())  # the same derivation
        self.aes = AESGCM(encrypt_key)
        self.hash_key = hash_key

    def encrypt(self, plaintext: str, context: str) -> str:
        """``crypto.encrypt``'s format: v1: + urlsafe base64 of nonce + AES-GCM ciphertext."""
        nonce = os.urandom(12)
        sealed = self.aes.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return crypto.PREFIX + urlsafe_b64encode(nonce + sealed).decode("ascii")

    def hash(self, value: str, context: str) -> str:
        """``crypto.lookup_hash``: HMAC-SHA256 of the context and the normalised value."""
        message = f"{context}\x00{value.strip().upper()}".encode()
        return hmac.digest(self.hash_key, message, hashlib.sha256).hex()


_KEYS: dict[str, _Keys] = {}


def _keys() -> _Keys:
    """This process's keys for the configured secret (a test or a new key gets its own)."""
    secret = crypto._secret()
    if secret not in _KEYS:
        _KEYS.clear()
        _KEYS[secret] = _Keys()
    return _KEYS[secret]


def _birth_range(grade: str, start: date) -> tuple[date, date]:
    """Birth dates of a grade at the start of the school year (age on 1 September)."""
    y = start.year
    return {
        "小班": (date(y - 4, 9, 1), date(y - 3, 8, 31)),
        "中班": (date(y - 5, 9, 1), date(y - 4, 8, 31)),
        "大班": (date(y - 6, 9, 1), date(y - 5, 8, 31)),
        "学前班": (date(y - 6, 9, 1), date(y - 5, 8, 31)),
        "混龄": (date(y - 6, 9, 1), date(y - 3, 8, 31)),
    }[grade]


def _enrolment(birth: date, grade: str, start: date) -> date:
    """The first 1 September after the third birthday (学前班: this school year)."""
    if grade == "学前班":
        return start
    third = date(birth.year + 3, birth.month, 28 if (birth.month, birth.day) == (2, 29) else birth.day)
    first = date(third.year if third <= date(third.year, 9, 1) else third.year + 1, 9, 1)
    return min(first, start)


def _at(day: date, r: Draw) -> datetime:
    """An aware UTC moment during office hours (08:00–17:00) of a day in Asia/Shanghai, which is
    UTC+8 all year: 00:00–09:00 UTC of the same date."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=int(r() * 32_400))


# The keys of ``children.form_values``, in its order.
FORM_KEYS = (
    "name", "gender", "birth_date", "document_type", "document_number", "nationality", "ethnicity",
    "hukou_region", "address", "enrolment_date", "class_name", "guardian1_relation", "guardian1_name",
    "guardian1_phone", "guardian2_relation", "guardian2_name", "guardian2_phone", "flag_poverty",
    "flag_disabled", "flag_left_behind", "flag_orphan", "origin_province", "origin_number",
)  # fmt: skip


def _masked_payload(child_id: int, values: dict[str, Any]) -> str:
    """The payload of a child's submission (``children.submit_children``: ``form_values``, every
    personal number masked)."""
    shown = dict(values)
    shown["document_number"] = crypto.mask(values["document_number"])
    for prefix in ("guardian1", "guardian2"):
        shown[f"{prefix}_phone"] = crypto.mask(values[f"{prefix}_phone"], 3, 4)
        shown[f"{prefix}_name"] = values[f"{prefix}_name"] or ""
    shown["origin_province"] = None
    shown["origin_number"] = ""
    ordered = {k: shown[k] for k in FORM_KEYS}
    return json.dumps({"child_id": child_id, "values": ordered}, ensure_ascii=False, sort_keys=True)


# ``children.content_key``'s json.dumps(values, ensure_ascii=False, sort_keys=True), made once.
_CONTENT_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


@lru_cache(maxsize=4096)
def _due(day: date, days: int) -> date:
    return add_working_days(day, days)


def generate_county(task: CountyTask) -> CountyRows:
    """The children of one county, with the pending requests of those submitted: rows ready to
    write. Run in a worker process; deterministic for a task. Written for speed (it runs 2.6
    million times at full scale): random draws from ``rng.random()`` directly, rows as tuples."""
    rng = random.Random(task.seed)
    r = rng.random
    keys = _keys()
    child_row, request_row, event_row = (_row_maker(t, task.dialect) for t in ("child", "request", "request_event"))
    taken: dict[tuple[date, int], int] = {}  # (birth date, parity) -> last sequence used
    child_id, request_id = task.first_child_id, task.first_request_id
    children: list[tuple[Any, ...]] = []
    requests: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    own_county = task.county_code != task.city_code
    place = task.city_name + task.county_name if own_county and task.urban else task.county_name
    hukou = f"河南省{task.city_name}{task.county_name}" if own_county else f"河南省{task.county_name}"
    entry_role = role_label(Level.INSTITUTION, Duty.ENTRY)
    route = json.dumps(["county_review"])
    ranges = {grade: _birth_range(grade, task.school_start) for grade in GRADE_CAPS if grade != "托班"}
    rural = not task.urban
    numbered = entered = 0
    for institution_id, clerk_id, clerk_name, town, n_numbered, n_saved, n_submitted, classes in task.institutions:
        states = ["approved"] * n_numbered + ["saved"] * n_saved + ["submitted"] * n_submitted
        rng.shuffle(states)
        numbered += n_numbered
        entered += n_saved + n_submitted
        slots = [(class_id, grade, name) for class_id, grade, name, count in classes for _ in range(count)]
        for (class_id, grade, class_name), state in zip(slots, states, strict=True):
            low, high = ranges[grade]
            birth = low + timedelta(days=int(r() * ((high - low).days + 1)))
            male = r() < 0.515
            parity = 1 if male else 0
            sequence = taken.get((birth, parity), parity - 2) + 2
            while sequence > 999:  # that day's numbers of the county are used up: the next day
                birth += timedelta(days=1)
                sequence = taken.get((birth, parity), parity - 2) + 2
            taken[(birth, parity)] = sequence
            body = f"{task.county_code}{birth:%Y%m%d}{sequence:03d}"
            number = body + _check_character(body)
            surname = _surname(r)
            name = _child_name(r, surname, male)
            gender = "男" if male else "女"
            relation = _pick(r, RELATIONS)
            if relation in ("父亲", "祖父母"):
                guardian = _adult_name(r, True, surname)
            else:
                guardian = _adult_name(r, relation == "外祖父母")
            phone = _mobile(r)
            if r() < 0.5 and relation in ("母亲", "父亲"):
                relation2 = "父亲" if relation == "母亲" else "母亲"
                guardian2 = _adult_name(r, relation2 == "父亲", surname if relation2 == "父亲" else None)
                phone2 = _mobile(r)
            else:
                relation2 = guardian2 = phone2 = None
            if task.urban:
                address = f"{place}{_one(r, STREETS)}{1 + int(r() * 299)}号"
            else:
                address = f"{place}{town}{_place(r)}村{1 + int(r() * 199)}号"
            enrolment = _enrolment(birth, grade, task.school_start)
            birth_text = birth.isoformat()
            ethnicity = _pick(r, ETHNICITIES)
            flags = (r() < 0.03, r() < 0.003, rural and r() < 0.12, r() < 0.001)
            values: dict[str, Any] = {
                "name": name,
                "gender": gender,
                "birth_date": birth_text,
                "document_type": "居民身份证",
                "document_number": number,
                "nationality": "中国",
                "ethnicity": ethnicity,
                "hukou_region": hukou,
                "address": address,
                "guardian1_relation": relation,
                "guardian1_name": guardian,
                "guardian1_phone": phone,
                "guardian2_relation": relation2,
                "guardian2_name": guardian2,
                "guardian2_phone": phone2,
                "enrolment_date": enrolment.isoformat(),
                "class_name": class_name,
                "flag_poverty": flags[0],
                "flag_disabled": flags[1],
                "flag_left_behind": flags[2],
                "flag_orphan": flags[3],
                "origin_province": None,
                "origin_number": None,
            }
            if state == "approved":
                created = _at(min(enrolment + timedelta(days=int(r() * 30)), task.today), r)
                numbered_at: datetime | None = min(created + timedelta(days=1 + int(r() * 14)), task.now)
            else:
                created = _at(task.today - timedelta(days=int(r() * 30)), r)
                numbered_at = None
            created = min(created, task.now)
            row: dict[str, Any] = {
                "id": child_id,
                "institution_id": institution_id,
                "class_id": class_id,
                "province_code": PROVINCE_CODE,
                "city_code": task.city_code,
                "county_code": task.county_code,
                "name": name,
                "gender": gender,
                "birth_date": birth,
                "document_type": "居民身份证",
                "id_cipher": keys.encrypt(number, CTX_DOCUMENT),
                "id_hash": keys.hash(f"居民身份证|{number}", CTX_DOCUMENT),
                "identity_hash": keys.hash(f"{normalise_name(name)}|{gender}|{birth_text}", CTX_IDENTITY),
                "nationality": "中国",
                "ethnicity": ethnicity,
                "hukou_region": hukou,
                "address": address,
                "guardian1_relation": relation,
                "guardian1_name": guardian,
                "guardian1_phone_cipher": keys.encrypt(phone, CTX_PHONE),
                "guardian1_phone_hash": keys.hash(phone, CTX_PHONE),
                "guardian2_relation": relation2 or "",
                "guardian2_name": guardian2 or "",
                "guardian2_phone_cipher": keys.encrypt(phone2, CTX_PHONE) if phone2 else None,
                "guardian2_phone_hash": keys.hash(phone2, CTX_PHONE) if phone2 else None,
                "enrolment_date": enrolment,
                "flag_poverty": flags[0],
                "flag_disabled": flags[1],
                "flag_left_behind": flags[2],
                "flag_orphan": flags[3],
                "state": state,
                "return_reason": "",
                "content_hash": keys.hash(_CONTENT_JSON.encode(values), CTX_CONTENT),
                "origin_province": "",
                "created_by": clerk_id,
                "created_at": created,
                "updated_at": numbered_at or created,
                "version": 1,
            }
            if state == "approved":
                student = "G" + number
                row["student_number_kind"] = "G"
                row["student_number_cipher"] = keys.encrypt(student, CTX_STUDENT_NUMBER)
                row["student_number_hash"] = keys.hash(student, CTX_STUDENT_NUMBER)
                row["numbered_at"] = numbered_at
                row["version"] = 3  # saved, submitted, approved
            elif state == "submitted":
                submitted_at = min(created + timedelta(hours=1 + int(r() * 71)), task.now)
                day = submitted_at.astimezone(LOCAL_TZ).date()
                row.update(request_id=request_id, version=2, updated_at=submitted_at)
                requests.append(
                    request_row(
                        {
                            "id": request_id,
                            "kind": KIND_CHILD,
                            "title": f"幼儿信息：{name}",
                            "subject_type": "child",
                            "subject_id": str(child_id),
                            "payload": _masked_payload(child_id, values),
                            "route": route,
                            "step": 0,
                            "step_level": Level.COUNTY.value,
                            "state": "pending",
                            "due_date": _due(day, task.reviewer_days),
                            "version": 1,
                            "institution_id": institution_id,
                            "province_code": PROVINCE_CODE,
                            "city_code": task.city_code,
                            "county_code": task.county_code,
                            "submitted_by": clerk_id,
                            "submitted_at": submitted_at,
                        }
                    )
                )
                events.append(
                    event_row(
                        {
                            "id": task.first_event_id + request_id - task.first_request_id,
                            "request_id": request_id,
                            "at": submitted_at,
                            "user_id": clerk_id,
                            "real_name": clerk_name,
                            "role": entry_role,
                            "action": "submit",
                            "step_key": "county_review",
                            "reason": "",
                        }
                    )
                )
                request_id += 1
            children.append(child_row(row))
            child_id += 1
    return CountyRows(task.county_code, children, requests, events, numbered, entered)


# --- the load -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HenanSummary:
    scale: Decimal
    cities: int
    counties: int
    institutions: int
    reported: int
    reviewed: int
    baseline: int
    numbered: int
    entered: int
    accounts: int
    seconds: float


def _refuse_unless_empty(session: Any) -> None:
    for model, what in ((User, "用户账户"), (Institution, "机构"), (Child, "幼儿记录")):
        if session.execute(select(func.count()).select_from(model)).scalar_one():
            raise ServiceError(f"数据库中已有{what}：河南省规模的演示数据只能载入空数据库。")


def _base_values(rng: random.Random, institution: InstitutionPlan, county: CountyPlan) -> dict[str, Any]:
    """The base section (机构基本信息) as the clerk fills it, cleaned as the registry stores it."""
    area, postcode = CITY_CONTACT.get(institution.city_code, ("0371", "4500"))
    public = institution.ownership == "公办"
    place = county.city_name + county.name if county.urban and county.code != county.city_code else county.name
    road = rng.choice(STREETS)
    raw = {
        "address": f"河南省{place}{institution.town}{road}{rng.randrange(1, 400)}号"
        if county.urban or institution.urban_rural in ("镇中心区", "镇乡结合区")
        else f"河南省{place}{institution.town}{_place(rng.random)}村",
        "postcode": f"{postcode}{rng.choice(('00', '00', '11', '21', '31', '51'))}",
        "phone": f"{area}-{rng.randrange(2, 9)}{rng.randrange(10**6, 10**7)}",
        "principal": _adult_name(rng.random, rng.random() < 0.1),
        "license_no": f"教{'公' if public else '民'}{institution.county_code}{rng.randrange(10**5):05d}",
        "founded": date(rng.randrange(1980, 2017), rng.randrange(1, 13), 1).isoformat(),
        "sponsor": (f"{county.name}教育局" if rng.random() < 0.7 else f"{institution.town}人民政府")
        if public
        else _adult_name(rng.random, rng.random() < 0.5),
        "authority": rng.choice(("教育部门", "教育部门", "教育部门", "其他部门", "事业单位", "集体"))
        if public
        else "民办",
        "boarding": rng.random() < 0.1,
    }
    values, errors = clean(BASE, raw)
    if errors:  # a bug in the generator, not the user's input
        raise ValidationError(errors)
    return values


def load_henan(
    scale: str | float | Decimal = "henan",
    *,
    password: str = DEFAULT_DEMO_PASSWORD,
    seed: int = 2017,
    echo: Echo | None = None,
    workers: int | None = None,
    today: date | None = None,
) -> HenanSummary:
    """Generate the province of 附件2 at ``scale`` into an empty database (refused otherwise).

    ``seed`` makes the province reproducible; ``workers`` is the number of generating processes
    (default: the CPUs, or none below ``POOL_THRESHOLD`` children); ``today`` dates the data
    (school year, enrolments, submissions); ``echo`` receives the progress lines."""
    started = time.perf_counter()
    say = echo or (lambda _line: None)
    scale = scale if isinstance(scale, Decimal) else parse_scale(scale)
    if get_settings().province_code != PROVINCE_CODE:
        raise ServiceError("河南省规模的演示数据只能载入河南省（PORTAL_PROVINCE_CODE=41）的部署。")
    problems = password_problems(password, ("demo-province", "王建国"))
    if problems:
        raise ValidationError({"password": "，".join(problems) + "。"})
    with db.session_scope() as session:
        _refuse_unless_empty(session)
        has_regions = session.execute(select(func.count()).select_from(Region)).scalar_one() > 0
    if not has_regions:
        from portal.services.regions import load_official_regions

        load_official_regions(SYSTEM_ACTOR)
    now = utcnow()
    today = today or now.astimezone(LOCAL_TZ).date()
    school_start = date(int(school_year_of(today)[:4]), 9, 1)
    with db.session_scope() as session:
        plans = plan_province(session, scale, seed)
    total_children = sum(c.children for city in plans for c in city.counties)
    say(
        f"plan: {sum(p.target.institutions for p in plans):,} institutions in "
        f"{sum(len(p.counties) for p in plans)} counties, {total_children:,} children (scale {scale})"
    )
    password_hash = hash_password(password)
    if workers is None:
        workers = (os.cpu_count() or 1) if total_children >= POOL_THRESHOLD else 1
    pool = None
    if workers > 1:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = multiprocessing.get_context(method).Pool(workers)
    try:
        with db.session_scope(write=True) as session:
            _refuse_unless_empty(session)  # again, inside the write transaction
            connection = session.connection()
            dialect = connection.dialect.name
            with _sqlite_tuned(connection) if dialect == "sqlite" else nullcontext():
                accounts = _write_registry(connection, plans, password_hash, today, now, seed)
                say(f"institutions, accounts, requests and baseline written ({time.perf_counter() - started:.1f} s)")
                numbered, entered = _write_children(
                    connection, plans, pool, dialect, school_start, today, now, seed, say, started
                )
                if dialect == "postgresql":
                    _advance_sequences(connection)
                say(f"counting the progress counters ({time.perf_counter() - started:.1f} s)")
                counters.rebuild(session)
            audit.record(
                session,
                SYSTEM_ACTOR,
                "demo_load",
                detail=f"载入河南省规模演示数据（比例 {scale}）：{numbered} 名幼儿获学籍号，{entered} 名待审核",
            )
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    targets = [p.target for p in plans]
    return HenanSummary(
        scale=scale,
        cities=len(plans),
        counties=sum(len(p.counties) for p in plans),
        institutions=sum(t.institutions for t in targets),
        reported=sum(t.reported for t in targets),
        reviewed=sum(t.reviewed for t in targets),
        baseline=sum(t.baseline for t in targets),
        numbered=numbered,
        entered=entered,
        accounts=accounts,
        seconds=time.perf_counter() - started,
    )


def _write_registry(
    connection: Connection, plans: list[CityPlan], password_hash: str, today: date, now: datetime, seed: int
) -> int:
    """Institutions, accounts, the baseline, the institutions' base-information requests and
    records; returns the number of accounts."""
    dialect = connection.dialect.name
    rng = random.Random(f"henan-registry:{seed}")
    user_ids = iter(range(1, 10**9))
    users: list[dict[str, Any]] = []

    def account(username: str, real_name: str, level: Level, duty: Duty, phone: str, **scope: Any) -> int:
        user_id = next(user_ids)
        users.append(
            {
                "id": user_id,
                "username": username,
                "real_name": real_name,
                "phone": phone,
                "level": level.value,
                "duty": duty.value,
                "password_hash": password_hash,
                "is_active": True,
                "is_demo": True,
                "must_change_password": False,
                "session_version": 1,
                "created_at": now,
                **scope,
            }
        )
        return user_id

    for username, real_name, duty, phone in PROVINCE_ACCOUNTS:
        account(username, real_name, Level.PROVINCE, duty, phone, region_code="410000", province_code=PROVINCE_CODE)
    institutions: list[dict[str, Any]] = []
    baselines: list[dict[str, Any]] = []
    for city in plans:
        code = city.target.code
        area = CITY_CONTACT.get(code, ("0371", ""))[0]
        city.reviewer_id = account(
            f"demo-city-{code}",
            _adult_name(rng.random, rng.random() < 0.5),
            Level.CITY,
            Duty.REVIEWER,
            f"{area}-6{rng.randrange(10**6, 10**7)}",
            region_code=code,
            province_code=PROVINCE_CODE,
            city_code=code,
        )
        for county in city.counties:
            county.reviewer_name = _adult_name(rng.random, rng.random() < 0.5)
            county.reviewer_id = account(
                f"demo-county-{county.code}",
                county.reviewer_name,
                Level.COUNTY,
                Duty.REVIEWER,
                f"{area}-6{rng.randrange(10**6, 10**7)}",
                region_code=county.code,
                province_code=PROVINCE_CODE,
                city_code=code,
                county_code=county.code,
            )
            baselines.append(
                {
                    "county_code": county.code,
                    "year": BASELINE_YEAR,
                    "province_code": PROVINCE_CODE,
                    "city_code": code,
                    "children": county.baseline,
                    "institutions": None,
                    "updated_by": None,
                    "updated_at": now,
                }
            )
            for institution in county.institutions:
                created = _at(today - timedelta(days=rng.randrange(120, 400)), rng.random)
                institutions.append(
                    {
                        "id": institution.id,
                        "code": institution.code,
                        "name": institution.name,
                        "kind": institution.kind,
                        "ownership": institution.ownership,
                        "inclusive": institution.inclusive,
                        "urban_rural": institution.urban_rural,
                        "is_township_central": False,
                        "province_code": PROVINCE_CODE,
                        "city_code": code,
                        "county_code": county.code,
                        "township_code": None,
                        "created_at": created,
                        "updated_at": created,
                    }
                )
    write(connection, "institution", as_rows("institution", dialect, institutions))
    for city in plans:
        for county in city.counties:
            for institution in county.institutions:
                institution.clerk_name = _adult_name(rng.random, rng.random() < 0.15)
                institution.clerk_id = account(
                    f"demo-clerk-{institution.code}",
                    institution.clerk_name,
                    Level.INSTITUTION,
                    Duty.ENTRY,
                    _mobile(rng.random),
                    region_code=county.code,
                    institution_id=institution.id,
                    province_code=PROVINCE_CODE,
                    city_code=city.target.code,
                    county_code=county.code,
                )
    write(connection, "user_account", as_rows("user_account", dialect, users))
    write(connection, "stat_baseline", as_rows("stat_baseline", dialect, baselines))
    _write_reports(connection, plans, rng, today, now)
    return len(users)


def _write_reports(
    connection: Connection, plans: list[CityPlan], rng: random.Random, today: date, now: datetime
) -> None:
    """Base information: reported institutions wait in their county's queue; reviewed ones were
    approved by the county (the approved section is their record of truth)."""
    dialect = connection.dialect.name
    settings = get_settings()
    requests: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    entry_role = role_label(Level.INSTITUTION, Duty.ENTRY)
    county_role = role_label(Level.COUNTY, Duty.REVIEWER)
    request_id = event_id = 0
    for city in plans:
        for county in city.counties:
            for institution in county.institutions:
                if institution.state == "none":
                    continue
                values = _base_values(rng, institution, county)
                request_id += 1
                reviewed = institution.state == "reviewed"
                back = rng.randrange(40, 120) if reviewed else rng.randrange(0, 21)
                submitted_at = min(_at(today - timedelta(days=back), rng.random), now)
                decided_at = min(submitted_at + timedelta(days=rng.randrange(1, 12), hours=rng.randrange(8)), now)
                requests.append(
                    {
                        "id": request_id,
                        "kind": KIND_REPORT,
                        "title": f"{institution.name}·{BASE.label}",
                        "subject_type": "institution_section",
                        "subject_id": f"{institution.id}:base",
                        "payload": json.dumps(
                            {"section": "base", "values": values}, ensure_ascii=False, sort_keys=True
                        ),
                        "before": None,
                        "route": json.dumps(["county_review"]),
                        "step": 0,
                        "step_level": None if reviewed else Level.COUNTY.value,
                        "state": "approved" if reviewed else "pending",
                        "due_date": None
                        if reviewed
                        else _due(submitted_at.astimezone(LOCAL_TZ).date(), settings.county_review_days),
                        "version": 2 if reviewed else 1,
                        "institution_id": institution.id,
                        "province_code": PROVINCE_CODE,
                        "city_code": institution.city_code,
                        "county_code": institution.county_code,
                        "township_code": None,
                        "submitted_by": institution.clerk_id,
                        "submitted_at": submitted_at,
                        "decided_at": decided_at if reviewed else None,
                    }
                )
                event_id += 1
                events.append(
                    {
                        "id": event_id,
                        "request_id": request_id,
                        "at": submitted_at,
                        "user_id": institution.clerk_id,
                        "real_name": institution.clerk_name,
                        "role": entry_role,
                        "action": "submit",
                        "step_key": "county_review",
                        "reason": "",
                    }
                )
                if reviewed:
                    event_id += 1
                    events.append(
                        {
                            "id": event_id,
                            "request_id": request_id,
                            "at": decided_at,
                            "user_id": county.reviewer_id,
                            "real_name": county.reviewer_name,
                            "role": county_role,
                            "action": "approve",
                            "step_key": "county_review",
                            "reason": "",
                        }
                    )
                    records.append(
                        {
                            "institution_id": institution.id,
                            "section": "base",
                            "data": json.dumps(values, ensure_ascii=False, sort_keys=True),
                            "filled_by": institution.clerk_id,
                            "reviewed_by": county.reviewer_id,
                            "request_id": request_id,
                            "approved_at": decided_at,
                        }
                    )
    write(connection, "request", as_rows("request", dialect, requests))
    write(connection, "request_event", as_rows("request_event", dialect, events))
    write(connection, "institution_record", as_rows("institution_record", dialect, records))


def _write_children(
    connection: Connection,
    plans: list[CityPlan],
    pool: Any,
    dialect: str,
    school_start: date,
    today: date,
    now: datetime,
    seed: int,
    say: Echo,
    started: float,
) -> tuple[int, int]:
    """Classes, then each county's children (generated in the pool while the parent writes)."""
    year = f"{school_start.year}-{school_start.year + 1}"
    classes = [
        {
            "id": c.id,
            "institution_id": i.id,
            "school_year": year,
            "grade": c.grade,
            "name": c.name,
            "capacity": c.capacity,
            "created_by": i.clerk_id,
            "created_at": _at(school_start - timedelta(days=10), random.Random(c.id).random),
        }
        for city in plans
        for county in city.counties
        for i in county.institutions
        for c in i.classes
    ]
    write(connection, "school_class", as_rows("school_class", dialect, classes))
    first_request = 1 + int(connection.execute(select(func.coalesce(func.max(Request.id), 0))).scalar_one())
    first_event = 1 + int(connection.execute(select(func.coalesce(func.max(RequestEvent.id), 0))).scalar_one())
    tasks = []
    child_id, request_id = 1, first_request
    for city in plans:
        for county in city.counties:
            tasks.append(
                CountyTask(
                    seed=f"henan-children:{seed}:{county.code}",
                    dialect=dialect,
                    county_code=county.code,
                    county_name=county.name,
                    city_code=city.target.code,
                    city_name=city.target.name,
                    urban=county.urban,
                    school_start=school_start,
                    today=today,
                    now=now,
                    first_child_id=child_id,
                    first_request_id=request_id,
                    first_event_id=first_event + request_id - first_request,
                    reviewer_days=get_settings().child_review_days,
                    institutions=tuple(
                        (
                            i.id,
                            i.clerk_id,
                            i.clerk_name,
                            i.town,
                            i.numbered,
                            i.saved,
                            i.submitted,
                            tuple((c.id, c.grade, c.name, c.children) for c in i.classes),
                        )
                        for i in county.institutions
                    ),
                )
            )
            child_id += county.children
            request_id += sum(i.submitted for i in county.institutions)
    results = pool.imap(generate_county, tasks) if pool is not None else map(generate_county, tasks)
    remaining = {city.target.code: len(city.counties) for city in plans}
    names = {city.target.code: city.target.name for city in plans}
    total = sum(c.children for city in plans for c in city.counties)
    numbered = entered = done = 0
    next_echo = ECHO_EVERY
    city_children: dict[str, int] = {}
    waited = writing = 0.0
    mark = time.perf_counter()
    with _indexes_set_aside(connection, "child"):
        for task, rows in zip(tasks, results, strict=True):
            waited += time.perf_counter() - mark
            mark = time.perf_counter()
            write(connection, "request", rows.requests)
            write(connection, "request_event", rows.events)
            write(connection, "child", rows.children)
            writing += time.perf_counter() - mark
            numbered += rows.numbered
            entered += rows.entered
            done += len(rows.children)
            city_children[task.city_code] = city_children.get(task.city_code, 0) + len(rows.children)
            remaining[task.city_code] -= 1
            if remaining[task.city_code] == 0:
                say(
                    f"{task.city_code} {names[task.city_code]}: {city_children[task.city_code]:,} children "
                    f"({done:,}/{total:,}, {time.perf_counter() - started:.0f} s)"
                )
            elif done >= next_echo:
                say(f"  {done:,}/{total:,} children ({time.perf_counter() - started:.0f} s)")
            while next_echo <= done:
                next_echo += ECHO_EVERY
            mark = time.perf_counter()
        indexing = time.perf_counter()
    indexing = time.perf_counter() - indexing
    say(
        f"children: {writing:.1f} s writing, {waited:.1f} s waiting for the generating processes, "
        f"{indexing:.1f} s indexing"
    )
    return numbered, entered


@contextmanager
def _sqlite_tuned(connection: Connection) -> Iterator[None]:
    """A larger page cache (256 MB) and sorting threads for the load; the pooled connection gets
    its own settings back afterwards."""
    saved = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in ("cache_size", "threads")}
    connection.exec_driver_sql("PRAGMA cache_size=-262144")
    connection.exec_driver_sql("PRAGMA threads=2")
    try:
        yield
    finally:
        for name, value in saved.items():
            connection.exec_driver_sql(f"PRAGMA {name}={int(value or 0)}")


@contextmanager
def _indexes_set_aside(connection: Connection, table: str) -> Iterator[None]:
    """Drop a table's secondary indexes for a bulk load and create them again, with their exact
    definitions as the database reports them, afterwards (in the same transaction): building an
    index once from millions of rows is several times faster than maintaining it row by row."""
    if connection.dialect.name == "sqlite":
        found = connection.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"),
            {"t": table},
        ).all()
    else:
        found = connection.execute(
            text(
                "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "JOIN pg_namespace n ON n.oid = t.relnamespace "
                "WHERE t.relname = :t AND n.nspname = current_schema() AND NOT x.indisprimary "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)"
            ),
            {"t": table},
        ).all()
    for name, _definition in found:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    yield
    for _name, definition in found:
        connection.exec_driver_sql(definition)


def _advance_sequences(connection: Connection) -> None:
    """Rows were written with their ids: move PostgreSQL's id sequences past them."""
    for table in ("institution", "user_account", "request", "request_event", "school_class", "child"):
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )
        )
