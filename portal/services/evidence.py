"""Evidence files of requests: images, PDF and Office files, typed by their content.

A file is refused when it is empty, too large, or its first bytes are not those of an allowed
type, whatever its name says. Accepted files are stored under a generated name in
``var/evidence`` (outside any folder the web server serves), with their SHA-256; they are read
back only by users who may see the request, and each download is audited.
"""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session, col, select

from portal.auth.actor import Actor
from portal.auth.policy import in_scope
from portal.auth.roles import Duty
from portal.data import db
from portal.data.models import EvidenceFile, Request
from portal.services import audit, uploads
from portal.services.errors import NotFound, ServiceError
from portal.settings import VAR_DIR, get_settings

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OOXML_TYPES = {
    "word/": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"),
    "xl/": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "ppt/": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "pptx"),
}
ALLOWED_LABEL = "图片（JPG、PNG、GIF、WEBP）、PDF 或 Office 文档（Word、Excel、PowerPoint）"


def evidence_dir() -> Path:
    return Path(get_settings().evidence_dir or VAR_DIR / "evidence")


def sniff(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the file's own bytes, or None if not an allowed type."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif", "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    if data.startswith(b"%PDF-"):
        return "application/pdf", "pdf"
    if data.startswith(OLE_MAGIC):
        return "application/x-ole-storage", "ole"  # legacy .doc / .xls / .ppt
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" in names:
            for prefix, kind in OOXML_TYPES.items():
                if any(name.startswith(prefix) for name in names):
                    return kind
    return None


def _may_touch(actor: Actor, request: Request) -> bool:
    """The submitting institution's staff and the reviewers in scope."""
    if not in_scope(actor, request):
        return False
    own = request.institution_id is not None and actor.institution_id == request.institution_id
    return own or actor.duty is Duty.REVIEWER


def check(filename: str, data: bytes, limit_mb: int | None = None) -> tuple[str, str]:
    """Refuse an empty, oversize (over ``limit_mb``, default the evidence limit) or disallowed
    file; return its (content type, extension)."""
    limit_mb = limit_mb if limit_mb is not None else get_settings().evidence_max_mb
    filename = uploads.display_name(filename)  # messages quote the name as shown, never raw bytes
    if not data:
        raise ServiceError(f"文件“{filename}”为空。")
    if len(data) > limit_mb * 1024 * 1024:
        raise ServiceError(f"文件“{filename}”超过 {limit_mb} MB，请压缩后再上传。")
    kind = sniff(data)
    if kind is None:
        raise ServiceError(f"文件“{filename}”的类型不支持（按文件内容判断，而非文件名）：只接受{ALLOWED_LABEL}。")
    return kind


@dataclass(frozen=True)
class SavedFile:
    """A checked file written under a generated name (what the file tables record of it)."""

    filename: str  # the name the user gave, for display only
    stored_name: str
    content_type: str
    size: int
    sha256: str


def save_bytes(
    filename: str, data: bytes, written: list[Path], default_name: str = "证明材料", limit_mb: int | None = None
) -> SavedFile:
    """Check a file and write it under a generated name (atomically); the path goes into
    ``written`` so that ``removed_on_failure`` can take it away if the transaction fails."""
    content_type, extension = check(filename, data, limit_mb)
    folder = evidence_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.bin"
    temporary = path.with_suffix(".part")
    try:
        temporary.write_bytes(data)
        temporary.replace(path)
    finally:  # a failed write (a full disk) leaves no partial file behind
        temporary.unlink(missing_ok=True)
    written.append(path)
    return SavedFile(
        filename=uploads.display_name(filename, f"{default_name}.{extension}"),
        stored_name=path.name,
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def load_bytes(stored_name: str, sha256: str) -> bytes:
    """A stored file's bytes, refused if they no longer match the checksum taken at upload."""
    data = (evidence_dir() / stored_name).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ServiceError("文件校验失败：存储的文件与上传时不一致，请联系系统管理员。")
    return data


def store(
    session: Session, actor: Actor, request: Request, filename: str, data: bytes, written: list[Path]
) -> EvidenceFile:
    """Check and store one file with a request inside the caller's transaction."""
    saved = save_bytes(filename, data, written)
    row = EvidenceFile(request_id=request.id or 0, uploaded_by=actor.user_id, **saved.__dict__)
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "evidence_upload",
        object_type="request",
        object_id=request.id or "",
        detail=f"{saved.filename}（{saved.size} 字节，SHA-256 {saved.sha256[:16]}…）",
    )
    return row


@contextmanager
def removed_on_failure() -> Iterator[list[Path]]:
    """Wrap a unit of work that stores files: if it fails (commit included), the files go."""
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def attach(actor: Actor, request_id: int, filename: str, data: bytes) -> EvidenceFile:
    """Store one evidence file with an existing request. Nothing is stored when it is refused."""
    check(filename, data)
    with removed_on_failure() as written, db.session_scope(write=True) as session:
        request = session.get(Request, request_id)
        if request is None or not _may_touch(actor, request):
            raise NotFound("申请不存在，或不在您的管辖范围内。")
        return store(session, actor, request, filename, data, written)


@dataclass(frozen=True)
class EvidenceContent:
    filename: str
    content_type: str
    data: bytes


def list_files(actor: Actor, request_id: int) -> list[EvidenceFile]:
    with db.session_scope() as session:
        request = session.get(Request, request_id)
        if request is None or not in_scope(actor, request):
            raise NotFound("申请不存在，或不在您的管辖范围内。")
        return list(
            session.exec(
                select(EvidenceFile).where(EvidenceFile.request_id == request_id).order_by(col(EvidenceFile.id))
            ).all()
        )


def read(actor: Actor, evidence_id: int) -> EvidenceContent:
    """The file's bytes, for a user who may see its request; the download is audited."""
    with db.session_scope(write=True) as session:
        row = session.get(EvidenceFile, evidence_id)
        request = session.get(Request, row.request_id) if row else None
        if row is None or request is None or not in_scope(actor, request):
            raise NotFound("文件不存在，或不在您的管辖范围内。")
        data = load_bytes(row.stored_name, row.sha256)
        audit.record(
            session, actor, "evidence_download", object_type="request", object_id=row.request_id, detail=row.filename
        )
        return EvidenceContent(row.filename, row.content_type, data)
