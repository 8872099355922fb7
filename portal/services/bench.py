"""Benchmarks: commands that print figures, not timed tests (DESIGN.md "Testing in layers").

``run_import_bench`` fills a scratch database with many children, then imports a generated
workbook through the real path (``child_import.import_children``: parsing, the form's checks,
encryption, the duplicate check, the audit row) and, side by side in the same run, inserts the
same prepared rows with the raw database driver (sqlite3 / psycopg ``executemany``, no
SQLAlchemy) into a copy of the ``child`` table holding the same rows and indexes. The target is
an import rate of at least a quarter of the raw rate, and the province-wide duplicate check of
10,000 hashes under 100 ms on SQLite.
"""

from __future__ import annotations

import io
import random
import re
import secrets
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.roles import Duty, Level
from portal.clock import utcnow
from portal.data import crypto, db, migrate
from portal.data.child_fields import CHILD
from portal.data.models import Child, Institution, Region, User
from portal.data.regions import cpca_regions
from portal.services import child_import, children
from portal.services.identity import check_character

Echo = Callable[[str], None]

COPY_TABLE = "child_bench_copy"
BENCH_PASSWORD = "Bench#Import2026"
SEED_CHUNK = 50_000
HOME_REGION = "410102"  # ID numbers of the imported children (中原区)
SEED_REGION = "410122"  # ID numbers of the children already in the database (中牟县)
CLASS_COUNT = 10
REUSED_SHARE = 100  # one imported row in this many reuses a seeded ID number (a duplicate elsewhere)


@dataclass(frozen=True)
class ImportBench:
    database: str  # the URL, password hidden
    children: int  # children in the database before the import
    rows: int
    import_seconds: float
    raw_seconds: float
    duplicates_seconds: float
    duplicates_found: int
    duplicates_elsewhere: int
    seed_seconds: float
    trials: int = 1  # the import and the raw insert are each timed this many times, medians kept
    ratios: tuple[float, ...] = ()  # each trial's import/raw ratio

    @property
    def import_rate(self) -> float:
        return self.rows / self.import_seconds if self.import_seconds else 0.0

    @property
    def raw_rate(self) -> float:
        return self.rows / self.raw_seconds if self.raw_seconds else 0.0

    @property
    def ratio(self) -> float:
        return self.import_rate / self.raw_rate if self.raw_rate else 0.0

    def lines(self) -> list[str]:
        return [
            f"database: {self.database} ({self.children:,} children before the import)",
            f"import_children: {self.rows:,} rows in {self.import_seconds:.3f} s = {self.import_rate:,.0f} rows/s "
            f"({self.duplicates_elsewhere:,} duplicates elsewhere)",
            f"raw driver executemany: {self.rows:,} rows in {self.raw_seconds:.3f} s = {self.raw_rate:,.0f} rows/s",
            f"ratio import/raw: {self.ratio:.2f} (target >= 0.25; median of {self.trials} trials: "
            f"{', '.join(f'{ratio:.2f}' for ratio in self.ratios)})",
            f"duplicates_among: {self.rows:,} hashes in {self.duplicates_seconds * 1000:.1f} ms "
            f"({self.duplicates_found:,} claimed; target < 100 ms on SQLite)",
        ]


def _resident_id(region: str, birth: date, sequence: int) -> str:
    body = f"{region}{birth:%Y%m%d}{sequence:03d}"
    return body + check_character(body)


def _identity(index: int, region: str, first_birth: date) -> tuple[str, date, str]:
    """A unique (ID number, birth date, gender) for the index-th child of a region."""
    birth = first_birth + timedelta(days=index // 999)
    sequence = index % 999 + 1
    return _resident_id(region, birth, sequence), birth, "男" if sequence % 2 else "女"


SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ("子涵", "欣怡", "梓轩", "浩然", "一诺", "雨桐", "宇轩", "诗涵", "沐阳", "若汐", "𠮷祥", "思远")


@contextmanager
def _scratch(database_url: str | None) -> Iterator[str]:
    if database_url:
        yield database_url
        return
    folder = tempfile.mkdtemp(prefix="portal-bench-")
    try:
        yield f"sqlite:///{folder}/bench.db"
    finally:
        db.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def _setup(code: str, other_code: str, today: date) -> tuple[Actor, Institution, Institution]:
    from portal.services.accounts import NewUser, create_user
    from portal.services.institutions import InstitutionInput, register_institution
    from portal.services.login import build_actor

    with db.session_scope(write=True) as session:
        present = set(session.exec(select(Region.code).where(Region.province_code == "41")).all())
        for rec in cpca_regions(["41"]):
            if rec.code not in present:
                session.add(Region(**rec.__dict__, source="cpca"))
                if rec.level != "county":
                    session.flush()
    home = register_institution(
        SYSTEM_ACTOR, InstitutionInput(code, "基准测试幼儿园", "独立设置幼儿园", "公办", True, "主城区", HOME_REGION)
    )
    other = register_institution(
        SYSTEM_ACTOR,
        InstitutionInput(other_code, "基准测试其他幼儿园", "独立设置幼儿园", "民办", True, "村庄", SEED_REGION),
    )
    username = f"bench-clerk-{code}"
    create_user(
        SYSTEM_ACTOR,
        NewUser(username, "基准测试填报员", Level.INSTITUTION, Duty.ENTRY, BENCH_PASSWORD, institution_code=code),
    )
    with db.session_scope() as session:
        clerk = build_actor(session, session.exec(select(User).where(User.username == username)).one())
    for number in range(1, CLASS_COUNT + 1):
        children.create_class(
            clerk,
            {"name": f"{number}班", "grade": "混龄", "school_year": children.school_year_of(today), "capacity": 60},
        )
    return clerk, home, other


def _seed(engine: Engine, other: Institution, count: int, today: date, echo: Echo) -> None:
    """``count`` children of another institution, most of them approved: real encrypted and hashed
    numbers, written with Core executemany in chunks."""
    table = Child.__table__
    now = utcnow()
    first_birth = date(today.year - 6, 1, 1)
    done = 0
    while done < count:
        batch = []
        for index in range(done, min(done + SEED_CHUNK, count)):
            number, birth, gender = _identity(index, SEED_REGION, first_birth)
            name = SURNAMES[index % len(SURNAMES)] + GIVEN[index % len(GIVEN)]
            phone = f"139{index % 100_000_000:08d}"
            approved = index % 10 != 0
            student = "G" + number
            batch.append(
                {
                    "institution_id": other.id,
                    "class_id": None,
                    "province_code": other.province_code,
                    "city_code": other.city_code,
                    "county_code": other.county_code,
                    "township_code": None,
                    "name": name,
                    "gender": gender,
                    "birth_date": birth,
                    "document_type": "居民身份证",
                    "id_cipher": crypto.encrypt(number, children.CTX_DOCUMENT),
                    "id_hash": children.document_hash("居民身份证", number),
                    "identity_hash": children.identity_key(name, gender, birth.isoformat()),
                    "nationality": "中国",
                    "ethnicity": "汉族",
                    "hukou_region": "河南省郑州市中牟县",
                    "address": f"中牟县官渡镇 {index % 500} 号",
                    "guardian1_relation": "母亲",
                    "guardian1_name": "王芳",
                    "guardian1_phone_cipher": crypto.encrypt(phone, children.CTX_PHONE),
                    "guardian1_phone_hash": crypto.lookup_hash(phone, children.CTX_PHONE),
                    "guardian2_relation": "",
                    "guardian2_name": "",
                    "guardian2_phone_cipher": None,
                    "guardian2_phone_hash": None,
                    "enrolment_date": date(today.year - 1, 9, 1),
                    "state": "approved" if approved else "submitted",
                    "student_number_kind": "G" if approved else None,
                    "student_number_cipher": crypto.encrypt(student, children.CTX_STUDENT_NUMBER) if approved else None,
                    "student_number_hash": crypto.lookup_hash(student, children.CTX_STUDENT_NUMBER)
                    if approved
                    else None,
                    "content_hash": "",
                    "return_reason": "",
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        with engine.begin() as connection:
            connection.execute(insert(table), batch)
        done += len(batch)
        echo(f"  seeded {done:,}/{count:,} children")


def _workbook(rows: int, seeded: int, today: date) -> bytes:
    """``rows`` valid children with the template's headers; one in REUSED_SHARE carries the ID
    number of a seeded child (accepted, and counted as a duplicate elsewhere)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(child_import.DATA_SHEET)
    sheet.append([child_import.header_of(spec) for spec in CHILD.fields])
    reused = iter(random.Random(2026).sample(range(seeded), min(seeded, rows // REUSED_SHARE + 1)))
    home_birth = date(today.year - 5, 1, 1)
    seed_birth = date(today.year - 6, 1, 1)
    for index in range(rows):
        pick = next(reused, None) if index % REUSED_SHARE == 0 else None
        if pick is not None:
            number, birth, gender = _identity(pick, SEED_REGION, seed_birth)
        else:
            number, birth, gender = _identity(index, HOME_REGION, home_birth)
        values = {
            "name": SURNAMES[index % len(SURNAMES)] + GIVEN[(index * 7) % len(GIVEN)],
            "gender": gender,
            "birth_date": birth,
            "document_type": "居民身份证",
            "document_number": number,
            "nationality": "中国",
            "ethnicity": "汉族" if index % 20 else "回族",
            "hukou_region": "河南省郑州市中原区",
            "address": f"郑州市中原区伊河路 {index % 300} 号",
            "guardian1_relation": "母亲" if index % 3 else "父亲",
            "guardian1_name": "张丽",
            "guardian1_phone": f"138{index:08d}",
            "guardian2_relation": "",
            "guardian2_name": "",
            "guardian2_phone": "",
            "enrolment_date": date(today.year if today.month >= 9 else today.year - 1, 9, 1),
            "class_name": f"{index % CLASS_COUNT + 1}班",
            "flag_poverty": "否",
            "flag_disabled": "否",
            "flag_left_behind": "是" if index % 7 == 0 else "否",
            "flag_orphan": "否",
        }
        sheet.append([values.get(spec.name, "") for spec in CHILD.fields])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _prepared_rows(
    clerk: Actor, home: Institution, data: bytes, today: date
) -> tuple[list[str], list[tuple[Any, ...]], list[str]]:
    """The column values the import writes for this workbook (checked, encrypted, hashed): the
    raw insert's input, prepared outside its timing. Returns (columns, rows, document hashes)."""
    parsed = child_import._parse("bench.xlsx", data)
    with db.session_scope() as session:
        classes = children.class_lookup(session, home.id or 0, children.school_year_of(today))
        known_region = children.known_region_lookup(session)
    now = utcnow()
    prepared: list[dict[str, Any]] = []
    for row in parsed.rows:
        checked = children.check_child(row.raw, class_names=classes, today=today, known_region=known_region)
        values = children.column_values(checked.values, home, classes[checked.values["class_name"]].id)
        values.update(
            state="saved", return_reason="", version=1, created_by=clerk.user_id, created_at=now, updated_at=now
        )
        prepared.append(values)
    columns = list(prepared[0])
    return columns, [tuple(row[c] for c in columns) for row in prepared], [row["id_hash"] for row in prepared]


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if hasattr(value, "tzinfo") and hasattr(value, "hour"):  # aware UTC datetime: stored as UTC wall time
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _index_ddl(connection: Connection) -> dict[str, str]:
    """The secondary indexes of ``child``: name -> CREATE INDEX statement.

    The statements below that are built with f-strings splice only identifiers (the module's own
    COPY_TABLE, index names read from the schema) and fixed PRAGMAs, never input: identifiers
    cannot be bound parameters."""
    if connection.dialect.name == "sqlite":
        found = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'child' AND sql IS NOT NULL"
        )
    else:
        found = connection.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'child' "
                "AND schemaname = current_schema() AND indexname <> 'child_pkey'"
            )
        )
    return {name: sql for name, sql in found}


@contextmanager
def _indexes_rebuilt(engine: Engine) -> Iterator[None]:
    """Drop the indexes of ``child`` while it is filled and build them again afterwards: one sort
    per index instead of a million random B-tree inserts (only for seeding, never timed)."""
    with engine.begin() as connection:
        indexes = _index_ddl(connection)
        for name in indexes:
            connection.exec_driver_sql(f"DROP INDEX {name}")
    try:
        yield
    finally:
        with engine.begin() as connection:
            for statement in indexes.values():
                connection.exec_driver_sql(statement)


def _copy_table(engine: Engine) -> None:
    """A copy of ``child`` with its rows and the same indexes (created after the rows, faster)."""
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {COPY_TABLE}")
        if engine.dialect.name == "sqlite":
            table_sql = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'child'"
            ).scalar_one()
            connection.exec_driver_sql(re.sub(r'^CREATE TABLE "?child"?', f"CREATE TABLE {COPY_TABLE}", table_sql))
        else:
            connection.exec_driver_sql(
                f"CREATE TABLE {COPY_TABLE} (LIKE child INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            )
        connection.exec_driver_sql(f"INSERT INTO {COPY_TABLE} SELECT * FROM child")
        for statement in _index_ddl(connection).values():
            statement = re.sub(r'INDEX "?(\w+)"?', lambda m: f"INDEX {m[1]}_bench", statement, count=1)
            statement = re.sub(r'ON (?:[\w"]+\.)?"?child"?(?=[\s(])', f"ON {COPY_TABLE}", statement, count=1)
            connection.exec_driver_sql(statement)


def _checkpoint(engine: Engine) -> None:
    """Empty SQLite's write-ahead log, so that neither timed insert pays for the other's."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _raw_insert(engine: Engine, url: str, columns: list[str], rows: list[tuple[Any, ...]]) -> float:
    """Insert the prepared rows with the bare driver in one transaction; returns the seconds."""
    names = ", ".join(columns)
    if engine.dialect.name == "sqlite":
        import sqlite3

        database = make_url(url).database or ""
        values = [tuple(_sqlite_value(v) for v in row) for row in rows]
        connection = sqlite3.connect(database, isolation_level=None)
        try:
            for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL", "busy_timeout=5000"):
                connection.execute(f"PRAGMA {pragma}")
            statement = f"INSERT INTO {COPY_TABLE} ({names}) VALUES ({', '.join('?' for _ in columns)})"
            start = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(statement, values)
            connection.execute("COMMIT")
            return time.perf_counter() - start
        finally:
            connection.close()
    import psycopg

    parsed = make_url(url).set(drivername="postgresql")
    connection = psycopg.connect(parsed.render_as_string(hide_password=False))
    try:
        statement = f"INSERT INTO {COPY_TABLE} ({names}) VALUES ({', '.join('%s' for _ in columns)})"
        start = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.executemany(statement, rows)
        connection.commit()
        return time.perf_counter() - start
    finally:
        connection.close()


def _set_aside(engine: Engine, institution_id: int, other_id: int) -> None:
    """Hand the imported children over to the other institution (not timed): the next trial is a
    first import again, into tables grown alike (the raw copy keeps its rows too; deleting rows
    instead left free pages that slowed every later trial)."""
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE child SET institution_id = :other WHERE institution_id = :id"),
            {"id": institution_id, "other": other_id},
        )
    _checkpoint(engine)


def run_import_bench(
    *,
    children_count: int = 1_000_000,
    rows: int = 10_000,
    database_url: str | None = None,
    echo: Echo = print,
    today: date | None = None,
    trials: int = 3,
) -> ImportBench:
    """Fill a scratch database (default: a temporary SQLite file) and measure the import against
    raw driver inserts. Prints progress and the figures through ``echo``; asserts nothing."""
    from portal.services import workflow

    today = today or workflow.local_today()
    with _scratch(database_url) as url:
        engine = db.configure(url)
        shown = make_url(db.normalise_url(url)).render_as_string(hide_password=True)
        echo(f"scratch database: {shown}")
        try:
            migrate.upgrade(engine)
            suffix = f"{secrets.randbelow(10**6):06d}"
            clerk, home, other = _setup(f"4101{suffix}", f"4102{suffix}", today)
            start = time.perf_counter()
            with _indexes_rebuilt(engine):
                _seed(engine, other, children_count, today, echo)
            seed_seconds = time.perf_counter() - start
            echo(f"  {children_count:,} children in {seed_seconds:.1f} s; copying the child table for the raw insert")
            _copy_table(engine)
            if engine.dialect.name == "postgresql":  # statistics, as autovacuum would keep them
                with engine.begin() as connection:
                    connection.exec_driver_sql(f"ANALYZE child; ANALYZE {COPY_TABLE}")
            data = _workbook(rows, children_count, today)
            columns, prepared, hashes = _prepared_rows(clerk, home, data, today)

            import_times: list[float] = []
            raw_times: list[float] = []
            result = None
            for trial in range(1, trials + 1):
                # Alternately, so that what else the machine is doing falls on both alike; each
                # trial a first import into an institution without children, as in the first.
                _checkpoint(engine)
                echo(f"trial {trial}/{trials}: importing {rows:,} rows through import_children")
                start = time.perf_counter()
                result = child_import.import_children(clerk, "bench.xlsx", data, today=today)
                import_times.append(time.perf_counter() - start)
                if result.refused or result.inserted != rows:
                    raise RuntimeError(f"the bench import refused rows: {result.errors[:3]}")
                _checkpoint(engine)
                echo(f"trial {trial}/{trials}: inserting the same {rows:,} rows with the raw driver")
                raw_times.append(_raw_insert(engine, url, columns, prepared))
                if trial == 1:  # the duplicate check on the table as one import leaves it
                    with db.session_scope() as session:
                        children.duplicates_among(session, home.province_code, hashes[:100])  # warm up
                        start = time.perf_counter()
                        found = children.duplicates_among(session, home.province_code, hashes)
                        duplicates_seconds = time.perf_counter() - start
                if trial < trials:
                    _set_aside(engine, home.id or 0, other.id or 0)
            assert result is not None
            import_seconds = statistics.median(import_times)
            raw_seconds = statistics.median(raw_times)
            ratios = tuple(raw / imported for imported, raw in zip(import_times, raw_times, strict=True))
            with engine.begin() as connection:
                connection.exec_driver_sql(f"DROP TABLE IF EXISTS {COPY_TABLE}")
        finally:
            db.dispose()
    bench = ImportBench(
        database=shown,
        children=children_count,
        rows=rows,
        import_seconds=import_seconds,
        raw_seconds=raw_seconds,
        duplicates_seconds=duplicates_seconds,
        duplicates_found=len(found),
        duplicates_elsewhere=result.duplicates_elsewhere,
        seed_seconds=seed_seconds,
        trials=trials,
        ratios=ratios,
    )
    for line in bench.lines():
        echo(line)
    return bench
