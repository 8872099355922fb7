"""Free text that a service takes outside a field spec: reasons, notes, titles, search terms.

The rules are those of ``portal.data.text`` (the field specs apply them in ``fields.clean``):
no control characters (line breaks only where the screen has a multi-line box), no invisible
direction or format characters, nothing a database cannot store; and a length the column holds,
so that nothing is cut short when it is stored. A refusal is a ``ValidationError`` naming the
field, and nothing is written.
"""

from __future__ import annotations

from portal.data.text import text_problem, without_bad_characters
from portal.services.errors import ValidationError


def check_text(value: str, *, field: str, label: str, max_length: int, multiline: bool = False) -> None:
    """Refuse a text (already stripped) that is too long or holds characters no text may hold."""
    if len(value) > max_length:
        raise ValidationError({field: f"{label}不超过 {max_length} 个字（现有 {len(value)} 个）。"})
    problem = text_problem(value, label, multiline=multiline)
    if problem:
        raise ValidationError({field: problem})


def search_term(value: str | None, max_length: int = 100) -> str:
    """A search box's text, stripped, cut to a sensible length and without the characters no
    stored text holds (a search for them could match nothing, and PostgreSQL refuses NUL)."""
    return without_bad_characters(value or "").strip()[:max_length]
