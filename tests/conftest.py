"""Shared fixtures: a clean database per test, on SQLite and (when TEST_DATABASE_URL is set) on
PostgreSQL, migrated with Alembic; demo data; actors for each demo role."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import select

from portal.auth.actor import Actor
from portal.data import db, migrate
from portal.data.models import Region, User
from portal.data.regions import cpca_regions
from portal.settings import reset_settings_cache

REQUIRE_ALL = os.environ.get("PORTAL_REQUIRE_ALL_TESTS") == "1"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
DEMO_PASSWORD = "Demo#Portal2026"


def skip_or_fail(reason: str) -> None:
    """Skip locally; on CI (PORTAL_REQUIRE_ALL_TESTS=1) a missing prerequisite is a failure."""
    if REQUIRE_ALL:
        pytest.fail(f"required on CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def portal_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Settings for tests: fast bcrypt, test secrets, no developer secrets file."""
    monkeypatch.setenv("PORTAL_BCRYPT_ROUNDS", "4")
    monkeypatch.setenv("PORTAL_COOKIE_KEY", "test-cookie-key-" + "x" * 32)
    monkeypatch.setenv("PORTAL_ENCRYPTION_KEY", "test-encryption-key-" + "y" * 32)
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))
    monkeypatch.setenv("PORTAL_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.delenv("PORTAL_COOKIE_RELOGIN", raising=False)
    reset_settings_cache()
    yield
    reset_settings_cache()


def _postgres_schema_url(base: str, schema: str) -> str:
    separator = "&" if "?" in base else "?"
    return f"{db.normalise_url(base)}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, portal_env: None) -> Iterator[str]:
    """A fresh, empty database URL: an SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'portal.db'}"
        return
    if not TEST_DATABASE_URL:
        skip_or_fail("TEST_DATABASE_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(db.normalise_url(TEST_DATABASE_URL or ""), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield _postgres_schema_url(TEST_DATABASE_URL or "", schema)
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The process engine pointed at a fresh database, migrated to the newest revision."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    reset_settings_cache()
    db.configure(database_url)
    migrate.upgrade()
    yield database_url
    db.dispose()


def load_henan_regions() -> None:
    """Henan's cities and counties only (the full country loads in its own test)."""
    with db.session_scope(write=True) as session:
        for rec in cpca_regions(["41"]):
            session.add(Region(**rec.__dict__, source="cpca"))
            if rec.level != "county":
                session.flush()


@pytest.fixture
def demo(database: str) -> str:
    """The demo province with its eight accounts (password DEMO_PASSWORD)."""
    from portal.services.demo import load_demo

    load_henan_regions()
    load_demo(DEMO_PASSWORD, with_requests=False)
    return database


def actor_for(username: str) -> Actor:
    from portal.services.login import build_actor

    with db.session_scope() as session:
        user = session.exec(select(User).where(User.username == username)).one()
        return build_actor(session, user)


@pytest.fixture
def actors(demo: str) -> dict[str, Actor]:
    """The demo actors by short name: province, city, county, township, clerk, sysadmin ..."""
    names = ["province", "city", "county", "township", "clerk", "sysadmin", "secadmin", "auditor"]
    return {name: actor_for(f"demo-{name}") for name in names}
