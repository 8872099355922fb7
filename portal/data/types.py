"""Column types shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.types import TypeDecorator

CENT = Decimal("0.01")


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database.

    Naive datetimes are refused when written, so a local time can never slip in unmarked.
    PostgreSQL stores ``timestamptz``; SQLite stores the UTC wall time and gets the zone back here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store aware UTC datetimes")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Hundredths(TypeDecorator[Decimal]):
    """An exact decimal with two places (money in yuan to the cent, a percentage), stored as an
    integer count of hundredths on every database.

    SQLite has no exact decimal type: its NUMERIC stores a float, and SUM over floats drifts. An
    integer column sums exactly on both databases; a SQL sum comes back as hundredths, so wrap it
    with ``type_coerce(func.sum(column), Hundredths())`` to read it as a Decimal. Floats are refused
    when written, and so is a value with more than two decimal places (nothing is rounded silently).
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | int | None, dialect: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, float) or not isinstance(value, Decimal | int):
            raise TypeError(f"exact decimal expected, got {type(value).__name__}: use Decimal")
        scaled = Decimal(value) * 100
        if not scaled.is_finite() or scaled != scaled.to_integral_value():
            raise ValueError(f"more than two decimal places: {value}")
        return int(scaled)

    def process_result_value(self, value: int | None, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / 100).quantize(CENT)
