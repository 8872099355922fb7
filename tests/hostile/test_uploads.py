"""Broken and hostile files at every upload: the child import (xlsx/csv), the statistics baseline
(xlsx/csv), the township list (csv) and evidence files (every form that takes one stores it the
same way). Each bad file is refused quickly with a Chinese message and nothing is stored; a zip
bomb is refused before it is expanded; no upload leaves a temporary file behind."""

from __future__ import annotations

import csv
import io
import os
import struct
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import select

from portal.data import db
from portal.data.child_fields import CHILD
from portal.data.models import Child, EvidenceFile, Region
from portal.services import baseline, child_import, evidence, regions, uploads
from portal.services.child_import import header_of
from portal.settings import get_settings
from tests.hostile.catalogue import PATHS
from tests.hostile.conftest import PDF, PNG, TODAY, World, a_valid_child
from tests.hostile.outcome import attempt

XLSX_MAGIC = b"PK\x03\x04"


# --- files ----------------------------------------------------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _workbook(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _far_cell_workbook(header: list[str]) -> bytes:
    """A header and one stray cell at the last row and column Excel has: a million rows declared."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    sheet.cell(row=1_048_576, column=16_384, value="x")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _bomb(size_mb: int) -> bytes:
    """A workbook-shaped zip whose sheet expands to ``size_mb`` MB of zeros (about 1,000:1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            chunk = b"\x00" * (1024 * 1024)
            for _ in range(size_mb):
                member.write(chunk)
    return buffer.getvalue()


def _lying_bomb(data: bytes) -> bytes:
    """The bomb with its declared uncompressed size rewritten to 1,000 bytes in every header."""
    out = bytearray(data)
    for signature, size_offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (found := out.find(signature, start)) != -1:
            name_length = struct.unpack_from("<H", out, found + (26 if signature == b"PK\x03\x04" else 28))[0]
            name_at = found + (30 if signature == b"PK\x03\x04" else 46)
            if bytes(out[name_at : name_at + name_length]) == b"xl/worksheets/sheet1.xml":
                current = struct.unpack_from("<I", out, found + size_offset)[0]
                if current != 0xFFFFFFFF:  # not a zip64 placeholder
                    struct.pack_into("<I", out, found + size_offset, 1000)
            start = found + 4
    return bytes(out)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    big = _bomb(300)  # past the 200 MB budget: refused on its declared size
    dense = _bomb(60)  # under the budget, but compressed a thousand times: refused on its ratio
    return {"declared": big, "ratio": dense, "lying": _lying_bomb(dense)}


CHILD_HEADER = [header_of(spec) for spec in CHILD.fields]
BASELINE_HEADER = ["县区代码", "年度", "统计在园幼儿数", "机构数"]


def _bad_files(header: list[str]) -> dict[str, tuple[str, bytes]]:
    """(file name, bytes) of broken files, for an importer whose header is ``header``."""
    line = ",".join(header)
    return {
        "empty": ("导入.csv", b""),
        "blank": ("导入.csv", b" \r\n\t\r\n"),
        "random-xlsx": ("导入.xlsx", os.urandom(4096)),
        "truncated-xlsx": ("导入.xlsx", _workbook([header])[:700]),
        "zip-not-xlsx": ("导入.xlsx", _zip({"readme.txt": b"hello"})),
        "docx": ("导入.xlsx", _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"})),
        "legacy-xls": ("导入.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024),
        "pdf-as-csv": ("导入.csv", PDF),
        "png-as-xlsx": ("导入.xlsx", PNG),
        "utf16-bom": ("导入.csv", (line + "\n").encode("utf-16")),
        "utf16-no-bom": ("导入.csv", (line + "\n").encode("utf-16-le")),
        "not-any-encoding": ("导入.csv", b"\x80\x81\xff\xfe\x80" * 10),
        "nul-bytes": ("导入.csv", (line + "\n410122,\x00\x00\x00\n").encode("utf-8")),
        "100000-columns": ("导入.csv", (",".join(["列"] * 100_000) + "\n").encode("utf-8")),
        "huge-field": ("导入.csv", (line + '\n"' + "长" * 200_000 + '"\n').encode("utf-8")),
        "html": ("导入.csv", b"<html><script>alert(1)</script></html>"),
        "a-million-rows": ("导入.xlsx", _far_cell_workbook(header)),
        "exe-renamed": ("导入.csv", b"MZ\x90\x00\x03\x00\x00\x00" + os.urandom(512)),
    }


def _refused_quickly(action: Callable[[], Any], seconds: float = 10.0) -> None:
    started = time.monotonic()
    outcome = attempt(action)
    took = time.monotonic() - started
    assert not outcome.accepted, "a broken file was accepted"
    assert took < seconds, f"took {took:.1f} s to refuse"


# --- the child import -----------------------------------------------------------------------------

CHILD_BAD = _bad_files(CHILD_HEADER)


@pytest.mark.parametrize("case", list(CHILD_BAD))
def test_the_child_import_refuses_a_broken_file(world: World, case: str) -> None:
    name, data = CHILD_BAD[case]
    _refused_quickly(lambda: child_import.import_children(world.actors["clerk"], name, data, today=TODAY))


@pytest.mark.parametrize("kind", ["declared", "ratio", "lying"])
def test_the_child_import_refuses_a_zip_bomb_before_expanding_it(
    world: World, bombs: dict[str, bytes], kind: str
) -> None:
    _refused_quickly(lambda: child_import.import_children(world.actors["clerk"], "炸弹.xlsx", bombs[kind]), 5.0)


def test_the_child_import_refuses_a_file_over_the_size_limit(world: World) -> None:
    limit = get_settings().import_max_mb * 1024 * 1024
    data = (",".join(CHILD_HEADER) + "\n").encode("utf-8") + b" " * limit
    _refused_quickly(lambda: child_import.import_children(world.actors["clerk"], "大文件.csv", data))


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CHILD_HEADER)
    for values in rows:
        writer.writerow(
            ["是" if v is True else "否" if v is False else v for v in (values.get(s.name, "") for s in CHILD.fields)]
        )
    return buffer.getvalue().encode("utf-8")


def test_hostile_cells_in_an_import_are_refused_by_row_or_stored_as_text(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Control characters refuse their row (and the marked workbook still opens); a formula, HTML
    or SQL in an address is text: stored exactly, exported behind an apostrophe."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # any temporary file would land here
    hostile_addresses = ["=cmd|' /C calc'!A0", "<script>alert(1)</script>", "'; DROP TABLE child; --", "@SUM(1)"]
    accepted = [a_valid_child(world, address=address) for address in hostile_addresses]
    refused = [
        a_valid_child(world, name="王\x07芳"),
        a_valid_child(world, address="村\x1b[31m红"),
        a_valid_child(world, address="\u202e村"),
    ]
    result = child_import.import_children(world.actors["clerk"], "幼儿.csv", _csv(accepted + refused), today=TODAY)
    assert (result.inserted, result.refused) == (len(accepted), len(refused))
    assert result.marked is not None
    marked = load_workbook(io.BytesIO(result.marked))
    assert marked[child_import.DATA_SHEET].max_row == 1 + len(accepted) + len(refused)
    with db.session_scope() as session:
        stored = set(session.exec(select(Child.address)).all())
    assert set(hostile_addresses) <= stored
    exported = load_workbook(io.BytesIO(child_import.export_children(world.actors["clerk"])))
    cells = [c for row in exported.active.iter_rows() for c in row if isinstance(c.value, str)]
    for address in hostile_addresses:
        shown = [c for c in cells if c.value in (address, "'" + address)]
        assert shown, address
        assert all(c.data_type == "s" for c in shown)
        if address[0] in "=+-@":
            assert all(c.value == "'" + address for c in shown)
    assert list(tmp_path.iterdir()) == []  # openpyxl's temporary files were removed


def test_an_xlsx_with_a_formula_is_refused(world: World) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(CHILD_HEADER)
    sheet.append(['=HYPERLINK("http://evil.example","x")'])
    buffer = io.BytesIO()
    book.save(buffer)
    _refused_quickly(lambda: child_import.import_children(world.actors["clerk"], "公式.xlsx", buffer.getvalue()))


@pytest.mark.parametrize("name", list(PATHS))
def test_a_hostile_file_name_on_an_import_is_only_shown(world: World, name: str) -> None:
    """The name of the upload never becomes a path; the marked copy gets a plain name."""
    assert child_import.marked_name(name).endswith("_错误标注.xlsx")
    assert "/" not in child_import.marked_name(name) and "\x00" not in child_import.marked_name(name)


# --- the statistics baseline ----------------------------------------------------------------------

BASELINE_BAD = _bad_files(BASELINE_HEADER)
BASELINE_BAD.pop("html")  # HTML in a .csv is read as text: its header is wrong, covered below
BASELINE_ROWS = {
    "superscript": "410122,2026,²,1",
    "a-5000-digit-number": "410122,2026," + "9" * 5000 + ",1",
    "ten-digits": "410122,2026,1234567890,1",
    "fullwidth-year": "410122,２０２６,１２,",
    "negative": "410122,2026,-5,1",
    "sql-code": "' OR 1=1 --,2026,5,1",
    "nul-code": "4101\x0022,2026,5,1",
    "long-code": "4" * 10_000 + ",2026,5,1",
    "html-header": "<b>县区代码</b>",
}


@pytest.mark.parametrize("case", list(BASELINE_BAD))
def test_the_baseline_import_refuses_a_broken_file(world: World, case: str) -> None:
    name, data = BASELINE_BAD[case]
    _refused_quickly(lambda: baseline.import_baseline(world.actors["sysadmin"], name, data))


@pytest.mark.parametrize("kind", ["declared", "ratio", "lying"])
def test_the_baseline_import_refuses_a_zip_bomb_before_expanding_it(
    world: World, bombs: dict[str, bytes], kind: str
) -> None:
    _refused_quickly(lambda: baseline.import_baseline(world.actors["sysadmin"], "炸弹.xlsx", bombs[kind]), 5.0)


@pytest.mark.parametrize("case", list(BASELINE_ROWS))
def test_the_baseline_import_refuses_a_bad_row(world: World, case: str) -> None:
    data = ("县区代码,年度,统计在园幼儿数,机构数\n" + BASELINE_ROWS[case] + "\n").encode("utf-8")
    outcome = attempt(lambda: baseline.import_baseline(world.actors["sysadmin"], "基数.csv", data))
    if case == "fullwidth-year":  # full-width digits are digits: read as 2026 and 12
        assert outcome.accepted and outcome.value.years == [2026]
        assert baseline.list_baseline(world.actors["sysadmin"], 2026)[1][0].children == 12
    else:
        assert not outcome.accepted


def test_a_baseline_correction_past_nine_digits_is_refused(world: World) -> None:
    outcome = attempt(lambda: baseline.correct_baseline(world.actors["sysadmin"], "410122", 2026, 2**40, None))
    assert not outcome.accepted


# --- the township list ----------------------------------------------------------------------------

TOWNSHIP_BAD = _bad_files(["代码", "名称"])
TOWNSHIP_BAD.pop("a-million-rows")  # a CSV only: the .xlsx cases are refused as not text anyway
TOWNSHIP_NAMES = {
    "html": "<script>alert(1)</script>镇",
    "sql": "'; DROP TABLE region; --",
    "formula": '=HYPERLINK("x")',
    "emoji": "😀镇",
    "nul": "官\x00渡镇",
    "bell": "官\x07渡镇",
    "rlo": "\u202e镇渡官",
    "long": "镇" * 65,
}


@pytest.mark.parametrize("case", list(TOWNSHIP_BAD))
def test_the_township_import_refuses_a_broken_file(world: World, case: str) -> None:
    _name, data = TOWNSHIP_BAD[case]
    outcome = attempt(lambda: regions.import_townships(world.actors["sysadmin"], data))
    assert not outcome.accepted or not outcome.value.ok, "a broken file was imported"


@pytest.mark.parametrize("case", list(TOWNSHIP_NAMES))
def test_a_township_name_is_refused_or_stored_exactly(world: World, case: str) -> None:
    name = TOWNSHIP_NAMES[case]
    code = f"41012290{list(TOWNSHIP_NAMES).index(case)}"
    data = f"代码,名称\n{code},{name}\n".encode()
    outcome = attempt(lambda: regions.import_townships(world.actors["sysadmin"], data))
    with db.session_scope() as session:
        stored = session.get(Region, code)
    if case in ("nul", "bell", "rlo", "long"):
        assert not outcome.accepted or not outcome.value.ok
        assert stored is None
    else:
        assert outcome.accepted and outcome.value.ok
        assert stored is not None and stored.name == name


def test_a_township_code_in_full_width_digits_is_refused_by_its_line(world: World) -> None:
    data = "代码,名称\n４１０１２２１０９,新镇\n".encode()
    outcome = attempt(lambda: regions.import_townships(world.actors["sysadmin"], data))
    assert outcome.accepted and not outcome.value.ok
    assert "9 位数字" in outcome.value.errors[0]


# --- evidence files -------------------------------------------------------------------------------


def _evidence_files() -> list[Path]:
    folder = evidence.evidence_dir()
    return sorted(folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("name", list(PATHS))
def test_a_hostile_file_name_is_kept_for_display_only(world: World, name: str) -> None:
    before = _evidence_files()
    row = evidence.attach(world.actors["clerk"], world.pending_request, name, PDF)
    assert row.filename == uploads.display_name(name, "证明材料.pdf")
    assert "/" not in row.filename and "\\" not in row.filename and "\x00" not in row.filename
    assert len(row.filename) <= 200
    added = [p for p in _evidence_files() if p not in before]
    assert [p.name for p in added] == [row.stored_name]
    assert added[0].parent == evidence.evidence_dir() and added[0].read_bytes() == PDF
    with db.session_scope() as session:
        assert session.get(EvidenceFile, row.id) is not None


BAD_EVIDENCE = {
    "empty": b"",
    "random": os.urandom(2048),
    "html": b"<html><script>alert(1)</script></html>",
    "exe": b"MZ\x90\x00" + os.urandom(256),
    "zip-not-office": _zip({"a.txt": b"x"}),
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
}


@pytest.mark.parametrize("case", list(BAD_EVIDENCE))
def test_a_refused_evidence_file_leaves_nothing_behind(world: World, case: str) -> None:
    before = _evidence_files()
    outcome = attempt(
        lambda: evidence.attach(world.actors["clerk"], world.pending_request, "证明.pdf", BAD_EVIDENCE[case])
    )
    assert not outcome.accepted
    assert _evidence_files() == before


def test_an_evidence_file_over_the_limit_is_refused(world: World) -> None:
    data = PDF + b"\x00" * (get_settings().evidence_max_mb * 1024 * 1024)
    before = _evidence_files()
    outcome = attempt(lambda: evidence.attach(world.actors["clerk"], world.pending_request, "大.pdf", data))
    assert not outcome.accepted and _evidence_files() == before


def test_a_file_refused_with_others_in_one_submission_removes_those_written(world: World) -> None:
    """Proof of a dispute with a good file and a bad one: nothing stays, on disk or in the tables."""
    from portal.services import problems

    before = _evidence_files()
    outcome = attempt(
        lambda: problems.file_proof(
            world.actors["clerk"], world.dispute, "两份佐证", [("好.png", PNG), ("坏.pdf", b"not a pdf")]
        )
    )
    assert not outcome.accepted and _evidence_files() == before


def test_no_upload_writes_a_temporary_file(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Uploads are read from memory: nothing goes through a temporary file, refused or not."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    files = [*CHILD_BAD.values(), ("基数.csv", b"\xff\xfe")]
    for name, data in files:
        attempt(lambda name=name, data=data: child_import.import_children(world.actors["clerk"], name, data))
        attempt(lambda name=name, data=data: baseline.import_baseline(world.actors["sysadmin"], name, data))
        attempt(lambda data=data: regions.import_townships(world.actors["sysadmin"], data))
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_partial_evidence_file(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is written under a temporary name and renamed; if that fails (a full disk), the
    temporary file is deleted and nothing is recorded."""
    before = _evidence_files()

    def full_disk(self: Path, target: Any) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", full_disk)
    with pytest.raises(OSError):
        evidence.attach(world.actors["clerk"], world.pending_request, "证明.pdf", PDF)
    monkeypatch.undo()
    assert _evidence_files() == before


def test_the_baseline_and_township_imports_refuse_a_file_over_their_limit(world: World) -> None:
    big = b"x" * (5 * 1024 * 1024 + 1)
    _refused_quickly(lambda: baseline.import_baseline(world.actors["sysadmin"], "基数.csv", b"county,year\n" + big))
    _refused_quickly(lambda: regions.import_townships(world.actors["sysadmin"], "代码,名称\n".encode() + big))
