"""Broken and hostile files at the uploads of issue 8: a month's progress evidence of a project
and a notice's attachments. Each bad file (empty, oversize, a program renamed .pdf, a truncated
PDF header, an Office file with macros, a zip bomb dressed as .xlsx or .docx) is refused quickly
with a Chinese message, stores nothing and leaves no file on disk; a good file under a hostile
name (folders, control and direction characters, 300 characters) is kept under a generated name,
its name only shown: no folders, no control characters, at most 200 characters, extension kept."""

from __future__ import annotations

import io
import os
import struct
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from portal.data import db
from portal.data.models import NoticeAttachment, ProjectProgress
from portal.services import audit, evidence, notices, projects, uploads, workflow
from portal.services.projects import ProjectInput
from portal.settings import get_settings
from tests.hostile.catalogue import PATHS
from tests.hostile.conftest import PDF, PNG, TODAY, World
from tests.hostile.outcome import attempt

MONTH = TODAY.strftime("%Y-%m")


def _approved_project(world: World) -> int:
    """An approved project of 中牟县 (its monthly progress takes the evidence), made once per world."""
    found = world.extras.get("issue8-uploads-project")
    if found is None:
        county = world.actors["county"]
        found = projects.save_project(county, ProjectInput("佐证材料测试项目", "county", TODAY.year, "500000.00"))
        workflow.decide(world.actors["city"], projects.submit_project(county, found), "approve")
        world.extras["issue8-uploads-project"] = found
    return int(found)


def _progress(world: World, name: str, data: bytes, spent: str = "0") -> projects.ProgressEntry:
    return projects.update_progress(
        world.actors["county"], _approved_project(world), spent=spent, percent="0", evidence_file=(name, data)
    )


def _notice(world: World, name: str, data: bytes) -> int:
    return notices.publish_notice(world.actors["province"], "关于报送项目材料的通知", "见附件。", [(name, data)])


UPLOADS: dict[str, Callable[[World, str, bytes], Any]] = {"progress": _progress, "notice": _notice}


def _files_on_disk() -> list[Path]:
    folder = evidence.evidence_dir()
    return sorted(folder.iterdir()) if folder.exists() else []


# --- files ------------------------------------------------------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


XLSX_PARTS = {"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"}
DOCX_PARTS = {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"}


def _bomb(parts: dict[str, bytes], member: str, size_mb: int) -> bytes:
    """An Office-shaped archive whose ``member`` expands to ``size_mb`` MB of zeros (about 1,000:1)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
        with archive.open(member, "w", force_zip64=True) as stream:
            chunk = b"\x00" * (1024 * 1024)
            for _ in range(size_mb):
                stream.write(chunk)
    return buffer.getvalue()


def _lying(data: bytes, member: bytes) -> bytes:
    """The archive with ``member``'s declared uncompressed size rewritten to 1,000 bytes."""
    out = bytearray(data)
    for signature, size_offset, name_length_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        start = 0
        while (found := out.find(signature, start)) != -1:
            length = struct.unpack_from("<H", out, found + name_length_at)[0]
            if bytes(out[found + name_at : found + name_at + length]) == member:
                if struct.unpack_from("<I", out, found + size_offset)[0] != 0xFFFFFFFF:  # not a zip64 placeholder
                    struct.pack_into("<I", out, found + size_offset, 1000)
            start = found + 4
    return bytes(out)


@pytest.fixture(scope="module")
def bad_files() -> dict[str, tuple[str, bytes]]:
    """(file name, bytes) of every file both uploads must refuse."""
    sheet = "xl/worksheets/sheet1.xml"
    dense = _bomb(XLSX_PARTS, sheet, 5)  # 5 MB from a few kilobytes: refused on its ratio
    limit = max(get_settings().evidence_max_mb, get_settings().notice_attachment_max_mb)
    return {
        "empty": ("进度报告.pdf", b""),
        "oversize": ("进度报告.pdf", PDF + b"\x00" * (limit * 1024 * 1024)),
        "exe-renamed-pdf": ("进度报告.pdf", b"MZ\x90\x00\x03\x00\x00\x00" + os.urandom(512)),
        "exe-with-a-hostile-name": ("..\\报告\x1b[31m\u202e\ud800.pdf", b"MZ\x90\x00" + os.urandom(64)),
        "empty-with-a-hostile-name": ("../报告\x00\r\n.pdf", b""),
        "truncated-pdf-header": ("进度报告.pdf", b"%PD"),
        "pdf-header-without-version": ("进度报告.pdf", b"%PDF"),
        "random": ("进度报告.pdf", os.urandom(2048)),
        "html": ("进度报告.pdf", b"<html><script>alert(1)</script></html>"),
        "svg": ("照片.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
        "plain-zip": ("材料.docx", _zip({"readme.txt": b"hello"})),
        "truncated-xlsx": ("名单.xlsx", _zip({**XLSX_PARTS, sheet: b"<worksheet/>" * 200})[:300]),
        "xlsx-without-workbook": ("名单.xlsx", _zip({"[Content_Types].xml": b"<Types/>", "xl/styles.xml": b"<s/>"})),
        "macro-xlsx": ("名单.xlsx", _zip({**XLSX_PARTS, "xl/vbaProject.bin": b"\xd0\xcf\x11\xe0"})),
        "macro-docx": ("说明.docx", _zip({**DOCX_PARTS, "word/vbaProject.bin": b"\xd0\xcf\x11\xe0"})),
        "bomb-xlsx-declared": ("名单.xlsx", _bomb(XLSX_PARTS, sheet, 120)),  # past the 100 MB unpacked
        "bomb-xlsx-ratio": ("名单.xlsx", dense),
        "bomb-xlsx-lying": ("名单.xlsx", _lying(dense, sheet.encode())),
        "bomb-docx-ratio": ("说明.docx", _bomb(DOCX_PARTS, "word/media/image1.png", 5)),
    }


BAD_PG = ["exe-renamed-pdf", "macro-docx", "bomb-xlsx-ratio"]


BAD = [
    "empty",
    "oversize",
    "exe-renamed-pdf",
    "exe-with-a-hostile-name",
    "empty-with-a-hostile-name",
    "truncated-pdf-header",
    "pdf-header-without-version",
    "random",
    "html",
    "svg",
    "plain-zip",
    "truncated-xlsx",
    "xlsx-without-workbook",
    "macro-xlsx",
    "macro-docx",
    "bomb-xlsx-declared",
    "bomb-xlsx-ratio",
    "bomb-xlsx-lying",
    "bomb-docx-ratio",
]


def _bad_cases() -> list[Any]:
    params = [pytest.param("sqlite", upload, case, id=f"sqlite-{upload}-{case}") for upload in UPLOADS for case in BAD]
    params += [
        pytest.param("postgresql", upload, case, id=f"postgresql-{upload}-{case}", marks=pytest.mark.postgres)
        for upload in UPLOADS
        for case in BAD_PG
    ]
    return params


@pytest.mark.parametrize(("world", "upload", "case"), _bad_cases(), indirect=["world"])
def test_a_bad_file_is_refused_quickly_and_leaves_nothing(
    world: World, bad_files: dict[str, tuple[str, bytes]], upload: str, case: str
) -> None:
    name, data = bad_files[case]
    _approved_project(world)  # made before the database's fingerprint
    on_disk = _files_on_disk()
    started = time.monotonic()
    outcome = attempt(lambda: UPLOADS[upload](world, name, data))
    took = time.monotonic() - started
    assert not outcome.accepted, "a bad file was accepted"
    assert took < 5.0, f"took {took:.1f} s to refuse"
    assert uploads.display_name(name) in str(outcome.error)  # named as shown (attempt: no control characters)
    assert _files_on_disk() == on_disk


# --- a good file under a hostile name -----------------------------------------------------------------------

LONG_DOTTED = ("第2.1节 项目进展 " * 40)[:296] + ".pdf"  # 300 characters with dots inside
# id -> (the name sent, the name a month's evidence keeps, the name a notice keeps or None: refused)
NAMES: dict[str, tuple[str, str, str | None]] = {
    "path-traversal": (PATHS["path-traversal"], "passwd", "passwd.pdf"),
    "path-windows": (PATHS["path-windows"], "win.ini", None),  # a .ini that is a PDF
    "path-nul": (PATHS["path-nul"], "evil.pdf_.png", None),  # a .png that is a PDF
    "path-absolute": (PATHS["path-absolute"], "shadow", "shadow.pdf"),
    "path-long": (PATHS["path-long"], "a" * 196 + ".pdf", "a" * 196 + ".pdf"),
    "path-empty": (PATHS["path-empty"], "项目进展佐证.pdf", "附件.pdf"),
    "passwd-pdf": ("../../etc/passwd.pdf", "passwd.pdf", "passwd.pdf"),
    "dots": ("..", "项目进展佐证.pdf", "附件.pdf"),
    "control": ("报告\x07\x1b[31m.pdf", "报告__[31m.pdf", "报告__[31m.pdf"),
    "crlf": ("报告\r\nSet-Cookie: x=1.pdf", "报告__Set-Cookie: x=1.pdf", "报告__Set-Cookie: x=1.pdf"),
    "rlo-exe": ("\u202efdp.exe", "_fdp.exe", None),  # shown as "exe.pdf" without the check
    "lone-surrogate": ("报告\ud800.pdf", "报告_.pdf", "报告_.pdf"),
    "long-300": ("长" * 296 + ".pdf", "长" * 196 + ".pdf", "长" * 196 + ".pdf"),
    "long-300-dotted": (LONG_DOTTED, LONG_DOTTED[:196] + ".pdf", LONG_DOTTED[:196] + ".pdf"),
}
NAMES_PG = ["path-nul", "control", "long-300"]


def _name_cases() -> list[Any]:
    params = [pytest.param("sqlite", upload, key, id=f"sqlite-{upload}-{key}") for upload in UPLOADS for key in NAMES]
    params += [
        pytest.param("postgresql", upload, key, id=f"postgresql-{upload}-{key}", marks=pytest.mark.postgres)
        for upload in UPLOADS
        for key in NAMES_PG
    ]
    return params


@pytest.mark.parametrize(("world", "upload", "key"), _name_cases(), indirect=["world"])
def test_a_hostile_file_name_is_kept_for_display_only(world: World, upload: str, key: str) -> None:
    sent, kept_by_progress, kept_by_notice = NAMES[key]
    expected = kept_by_progress if upload == "progress" else kept_by_notice
    _approved_project(world)
    on_disk = _files_on_disk()
    outcome = attempt(lambda: UPLOADS[upload](world, sent, PDF))
    if expected is None:
        assert not outcome.accepted and "扩展名" in str(outcome.error)
        assert _files_on_disk() == on_disk
        return
    assert outcome.accepted, outcome.error
    if upload == "progress":
        with db.session_scope() as session:
            row = session.get(ProjectProgress, _row_id(world))
            assert row is not None
            kept, stored = row.evidence_name, row.evidence_stored
        content = projects.read_progress_evidence(world.actors["city"], _approved_project(world), MONTH)
    else:
        with db.session_scope() as session:
            attachment = session.exec(select(NoticeAttachment).where(NoticeAttachment.notice_id == outcome.value)).one()
            kept, stored = attachment.filename, attachment.stored_name
        content = notices.read_attachment(world.actors["clerk"], attachment.id or 0)
    assert kept == expected and len(kept) <= 200
    assert content.filename == kept and content.data == PDF
    added = [p for p in _files_on_disk() if p not in on_disk]
    assert [p.name for p in added] == [stored]  # under a generated name, in the evidence folder
    assert added[0].parent == evidence.evidence_dir() and added[0].read_bytes() == PDF


def _row_id(world: World) -> int:
    with db.session_scope() as session:
        row = session.exec(
            select(ProjectProgress).where(
                ProjectProgress.project_id == _approved_project(world), ProjectProgress.month == MONTH
            )
        ).one()
        return int(row.id or 0)


# --- a refusal or a failure after the file was checked ------------------------------------------------------


def test_progress_refused_on_its_figures_keeps_no_file(world: World) -> None:
    """The file is good, the spending is above the allocation: refused, nothing on disk."""
    _approved_project(world)
    on_disk = _files_on_disk()
    outcome = attempt(lambda: _progress(world, "进度报告.pdf", PDF, spent="500000.01"))
    assert not outcome.accepted and "超过项目安排金额" in str(outcome.error)
    assert _files_on_disk() == on_disk


def test_a_failure_after_the_file_is_written_leaves_none_on_disk(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_audit_disk(*args: object, **kwargs: object) -> None:
        assert len(_files_on_disk()) == len(on_disk) + 1  # written, then taken away
        raise OSError(28, "No space left on device")

    on_disk = _files_on_disk()
    monkeypatch.setattr(audit, "record", full_audit_disk)
    for upload, name, data in (("progress", "照片.png", PNG), ("notice", "照片.png", PNG)):
        with pytest.raises(OSError):
            UPLOADS[upload](world, name, data)
        assert _files_on_disk() == on_disk, upload


def test_a_real_office_document_is_still_accepted(world: World) -> None:
    """The archive checks refuse bombs and macros, not an ordinary workbook or document."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["机构", "金额"])
    sheet.append(["中牟县实验幼儿园", 1200])
    buffer = io.BytesIO()
    book.save(buffer)
    for upload in UPLOADS:
        outcome = attempt(lambda upload=upload: UPLOADS[upload](world, "支出明细.xlsx", buffer.getvalue()))
        assert outcome.accepted, outcome.error
