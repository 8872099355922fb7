"""What a text typed into the portal may hold (issue 7: hostile and broken input).

Refused everywhere: control characters (a line break and a tab only in a multi-line text),
the invisible characters that turn the direction of the text (the "Trojan source" and
"‮fdp.exe" tricks), a byte-order mark and the lone halves of a surrogate pair, which no database
can store (PostgreSQL refuses NUL bytes outright). Everything else is kept exactly as typed:
HTML, SQL, formulas, emoji and rare characters are text like any other; they are stored as they
are and shown as text, never interpreted. Zero-width joiners stay (emoji sequences need them).
"""

from __future__ import annotations

import re
import unicodedata

LINE_BREAKS = frozenset("\n\r\t")
# Explicit direction marks, embeddings, overrides and isolates (Unicode bidi formatting characters).
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
INVISIBLE = frozenset("\ufeff\ufff9\ufffa\ufffb")  # byte-order mark; interlinear annotation marks


# Every character ``bad_character`` may refuse (and the line breaks it allows in multi-line texts):
# a text without any of them is clean, and is passed without looking at each character in Python.
_SUSPECT = re.compile(
    "[\x00-\x1f\x7f-\x9f"
    + "".join(sorted(BIDI_CONTROLS | INVISIBLE))
    + "\ud800-\udfff"
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
    + "]"
)


def bad_character(char: str, *, multiline: bool = False) -> str | None:
    """Why a character may not be stored (a short Chinese phrase), or None if it may."""
    code = ord(char)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        if multiline and char in LINE_BREAKS:
            return None
        return "换行符" if char in "\r\n" else "控制字符"
    if char in BIDI_CONTROLS:
        return "改变文字方向的不可见字符"
    if char in INVISIBLE:
        return "不可见的格式字符"
    if 0xD800 <= code <= 0xDFFF or (unicodedata.category(char) == "Cn" and (code & 0xFFFE) == 0xFFFE):
        return "无法识别的字符"
    return None


def text_problem(text: str, label: str, *, multiline: bool = False) -> str | None:
    """What is wrong with the characters of ``text`` (a message naming the field), or None."""
    if _SUSPECT.search(text) is None:
        return None
    for char in text:
        reason = bad_character(char, multiline=multiline)
        if reason is not None:
            return f"{label}含有{reason}（{_shown(char)}），请删除后重新填写。"
    return None


def without_bad_characters(text: str, replacement: str = "") -> str:
    """The text with every character ``text_problem`` refuses replaced (for search terms and the
    display names of uploaded files, where refusing would help nobody)."""
    return "".join(replacement if bad_character(char) else char for char in text)


def _shown(char: str) -> str:
    """A refused character as the message can show it: its code point, never the character."""
    return f"U+{ord(char):04X}"
