"""The import's fast reading against plain one-at-a-time definitions: the worksheet extent guard
(a single regular expression over windows of the XML) against a tag-by-tag reading, and the
column-at-a-time reading of cells against reading each row on its own."""

from __future__ import annotations

import io
import random
import re
import zipfile
from datetime import date, datetime
from typing import Any

import pytest
from openpyxl import Workbook

from portal.services import child_import, uploads
from portal.services.child_import import SPECS, _rows_values, header_of

_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c)\b([^>]*)>")
_REFERENCE = re.compile(rb"""\br\s*=\s*["']([A-Za-z]{0,3})([0-9]{0,7})["']""")


def extent_by_tags(xml: bytes) -> tuple[int, int]:
    """The definition: walk the row and cell tags in order; a tag without a reference follows the
    one before it (as spreadsheet readers place them)."""
    rows = columns = row = column = 0
    for match in _TAG.finditer(xml):
        reference = _REFERENCE.search(match.group(2))
        if match.group(1) == b"row":
            row = int(reference.group(2)) if reference and reference.group(2) else row + 1
            column = 0
        else:
            if reference and reference.group(1):
                column = 0
                for letter in reference.group(1).decode().upper():
                    column = column * 26 + ord(letter) - ord("A") + 1
                if reference.group(2):
                    row = max(int(reference.group(2)), 1)
            else:
                column += 1
            columns = max(columns, column)
        rows = max(rows, row)
    return rows, columns


PIECES = [
    b"<row>",
    b'<row r="5">',
    b'<row r="0">',
    b"<c>",
    b'<c r="B">',
    b'<c r="7">',
    b'<c r="AB12">',
    b"<c t='s' r='C3'>",
    b'<x:c r="XFD1048576"/>',
    b'<x:row r="3">',
    b"<cols>",
    b"<col/>",
    b'<c r = "zz9" s="1">',
    b"<v>1</v>",
    b"</c>",
    b"</row>",
    b">",
    b"<",
    b'<row spans="1:3" r="12">',
    b'<c xr="D4">',
    b'<c r="D4" r="E9">',
    b'<c s="2" r="Q1000000">',
    b"<is><t>r=&quot;Z9&quot;</t></is>",
]


def test_the_extent_guard_reads_as_tag_by_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(2026)
    for window in (1, 7, 64, 1 << 20):  # windows end just after a ">": no tag may be cut in two
        monkeypatch.setattr(uploads, "_WINDOW", window)
        for _ in range(3000):
            xml = b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 40)))
            assert uploads.sheet_extent(xml) == extent_by_tags(xml), xml


def test_the_extent_guard_on_a_real_sheet() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in range(1, 301):
        sheet.append([f"第{row}行", row, row * 1.5, date(2022, 1, 1)])
    sheet["AA500"] = "远处"
    buffer = io.BytesIO()
    workbook.save(buffer)
    xml = zipfile.ZipFile(buffer).read("xl/worksheets/sheet1.xml")
    assert uploads.sheet_extent(xml) == extent_by_tags(xml) == (500, 27)


CELLS: list[Any] = [
    None,
    "",
    " ",
    "是",
    "否",
    "Y",
    "x",
    True,
    False,
    1,
    1.0,
    0,
    0.0,
    -0.0,
    "1",
    4.10122202203150e17,
    "410122202203150031",
    datetime(2022, 3, 15),
    datetime(2022, 3, 15, 8, 30),
    date(2022, 3, 15),
    "2022年3月15日",
    "20220315",
    "王\u3000芳",
    "汉族",
]


def test_cells_read_a_column_at_a_time_as_one_row_at_a_time() -> None:
    labels = ["姓名", "性别", "出生日期", "证件号码", "民族", "建档立卡贫困家庭", "留守儿童", "入园日期"]
    header = [header_of(SPECS[label]) for label in labels]
    columns = child_import._map_columns([*header, *(header_of(spec) for spec in _required_missing(labels))])
    width = max(columns) + 1
    rng = random.Random(11)
    rows = [[rng.choice(CELLS) for _ in range(rng.randint(0, width))] for _ in range(2000)]  # ragged, as CSV
    together = _rows_values(rows, columns)
    for row, (raw, errors) in zip(rows, together, strict=True):
        alone_raw, alone_errors = _rows_values([row], columns)[0]
        assert _exact(raw) == _exact(alone_raw), row
        assert _exact(errors) == _exact(alone_errors), row
    assert any(errors for _raw, errors in together)  # "x" in a 是/否 column, an ID number stored as a number
    assert _rows_values([], columns) == []


def _required_missing(labels: list[str]) -> list[Any]:
    return [spec for spec in SPECS.values() if spec.required and spec.label not in labels]


def _exact(mapping: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(key, type(value).__name__, repr(value)) for key, value in mapping.items()]
