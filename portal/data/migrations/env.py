"""Alembic environment: migrates the database the portal is configured for.

The connection comes from ``config.attributes['connection']`` when a caller passes one
(tests, the CLI), otherwise from ``DATABASE_URL``.
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import portal.data.models  # noqa: F401  (registers the tables)
from portal.data import db

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=db.normalise_url(config.get_main_option("sqlalchemy.url") or ""),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with db.get_engine().connect() as connection:
        _run(connection)
        connection.commit()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
