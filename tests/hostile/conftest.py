"""The hostile-input suite's fixtures: one demo world per database engine, shared by every case,
and a fingerprint of the whole database to prove that a refused input stored nothing.

A fresh database per case (the ``database`` fixture) costs a second of migrations and demo data;
four hundred cases would take minutes. So the world is built once per engine for the session,
with the same helpers (SQLite file, or a PostgreSQL schema of its own under TEST_DATABASE_URL),
and each case compares the database before and after instead of relying on a clean slate.
Every case on SQLite; on PostgreSQL the representative subset ``catalogue.PG_SUBSET`` (which
holds every case that only PostgreSQL refuses, such as NUL bytes and lengths past a column).
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.roles import Duty, Level
from portal.data import db, migrate
from portal.services import children, supervision, workflow
from portal.services.accounts import NewUser, create_user
from portal.settings import reset_settings_cache
from tests.conftest import (
    DEMO_PASSWORD,
    TEST_DATABASE_URL,
    _postgres_schema_url,
    actor_for,
    load_henan_regions,
    skip_or_fail,
)
from tests.factories import child_values, clerk_of, resident_id, reviewer_of
from tests.hostile.catalogue import IDS, PG_SUBSET, TEXTS

ENGINES = ("sqlite", "postgresql")
TODAY = workflow.local_today()
PDF = b"%PDF-1.4\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
OTHER_COUNTY_CODE = "4101020001"  # 郑州市中原区伊河路幼儿园 (the demo's other county)
RECEIVER_CODE = "4101220004"  # 中牟县实验幼儿园: receives transfers


@dataclass
class World:
    """The demo province with the objects the forms act on, built once per engine."""

    engine: str
    url: str
    actors: dict[str, Actor]
    class_name: str = "小一班"
    numbered_child: int = 0  # approved, with a student number, at the demo clerk's kindergarten
    student_number: str = ""
    saved_child: int = 0  # a saved draft at the demo clerk's kindergarten
    pending_request: int = 0  # a child's record waiting for the county
    dispute: int = 0  # a problem record between 中牟县 and 中原区, open
    form_id: int = 0  # a published supervision form (text, number, file fields)
    receiver: Actor | None = None
    receiver_class: int = 0
    institution_reviewer: Actor | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    _sequence: Iterator[int] = field(default_factory=lambda: itertools.count(100))

    def next_sequence(self) -> int:
        """A fresh sequence number for a child's ID number (each accepted child needs its own)."""
        return next(self._sequence)


def _env(monkeypatch: pytest.MonkeyPatch, tmp: Path) -> None:
    # The same values as tests.conftest.portal_env, which runs again (function-scoped) per case.
    monkeypatch.setenv("PORTAL_BCRYPT_ROUNDS", "4")
    monkeypatch.setenv("PORTAL_COOKIE_KEY", "test-cookie-key-" + "x" * 32)
    monkeypatch.setenv("PORTAL_ENCRYPTION_KEY", "test-encryption-key-" + "y" * 32)
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp / "no-secrets.toml"))
    monkeypatch.setenv("PORTAL_EVIDENCE_DIR", str(tmp / "evidence"))
    monkeypatch.delenv("PORTAL_COOKIE_RELOGIN", raising=False)


def _build(engine: str, url: str) -> World:
    from portal.services.demo import load_demo

    load_henan_regions()
    load_demo(DEMO_PASSWORD, with_requests=False)
    names = ["province", "city", "county", "township", "clerk", "sysadmin", "secadmin", "auditor"]
    actors = {name: actor_for(f"demo-{name}") for name in names}
    world = World(engine, url, actors)
    clerk, county = actors["clerk"], actors["county"]
    year = children.school_year_of(TODAY)
    children.create_class(clerk, {"name": world.class_name, "grade": "小班", "school_year": year})
    # A numbered child (for key changes, leaving and transfers) and a pending one (for decisions).
    world.numbered_child = children.save_child(clerk, child_values(sequence=1), today=TODAY).child_id
    children.submit_children(clerk, [world.numbered_child], today=TODAY)
    for row in workflow.queue(county, kind=children.KIND_CHILD, limit=50).rows:
        workflow.decide(county, row.id, "approve")
    from portal.services.children import number_of
    from portal.services.problems import list_disputes

    with db.session_scope() as session:
        from portal.data.models import Child

        numbered = session.get(Child, world.numbered_child)
        assert numbered is not None and numbered.state == "approved"
        world.student_number = number_of(numbered)
    world.pending_request = _pending_request(world)
    world.saved_child = children.save_child(clerk, child_values(sequence=3), today=TODAY).child_id
    # A problem record: the same child entered in another county after the first was approved.
    other = clerk_of(OTHER_COUNTY_CODE)
    children.create_class(other, {"name": "小一班", "grade": "小班", "school_year": year})
    claimant = children.save_child(other, child_values(sequence=1), today=TODAY).child_id
    children.submit_children(other, [claimant], today=TODAY)
    other_county = reviewer_of(Level.COUNTY, "410102")
    for row in workflow.queue(other_county, kind=children.KIND_CHILD, limit=50).rows:
        workflow.decide(other_county, row.id, "approve")
    world.dispute = list_disputes(actors["city"])[0].id
    world.extras["other_clerk"] = other
    world.extras["other_county"] = other_county
    # The receiving kindergarten of a transfer, with a class of this year.
    world.receiver = clerk_of(RECEIVER_CODE)
    world.receiver_class = children.create_class(
        world.receiver, {"name": "中二班", "grade": "中班", "school_year": year}
    ).id
    # The kindergarten's own reviewer (key changes are decided in the kindergarten).
    create_user(
        SYSTEM_ACTOR,
        NewUser(
            "hostile-inst-reviewer",
            "园内审核员",
            Level.INSTITUTION,
            Duty.REVIEWER,
            DEMO_PASSWORD,
            institution_code="4101220002",
        ),
    )
    world.institution_reviewer = actor_for("hostile-inst-reviewer")
    # A published supervision form designed by the province's administrator.
    designer = actors["sysadmin"]
    form = supervision.design_form(
        designer,
        title="安全检查情况",
        description="请如实填报",
        due_date=TODAY + timedelta(days=30),
        fields=[
            supervision.FieldInput("检查说明", "text", True),
            supervision.FieldInput("检查次数", "integer"),
            supervision.FieldInput("检查照片", "file"),
        ],
    )
    supervision.publish_form(designer, form.id or 0)
    world.form_id = form.id or 0
    return world


def _pending_request(world: World) -> int:
    clerk = world.actors["clerk"]
    child_id = children.save_child(clerk, child_values(sequence=2), today=TODAY).child_id
    children.submit_children(clerk, [child_id], today=TODAY)
    rows = workflow.queue(world.actors["county"], kind=children.KIND_CHILD, limit=50).rows
    return next(r.id for r in rows)


@pytest.fixture(scope="session")
def _worlds() -> Iterator[dict[str, World]]:
    """The worlds built so far, by engine; torn down at the end of the session."""
    built: dict[str, World] = {}
    yield built
    db.dispose()
    for world in built.values():
        world.extras.get("cleanup", lambda: None)()


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    _worlds: dict[str, World],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    """The shared world of the engine named by the test's parameter (``sqlite`` by default),
    with the process engine pointed at it for this case."""
    engine = getattr(request, "param", "sqlite")
    if engine not in _worlds:
        _worlds[engine] = _new_world(engine, tmp_path_factory)
    found = _worlds[engine]
    monkeypatch.setenv("DATABASE_URL", found.url)
    reset_settings_cache()
    if db._engine_url != db.normalise_url(found.url):
        db.configure(found.url)
    return found


def _new_world(engine: str, tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp(f"hostile-{engine}")
    if engine == "sqlite":
        url = f"sqlite:///{tmp / 'portal.db'}"
        cleanup = None
    else:
        if not TEST_DATABASE_URL:
            skip_or_fail("TEST_DATABASE_URL is not set")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(db.normalise_url(TEST_DATABASE_URL or ""), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = _postgres_schema_url(TEST_DATABASE_URL or "", schema)

        def cleanup() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()

    with pytest.MonkeyPatch.context() as monkeypatch:
        _env(monkeypatch, tmp)
        monkeypatch.setenv("DATABASE_URL", url)
        reset_settings_cache()
        db.configure(url)
        migrate.upgrade()
        built = _build(engine, url)
    if cleanup is not None:
        built.extras["cleanup"] = cleanup
    reset_settings_cache()
    return built


def cases(ids: list[str] | None = None, *, postgres: bool = True) -> list[Any]:
    """(world, key, text) parameters: every catalogue string on SQLite, the PG subset on PostgreSQL."""
    chosen = ids if ids is not None else IDS
    params = [pytest.param("sqlite", key, TEXTS[key], id=f"sqlite-{key}") for key in chosen]
    if postgres:
        params += [
            pytest.param("postgresql", key, TEXTS[key], id=f"postgresql-{key}", marks=pytest.mark.postgres)
            for key in chosen
            if key in PG_SUBSET
        ]
    return params


def parametrize_cases(ids: list[str] | None = None, *, postgres: bool = True) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(("world", "key", "hostile"), cases(ids, postgres=postgres), indirect=["world"])


# --- the fingerprint of the database ------------------------------------------------------------------


def fingerprint(exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """Table name -> a digest of every row: equal before and after means nothing was written.
    Raw SQL on one connection (a hostile case takes two of these, so they must be cheap)."""
    digests: dict[str, str] = {}
    with db.get_engine().connect() as conn:
        cursor = conn.connection.cursor()
        for name in _table_names():
            if name in exclude:
                continue
            cursor.execute(f'SELECT * FROM "{name}"')  # the names come from the metadata
            rows = sorted(map(repr, cursor.fetchall()))
            digest = hashlib.sha256("\n".join(rows).encode("utf-8", "backslashreplace")).hexdigest()
            digests[name] = f"{len(rows)}:{digest[:16]}"
        cursor.close()
        conn.rollback()
    return digests


def _table_names() -> list[str]:
    return [table.name for table in SQLModel.metadata.sorted_tables]


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in after if before.get(name) != after[name])


def a_valid_child(world: World, **changes: Any) -> dict[str, Any]:
    """A valid child form with an ID number no other accepted case used."""
    return child_values(sequence=world.next_sequence(), **changes)


__all__ = [
    "ENGINES",
    "PDF",
    "PNG",
    "TODAY",
    "World",
    "a_valid_child",
    "cases",
    "changed_tables",
    "fingerprint",
    "parametrize_cases",
    "resident_id",
]


def some_date(offset: int = 0) -> date:
    return TODAY - timedelta(days=offset)
