"""Schema migrations (Alembic), driven from Python so the CLI and the tests share one path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

from portal.data import db

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def _run(step: Callable[[Config, str], None], engine: Engine | None, revision: str) -> None:
    config = alembic_config()
    with (engine or db.get_engine()).begin() as connection:
        config.attributes["connection"] = connection
        step(config, revision)


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the database up to ``revision`` (default: the newest)."""
    _run(command.upgrade, engine, revision)


def downgrade(engine: Engine | None = None, revision: str = "base") -> None:
    """Take the database down to ``revision`` (default: empty)."""
    _run(command.downgrade, engine, revision)


def current_revision(engine: Engine | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = engine or db.get_engine()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_initialised(engine: Engine | None = None) -> bool:
    engine = engine or db.get_engine()
    return inspect(engine).has_table("alembic_version") and current_revision(engine) is not None
