"""The one clock of the portal: aware UTC now, and the local zone screens use.

Services take an optional ``now`` so tests can inject time; everything else calls ``utcnow()``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_local(value: datetime | None) -> datetime | None:
    """An aware datetime in Asia/Shanghai, for display."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL_TZ)


def format_local(value: datetime | None, with_seconds: bool = False) -> str:
    local = to_local(value)
    if local is None:
        return ""
    return local.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")
