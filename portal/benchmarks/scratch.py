"""Scratch databases for the benchmarks and the load script: a temporary SQLite file, or a fresh
schema inside a given PostgreSQL database (dropped afterwards), and the Henan regions they need."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from portal.data import db
from portal.data.models import Region
from portal.data.regions import cpca_regions
from portal.settings import MIN_SECRET_LENGTH, get_settings, reset_settings_cache


def ensure_secrets() -> None:
    """A scratch database needs no deployment's secrets: throwaway ones, for this process only."""
    settings = get_settings()
    if len(settings.cookie_key) < MIN_SECRET_LENGTH:
        os.environ["PORTAL_COOKIE_KEY"] = secrets.token_urlsafe(48)
    if len(settings.encryption_key) < MIN_SECRET_LENGTH:
        os.environ["PORTAL_ENCRYPTION_KEY"] = secrets.token_urlsafe(48)
    reset_settings_cache()


def is_postgres(url: str | None) -> bool:
    return bool(url) and make_url(db.normalise_url(url or "")).get_backend_name() == "postgresql"


def shown(url: str) -> str:
    """The URL with its password hidden (and the search_path option of a scratch schema kept)."""
    return make_url(db.normalise_url(url)).render_as_string(hide_password=True)


@contextmanager
def scratch_database(postgres_url: str | None = None, label: str = "bench") -> Iterator[str]:
    """A fresh, empty database URL: a temporary SQLite file, or, when ``postgres_url`` is given, a
    new schema in that database (its search_path set in the URL), dropped at the end."""
    if not postgres_url:
        folder = tempfile.mkdtemp(prefix=f"portal-{label}-")
        try:
            yield f"sqlite:///{folder}/{label}.db"
        finally:
            db.dispose()
            shutil.rmtree(folder, ignore_errors=True)
        return
    # A URL naming a schema already (search_path in its options) gets the new schema instead.
    base = (
        make_url(db.normalise_url(postgres_url))
        .difference_update_query(["options"])
        .render_as_string(hide_password=False)
    )
    schema = f"{label}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            # The schema name is generated here (label + hex), never input: identifiers cannot be bound.
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in base else "?"
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        db.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def load_henan_regions() -> None:
    """Henan's province, cities and counties (the official codes), when absent."""
    with db.session_scope(write=True) as session:
        present = set(session.exec(select(Region.code).where(Region.province_code == "41")).all())
        for rec in cpca_regions(["41"]):
            if rec.code not in present:
                session.add(Region(**rec.__dict__, source="cpca"))
                if rec.level != "county":
                    session.flush()
