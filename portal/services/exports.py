"""Exports (§17 of the Rules): what every file leaving the portal goes through.

A cell beginning with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is neutralised with
a leading apostrophe, so that a spreadsheet never runs it as a formula (CSV/formula injection);
personal numbers are masked by the exporting service unless the user may and chose to reveal them;
each export is audited with its row count.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from portal.auth.actor import Actor
from portal.services import audit

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """The value, or for a text beginning like a formula, the text behind an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def record(session: Session, actor: Actor, what: str, rows: int, *, object_type: str = "", object_id: Any = "") -> None:
    """Audit one export: what it was and how many rows it carried."""
    audit.record(
        session, actor, "data_export", object_type=object_type, object_id=object_id, detail=f"{what}：{rows} 行"
    )
