"""The one rule every hostile case checks: a clean refusal that stored nothing, or an acceptance
whose stored value reads back exactly as typed (after the service's documented normalisation)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from portal.auth.policy import PermissionDenied
from portal.data.text import bad_character
from portal.services.errors import ServiceError
from tests.hostile.conftest import changed_tables, fingerprint

# What an audited refusal writes by design (the try itself): the row and the chain's head.
AUDIT_TABLES = ("audit_log", "audit_chain_head")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class Outcome:
    accepted: bool
    value: Any = None
    error: Exception | None = None


def attempt(action: Callable[[], Any], *, exclude: tuple[str, ...] = ()) -> Outcome:
    """Run one submission. A refusal must be a service error with a Chinese message that shows no
    control or invisible character, and leave every table (but ``exclude``) as it was. Any other
    exception fails the test: that is the bug this suite looks for."""
    before = fingerprint(exclude)
    try:
        value = action()
    except (ServiceError, PermissionDenied) as exc:
        message = str(exc)
        assert CHINESE.search(message), f"the refusal is not in Chinese: {message!r}"
        shown = [c for c in message if bad_character(c, multiline=True) or c in "\r\n\t"]
        assert not shown, f"the refusal shows control or invisible characters: {message!r}"
        after = fingerprint(exclude)
        assert changed_tables(before, after) == [], f"refused ({message}) but wrote {changed_tables(before, after)}"
        return Outcome(False, error=exc)
    return Outcome(True, value=value)


def must_refuse(
    text: str, *, max_length: int, multiline: bool = False, normalise: Callable[[str], str] = str.strip
) -> bool:
    """Whether the portal's rules must refuse this text in a field of ``max_length`` characters:
    too long, or holding a character no text may hold (after the field's normalisation)."""
    value = normalise(text)
    return len(value) > max_length or any(bad_character(c, multiline=multiline) for c in value)


def check(
    outcome: Outcome,
    text: str,
    read_back: Callable[[Any], Any],
    *,
    max_length: int,
    multiline: bool = False,
    normalise: Callable[[str], str] = str.strip,
) -> None:
    """The verdict for one case: refused when the rules say so; otherwise, if accepted, the stored
    value equals the normalised input, character for character."""
    if must_refuse(text, max_length=max_length, multiline=multiline, normalise=normalise):
        assert not outcome.accepted, f"accepted what must be refused: {text[:40]!r}"
        return
    if outcome.accepted:
        stored = read_back(outcome.value)
        expected = normalise(text)
        assert stored == expected, f"stored {str(stored)[:60]!r}, typed {expected[:60]!r}"
