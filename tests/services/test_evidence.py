"""Evidence files: typed by content, size-limited, stored under generated names, read in scope."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from sqlmodel import select

from portal.auth.actor import Actor
from portal.data import db
from portal.data.models import AuditLog, EvidenceFile
from portal.services import evidence, registry
from portal.services.errors import NotFound, ServiceError
from portal.settings import get_settings
from tests.services.test_registry_workflow import BASE

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 64


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


def stored_files() -> list[Path]:
    folder = Path(get_settings().evidence_dir)
    return sorted(folder.glob("*")) if folder.exists() else []


@pytest.fixture
def request_id(actors: dict[str, Actor]) -> int:
    return registry.submit_section(actors["clerk"], "base", BASE).id or 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (docx(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ],
)
def test_allowed_files_are_stored_with_their_hash(actors, request_id: int, data: bytes, content_type: str) -> None:  # type: ignore[no-untyped-def]
    row = evidence.attach(actors["clerk"], request_id, "../../许可证扫描件.pdf", data)
    assert (row.filename, row.content_type, row.size) == ("许可证扫描件.pdf", content_type, len(data))
    assert row.sha256 == hashlib.sha256(data).hexdigest()
    [path] = stored_files()
    assert path.name == row.stored_name and "许可证" not in path.name and path.read_bytes() == data
    content = evidence.read(actors["county"], row.id or 0)
    assert content.data == data
    with db.session_scope() as session:
        actions = [a.action for a in session.exec(select(AuditLog)).all()]
        assert "evidence_upload" in actions and "evidence_download" in actions


def test_an_executable_renamed_to_pdf_is_refused(actors, request_id: int) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ServiceError, match="按文件内容判断"):
        evidence.attach(actors["clerk"], request_id, "证明.pdf", ELF)
    with pytest.raises(ServiceError, match="类型不支持"):
        evidence.attach(actors["clerk"], request_id, "证明.docx", b"PK\x03\x04not really a zip")
    assert stored_files() == []
    assert evidence.list_files(actors["clerk"], request_id) == []


def test_an_oversize_or_empty_file_is_refused(actors, request_id: int, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from portal.settings import reset_settings_cache

    monkeypatch.setenv("PORTAL_EVIDENCE_MAX_MB", "1")
    reset_settings_cache()
    with pytest.raises(ServiceError, match="超过 1 MB"):
        evidence.attach(actors["clerk"], request_id, "大文件.pdf", PDF + b"0" * (1024 * 1024))
    with pytest.raises(ServiceError, match="为空"):
        evidence.attach(actors["clerk"], request_id, "空.pdf", b"")
    assert stored_files() == []
    with db.session_scope() as session:
        assert session.exec(select(EvidenceFile)).all() == []


def test_files_are_read_only_in_scope(actors, request_id: int) -> None:  # type: ignore[no-untyped-def]
    from portal.auth.actor import SYSTEM_ACTOR
    from portal.auth.roles import Duty, Level
    from portal.services.accounts import NewUser, create_user
    from tests.conftest import DEMO_PASSWORD, actor_for

    row = evidence.attach(actors["clerk"], request_id, "证明.pdf", PDF)
    create_user(
        SYSTEM_ACTOR,
        NewUser("lk-reviewer", "兰考审核员", Level.COUNTY, Duty.REVIEWER, DEMO_PASSWORD, region_code="410225"),
    )
    lankao = actor_for("lk-reviewer")
    with pytest.raises(NotFound):
        evidence.read(lankao, row.id or 0)
    with pytest.raises(NotFound):
        evidence.attach(lankao, request_id, "别县.pdf", PDF)
    assert len(stored_files()) == 1


def test_submission_with_a_refused_file_submits_nothing(actors: dict[str, Actor]) -> None:
    from portal.data.models import Request

    with pytest.raises(ServiceError, match="类型不支持"):
        registry.submit_section(actors["clerk"], "base", BASE, files=[("许可证.pdf", PDF), ("病毒.pdf", ELF)])
    with db.session_scope() as session:
        assert session.exec(select(Request)).all() == []
    assert stored_files() == []
    request = registry.submit_section(actors["clerk"], "base", BASE, files=[("许可证.pdf", PDF), ("园舍.png", PNG)])
    assert [f.filename for f in evidence.list_files(actors["township"], request.id or 0)] == ["许可证.pdf", "园舍.png"]
    assert len(stored_files()) == 2
