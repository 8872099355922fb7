"""User-supplied text inside Markdown: shown as typed, never interpreted (issue 7).

``st.markdown``, ``st.caption``, the alerts, expander and button labels all read their text as
Markdown, with Streamlit's extras: ``:red[...]`` colours, ``:material/...:`` icons, ``$...$``
formulas. A name such as ``**x**`` or ``[点我](javascript:...)`` would be drawn bold or as a link.
Every value a user typed (names, reasons, titles, file names, and the service messages that quote
them) goes through ``md`` before it is interpolated.

``md`` puts a backslash (CommonMark's "this character, literally") before every character that can
start Markdown inside a line: emphasis, code, links and images, HTML and entities, formulas, tables,
strike-through, Streamlit's ``:directive[`` and ``:icon:``, and the ``http://`` and ``www.`` that
would become links. It does the same at the start of a line for headings, lists, quotes and
rules. Ordinary text such as ``2026-2027`` or ``demo-clerk`` is left as it is, so messages read
the same in the page source. HTML is never allowed (no ``unsafe_allow_html`` anywhere), and
tables and data frames show text as text already.
"""

from __future__ import annotations

import re
from typing import Any

_INLINE = re.compile(r"""([\\`*_\[\]<>$~|&])|:(?=[A-Za-z/])|(?<=www)\.""", re.IGNORECASE)
_LINE_START = re.compile(r"(?m)^([ \t]*)([#+=\-]|\d+[.)])")


def md(value: Any) -> str:
    """``value`` as Markdown that shows exactly its characters."""
    text = _INLINE.sub(lambda m: "\\" + m.group(0), str(value))
    return _LINE_START.sub(lambda m: m.group(1) + _escape_marker(m.group(2)), text)


def _escape_marker(marker: str) -> str:
    """A line-start marker with a backslash before its significant character: ``\\#``, ``1\\.``."""
    if marker[0].isdigit():
        return marker[:-1] + "\\" + marker[-1]
    return "\\" + marker
