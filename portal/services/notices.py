"""通知公告 (R7.1, §22): a bureau publishes notices, with attachments, to every level below it in
its region; the readers see the unread ones first; the sender sees who has read them.

Who reaches whom:
- a province notice reaches every city, county, township and institution account of the province
  (not the province's own other accounts, not another province);
- a city notice the city's counties, townships and institutions; a county notice the county's
  townships and institutions; a ministry notice every account below the ministry.

A notice row carries the publisher's level, region and the scope codes of that region
(``province_code`` / ``city_code`` / ``county_code``), so that a reader's list is one indexed query
over those columns, and the read receipts are a COUNT over the users in that scope (the "addressed
accounts": active users at the levels below, at the time of asking), outer-joined to the receipts.

Attachments: PDF, images, Word, Excel and WPS documents, typed by their content (the name's
extension must agree with it); an Office file's archive is checked to be a real document and not
a "zip bomb". They are stored like evidence (``evidence.save_bytes``): nothing is left on disk when
the notice is refused or its transaction fails. Each download is audited.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, or_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, func, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, may, require
from portal.auth.roles import LEVEL_LABELS, Duty, Level, level_rank, role_label
from portal.clock import LOCAL_TZ, utcnow
from portal.data import db
from portal.data.models import Institution, Notice, NoticeAttachment, NoticeRead, Region, User
from portal.data.text import without_bad_characters
from portal.services import audit, evidence, uploads
from portal.services.errors import NotFound, ServiceError, ValidationError
from portal.services.inputs import check_text
from portal.services.regions import full_region_name
from portal.settings import get_settings

MINISTRY_REGION = "00"  # the region code of the ministry's notices and support contact
MINISTRY_NAME = "教育部"
TITLE_MAX = 200
BODY_MAX = 10_000
MAX_ATTACHMENTS = 5

# The levels a notice from each level reaches (the receipts are counted per level).
ADDRESSED_LEVELS: dict[Level, tuple[Level, ...]] = {
    Level.MINISTRY: (Level.PROVINCE, Level.CITY, Level.COUNTY, Level.TOWNSHIP, Level.INSTITUTION),
    Level.PROVINCE: (Level.CITY, Level.COUNTY, Level.TOWNSHIP, Level.INSTITUTION),
    Level.CITY: (Level.COUNTY, Level.TOWNSHIP, Level.INSTITUTION),
    Level.COUNTY: (Level.TOWNSHIP, Level.INSTITUTION),
}
AUDIENCE_LABELS: dict[Level, str] = {
    Level.PROVINCE: "省级教育行政部门",
    Level.CITY: "各地市教育行政部门",
    Level.COUNTY: "各县区教育行政部门",
    Level.TOWNSHIP: "各乡镇中心园",
    Level.INSTITUTION: "各幼儿园",
}

# --- attachments ---------------------------------------------------------------------------------

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"  # evidence only
OLE = "application/x-ole-storage"
# Content type found in the bytes -> the extensions a file of that content may carry.
ALLOWED_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "application/pdf": ("pdf",),
    "image/png": ("png",),
    "image/jpeg": ("jpg", "jpeg"),
    "image/gif": ("gif",),
    "image/webp": ("webp",),
    OLE: ("doc", "xls", "wps", "et"),  # Word 97-2003, Excel 97-2003, WPS 文字 and WPS 表格
    DOCX: ("docx", "wps"),  # WPS can save its .wps in the Word format
    XLSX: ("xlsx", "et"),
}
KIND_LABELS: dict[str, str] = {
    "application/pdf": "PDF 文件",
    "image/png": "PNG 图片",
    "image/jpeg": "JPG 图片",
    "image/gif": "GIF 图片",
    "image/webp": "WEBP 图片",
    OLE: "Word/Excel/WPS 文档（97-2003 格式）",
    DOCX: "Word 文档",
    XLSX: "Excel 表格",
    PPTX: "PowerPoint 演示文稿",
}
# The content type a download is served with (the legacy formats by their extension).
DOWNLOAD_TYPES: dict[str, str] = {
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "wps": "application/octet-stream",
    "et": "application/octet-stream",
}
ALLOWED_LABEL = (
    "PDF、图片（JPG、PNG、GIF、WEBP）、Word 文档（.doc、.docx）、Excel 表格（.xls、.xlsx）或 WPS 文档（.wps、.et）"
)
# An Office document's archive: at most this much once unpacked, this many members, and a member
# above the floor may not compress more than the ratio (real documents compress 5-30 times).
UNPACKED_MAX_BYTES = 100 * 1024 * 1024
UNPACKED_MAX_MEMBERS = 2_000
RATIO_FLOOR = uploads.RATIO_FLOOR
MAX_RATIO = uploads.UNZIP_MAX_RATIO
# The part an Office archive of each kind must hold (the archive check also serves evidence files).
OOXML_PARTS = {DOCX: "word/document.xml", XLSX: "xl/workbook.xml", PPTX: "ppt/presentation.xml"}


@dataclass(frozen=True)
class CheckedFile:
    filename: str  # the name shown and offered at download (no folders, extension matching the content)
    content_type: str


def _bomb(name: str) -> ServiceError:
    return ServiceError(f"附件“{name}”解压后过大或压缩比异常（疑似“压缩炸弹”），已拒绝：请上传普通的 Office 文档。")


def _damaged(name: str, label: str) -> ServiceError:
    return ServiceError(f"附件“{name}”不是有效的{label}（文件已损坏或不完整）：请用 Office 或 WPS 重新保存后再上传。")


def check_office_archive(name: str, data: bytes, content_type: str) -> None:
    """A .docx/.xlsx is a zip archive: refuse one that is damaged, not a real document of its kind,
    holds macros, or would expand past the limit (declared sizes and ratios first, then a streaming
    read that stops at the budget, which catches a lying header)."""
    label = KIND_LABELS[content_type]
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
        raise _damaged(name, label) from exc
    names = {info.filename for info in infos}
    if "[Content_Types].xml" not in names or OOXML_PARTS[content_type] not in names:
        raise _damaged(name, label)
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise ServiceError(f"附件“{name}”含有宏（VBA 代码），已拒绝：请另存为不含宏的文档后再上传。")
    if len(infos) > UNPACKED_MAX_MEMBERS or sum(info.file_size for info in infos) > UNPACKED_MAX_BYTES:
        raise _bomb(name)
    for info in infos:
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _bomb(name)
    budget = UNPACKED_MAX_BYTES
    try:
        for info in infos:
            with archive.open(info) as member:
                while chunk := member.read(1024 * 1024):
                    budget -= len(chunk)
                    if budget < 0:
                        raise _bomb(name)
    except ServiceError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, RuntimeError, NotImplementedError) as exc:
        raise _damaged(name, label) from exc


def kept_name(filename: str | None, default: str) -> str:
    """The name shown and kept for an upload (``uploads.display_name``: no folders, no control or
    direction characters, 200 characters at most); a name cut to that length keeps its extension,
    so that a long "….pdf" is still a .pdf, not refused for an extension cut in half."""
    name = uploads.display_name(filename, default)
    whole = PurePosixPath(without_bad_characters(str(filename or "").replace("\\", "/"), "_")).name.strip()
    suffix = PurePosixPath(whole).suffix
    if len(whole) <= uploads.MAX_NAME or not suffix or len(suffix) > 10 or name.endswith(suffix):
        return name
    return name[: uploads.MAX_NAME - len(suffix)] + suffix


def check_attachment(filename: str, data: bytes) -> CheckedFile:
    """Refuse an empty, oversize or disallowed file (by its content, and an extension that does
    not agree with the content); return the name to keep and the content type to serve."""
    name = kept_name(filename, "附件")
    limit_mb = get_settings().notice_attachment_max_mb
    if not data:
        raise ServiceError(f"附件“{name}”是空文件。")
    if len(data) > limit_mb * 1024 * 1024:
        raise ServiceError(f"附件“{name}”超过 {limit_mb} MB，请压缩或拆分后再上传。")
    kind = evidence.sniff(data)
    if kind is None or kind[0] not in ALLOWED_EXTENSIONS:
        raise ServiceError(
            f"附件“{name}”的类型不支持（按文件内容判断，而非扩展名）：只接受{ALLOWED_LABEL}；"
            "不接受压缩包、可执行程序等其他文件。"
        )
    content_type = kind[0]
    if content_type in OOXML_PARTS:
        check_office_archive(name, data, content_type)
    extensions = ALLOWED_EXTENSIONS[content_type]
    suffix = PurePosixPath(name).suffix.lower().lstrip(".")
    if not suffix:
        extension = extensions[0]
        name = f"{name[: uploads.MAX_NAME - len(extension) - 1]}.{extension}"
    elif suffix not in extensions:
        allowed = "、".join(f".{e}" for e in extensions)
        raise ServiceError(
            f"附件“{name}”的扩展名 .{suffix} 与文件内容（{KIND_LABELS[content_type]}）不符，"
            f"这类文件的扩展名应为 {allowed}：请确认文件后重新上传。"
        )
    else:
        extension = suffix
    return CheckedFile(name, DOWNLOAD_TYPES.get(extension, content_type) if content_type == OLE else content_type)


# --- scope ---------------------------------------------------------------------------------------


def own_region(actor: Actor) -> str | None:
    """The region code of the actor's bureau as notices and support contacts record it."""
    if actor.level is Level.MINISTRY:
        return MINISTRY_REGION
    return actor.region_code if actor.level in ADDRESSED_LEVELS else None


def _visible(actor: Actor) -> ColumnElement[bool]:
    """The notices addressed to the actor: from a level above whose region holds the actor's
    (one condition per level above, each on an indexed scope column), not withdrawn."""
    rank = level_rank(actor.level)
    conditions: list[ColumnElement[bool]] = []
    if rank > level_rank(Level.MINISTRY):
        conditions.append(col(Notice.level) == Level.MINISTRY.value)
    if rank > level_rank(Level.PROVINCE) and actor.province_code:
        conditions.append(
            and_(col(Notice.level) == Level.PROVINCE.value, col(Notice.province_code) == actor.province_code)
        )
    if rank > level_rank(Level.CITY) and actor.city_code:
        conditions.append(and_(col(Notice.level) == Level.CITY.value, col(Notice.city_code) == actor.city_code))
    if rank > level_rank(Level.COUNTY) and actor.county_code:
        conditions.append(and_(col(Notice.level) == Level.COUNTY.value, col(Notice.county_code) == actor.county_code))
    if not conditions:
        return false()
    return and_(col(Notice.withdrawn_at).is_(None), or_(*conditions))


def _addressed_users(level: Level, province_code: str | None, city_code: str | None, county_code: str | None) -> list:  # type: ignore[type-arg]
    """The conditions on ``User`` selecting the accounts a notice of this level and region
    reaches: active, at a level below, inside the region."""
    conditions: list[Any] = [col(User.is_active), col(User.level).in_([lv.value for lv in ADDRESSED_LEVELS[level]])]
    match level:
        case Level.PROVINCE:
            conditions.append(col(User.province_code) == province_code if province_code else false())
        case Level.CITY:
            conditions.append(col(User.city_code) == city_code if city_code else false())
        case Level.COUNTY:
            conditions.append(col(User.county_code) == county_code if county_code else false())
    return conditions


def _addressed_to(notice: Notice) -> list:  # type: ignore[type-arg]
    return _addressed_users(Level(notice.level), notice.province_code, notice.city_code, notice.county_code)


def _is_own_bureau(actor: Actor, notice: Notice) -> bool:
    """Is the notice one that the actor's bureau published (and the actor may publish)?"""
    return (
        may(actor, Action.PUBLISH_NOTICE)
        and notice.level == actor.level.value
        and notice.region_code == (own_region(actor) or "")
    )


def audience_label(actor: Actor) -> str:
    """Whom a notice from the actor's bureau reaches, in words."""
    if actor.level not in ADDRESSED_LEVELS:
        return ""
    place = "全国" if actor.level is Level.MINISTRY else (actor.region_name or actor.scope_label)
    levels = "、".join(AUDIENCE_LABELS[lv] for lv in ADDRESSED_LEVELS[actor.level])
    return f"{place}{levels}的全部在用账户"


# --- publishing ----------------------------------------------------------------------------------


def _clean_text(title: str, body: str) -> tuple[str, str]:
    title, body = (title or "").strip(), (body or "").strip()
    errors: dict[str, str] = {}
    if not title:
        errors["title"] = "请填写通知标题。"
    if not body:
        errors["body"] = "请填写通知正文。"
    if errors:
        raise ValidationError(errors)
    check_text(title, field="title", label="通知标题", max_length=TITLE_MAX)
    check_text(body, field="body", label="通知正文", max_length=BODY_MAX, multiline=True)
    return title, body


def publish_notice(
    actor: Actor,
    title: str,
    body: str,
    files: Sequence[tuple[str, bytes]] = (),
    *,
    now: datetime | None = None,
) -> int:
    """A leader, reviewer or system administrator of a bureau publishes a notice to every level
    below it in its region; returns its id. A refused input or file and nothing is written."""
    require(actor, Action.PUBLISH_NOTICE)
    region_code = own_region(actor)
    if region_code is None:
        raise ServiceError("您的账户没有登记管辖区划，不能发布通知。")
    title, body = _clean_text(title, body)
    if len(files) > MAX_ATTACHMENTS:
        raise ServiceError(f"附件最多 {MAX_ATTACHMENTS} 个（现有 {len(files)} 个）。")
    checked = [check_attachment(filename, data) for filename, data in files]
    published_at = now or utcnow()
    level = actor.level
    with evidence.removed_on_failure() as written, db.session_scope(write=True) as session:
        if level is Level.MINISTRY:
            region_name = MINISTRY_NAME
        else:
            region = session.get(Region, region_code)
            if region is None:
                raise ServiceError("您的账户没有登记管辖区划，不能发布通知。")
            region_name = full_region_name(session, region)
        notice = Notice(
            title=title,
            body=body,
            level=level.value,
            region_code=region_code,
            region_name=region_name[:64],
            province_code=actor.province_code if level is not Level.MINISTRY else None,
            city_code=actor.city_code if level in (Level.CITY, Level.COUNTY) else None,
            county_code=actor.county_code if level is Level.COUNTY else None,
            published_by=actor.user_id or None,
            published_by_name=actor.real_name[:64],
            published_at=published_at,
        )
        session.add(notice)
        session.flush()
        for (filename, data), kept in zip(files, checked, strict=True):
            saved = evidence.save_bytes(
                filename, data, written, default_name="通知附件", limit_mb=get_settings().notice_attachment_max_mb
            )
            session.add(
                NoticeAttachment(
                    notice_id=notice.id or 0,
                    filename=kept.filename,
                    stored_name=saved.stored_name,
                    content_type=kept.content_type,
                    size=saved.size,
                    sha256=saved.sha256,
                )
            )
        audit.record(
            session,
            actor,
            "notice_publish",
            object_type="notice",
            object_id=notice.id or "",
            after={
                "title": title,
                "level": level.value,
                "region_code": region_code,
                "attachments": [c.filename for c in checked],
            },
            detail=f"发布通知：{title}（附件 {len(checked)} 个）",
        )
        return notice.id or 0


def withdraw_notice(actor: Actor, notice_id: int) -> None:
    """The publishing bureau withdraws a notice: the readers no longer see it (the receipts stay)."""
    require(actor, Action.PUBLISH_NOTICE)
    with db.session_scope(write=True) as session:
        notice = session.get(Notice, notice_id)
        if notice is None or not _is_own_bureau(actor, notice):
            raise NotFound("通知不存在，或不是本单位发布的。")
        if notice.withdrawn_at is not None:
            raise ServiceError("该通知已经撤回。")
        notice.withdrawn_at = utcnow()
        session.add(notice)
        audit.record(
            session,
            actor,
            "notice_withdraw",
            object_type="notice",
            object_id=notice_id,
            before={"withdrawn_at": None},
            after={"withdrawn_at": notice.withdrawn_at},
            detail=f"撤回通知：{notice.title}",
        )


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticeRow:
    id: int
    title: str
    source: str  # the publishing bureau's region, e.g. 河南省
    level: str
    publisher_name: str
    published_at: datetime
    read_at: datetime | None
    attachments: int

    @property
    def unread(self) -> bool:
        return self.read_at is None


Cursor = tuple[int, datetime, int]  # (read 0/1, published_at, id) of the last row of a page


@dataclass(frozen=True)
class NoticePage:
    rows: list[NoticeRow]
    total: int
    unread: int
    next_cursor: Cursor | None


def _receipt_join(actor: Actor) -> ColumnElement[bool]:
    return and_(col(NoticeRead.notice_id) == col(Notice.id), col(NoticeRead.user_id) == actor.user_id)


def _attachment_counts(session: Session, ids: Sequence[int]) -> dict[int, int]:
    if not ids:
        return {}
    found = session.exec(
        select(NoticeAttachment.notice_id, func.count())
        .where(col(NoticeAttachment.notice_id).in_(ids))
        .group_by(col(NoticeAttachment.notice_id))
    ).all()
    return {notice_id: count for notice_id, count in found}


def list_notices(actor: Actor, *, cursor: Cursor | None = None, limit: int = 20) -> NoticePage:
    """The notices addressed to the actor, unread first, then newest first (keyset pages), with
    the total and the unread count."""
    visible = _visible(actor)
    is_read = case((col(NoticeRead.user_id).is_(None), 0), else_=1)
    with db.session_scope() as session:
        total, read = session.exec(
            select(func.count(col(Notice.id)), func.count(col(NoticeRead.user_id)))
            .select_from(Notice)
            .outerjoin(NoticeRead, _receipt_join(actor))
            .where(visible)
        ).one()
        query = (
            select(Notice, NoticeRead.read_at).outerjoin(NoticeRead, _receipt_join(actor)).where(visible)  # type: ignore[call-overload]
        )
        if cursor is not None:
            flag, at, last_id = cursor
            query = query.where(
                or_(
                    is_read > flag,
                    and_(
                        is_read == flag,
                        or_(
                            col(Notice.published_at) < at,
                            and_(col(Notice.published_at) == at, col(Notice.id) < last_id),
                        ),
                    ),
                )
            )
        found = session.exec(
            query.order_by(is_read, col(Notice.published_at).desc(), col(Notice.id).desc()).limit(limit + 1)
        ).all()
        counts = _attachment_counts(session, [n.id or 0 for n, _ in found[:limit]])
    rows = [
        NoticeRow(
            id=n.id or 0,
            title=n.title,
            source=n.region_name,
            level=n.level,
            publisher_name=n.published_by_name,
            published_at=n.published_at,
            read_at=read_at,
            attachments=counts.get(n.id or 0, 0),
        )
        for n, read_at in found[:limit]
    ]
    last = rows[-1] if rows else None
    next_cursor = (0 if last.unread else 1, last.published_at, last.id) if last and len(found) > limit else None
    return NoticePage(rows=rows, total=total, unread=total - read, next_cursor=next_cursor)


def unread_count(actor: Actor) -> int:
    """How many notices addressed to the actor are still unread (for a badge)."""
    with db.session_scope() as session:
        return session.exec(
            select(func.count(col(Notice.id)))
            .select_from(Notice)
            .outerjoin(NoticeRead, _receipt_join(actor))
            .where(_visible(actor), col(NoticeRead.user_id).is_(None))
        ).one()


@dataclass(frozen=True)
class AttachmentRow:
    id: int
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class NoticeView:
    id: int
    title: str
    body: str
    source: str
    level: str
    publisher_name: str
    published_at: datetime
    withdrawn_at: datetime | None
    read_at: datetime | None  # the actor's first reading (None for the sender's bureau)
    attachments: list[AttachmentRow]
    addressed: bool  # True: the actor is a reader; False: the actor's bureau sent it


def _insert_receipt(session: Session, notice_id: int, user_id: int, at: datetime) -> bool:
    """Record the first reading; a second one (even a concurrent one) changes nothing. True if
    this call recorded it."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(NoticeRead)
        .values(notice_id=notice_id, user_id=user_id, read_at=at)
        .on_conflict_do_nothing(index_elements=["notice_id", "user_id"])
        .returning(col(NoticeRead.user_id))
    )
    return session.exec(statement).first() is not None  # type: ignore[call-overload]


def open_notice(actor: Actor, notice_id: int, *, now: datetime | None = None) -> NoticeView:
    """A notice's body and attachments, for a reader it is addressed to (the first opening is
    recorded as the read receipt, kept with its time) or for the bureau that published it."""
    with db.session_scope() as session:
        notice = session.exec(select(Notice).where(col(Notice.id) == notice_id, _visible(actor))).first()
        addressed = notice is not None
        if notice is None:
            notice = session.get(Notice, notice_id)
            if notice is None or not _is_own_bureau(actor, notice):
                raise NotFound("通知不存在、已撤回，或不是发给您的。")
        files = session.exec(
            select(NoticeAttachment)
            .where(col(NoticeAttachment.notice_id) == notice_id)
            .order_by(col(NoticeAttachment.id))
        ).all()
        receipt = session.get(NoticeRead, (notice_id, actor.user_id)) if addressed else None
        read_at = receipt.read_at if receipt else None
    if addressed and read_at is None and not actor.is_system:
        at = now or utcnow()
        with db.session_scope(write=True) as session:
            if session.exec(select(Notice.id).where(col(Notice.id) == notice_id, _visible(actor))).first() is None:
                raise NotFound("通知不存在、已撤回，或不是发给您的。")
            if _insert_receipt(session, notice_id, actor.user_id, at):
                audit.record(
                    session, actor, "notice_read", object_type="notice", object_id=notice_id, detail=notice.title
                )
                read_at = at
            else:  # another session of the same user got there first
                first = session.get(NoticeRead, (notice_id, actor.user_id))
                read_at = first.read_at if first else at
    return NoticeView(
        id=notice.id or 0,
        title=notice.title,
        body=notice.body,
        source=notice.region_name,
        level=notice.level,
        publisher_name=notice.published_by_name,
        published_at=notice.published_at,
        withdrawn_at=notice.withdrawn_at,
        read_at=read_at,
        attachments=[AttachmentRow(f.id or 0, f.filename, f.content_type, f.size) for f in files],
        addressed=addressed,
    )


def read_attachment(actor: Actor, attachment_id: int) -> evidence.EvidenceContent:
    """An attachment's bytes, for a reader the notice is addressed to or its publishing bureau;
    the download is audited."""
    with db.session_scope(write=True) as session:
        row = session.get(NoticeAttachment, attachment_id)
        notice = session.get(Notice, row.notice_id) if row else None
        visible = (
            notice is not None
            and session.exec(select(Notice.id).where(col(Notice.id) == notice.id, _visible(actor))).first() is not None
        )
        if row is None or notice is None or not (visible or _is_own_bureau(actor, notice)):
            raise NotFound("附件不存在，或所属通知不是发给您的。")
        data = evidence.load_bytes(row.stored_name, row.sha256)
        audit.record(
            session,
            actor,
            "notice_download",
            object_type="notice",
            object_id=notice.id or "",
            detail=f"{notice.title}：{row.filename}"[:500],
        )
        return evidence.EvidenceContent(row.filename, row.content_type, data)


# --- the sender's side ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SentRow:
    id: int
    title: str
    publisher_name: str
    published_at: datetime
    withdrawn_at: datetime | None
    attachments: int
    read: int  # addressed accounts that have read it
    addressed: int  # active accounts it reaches, now


@dataclass(frozen=True)
class SentPage:
    rows: list[SentRow]
    total: int
    next_before: Cursor | None  # (0, published_at, id) of the last row


def _sent_conditions(actor: Actor) -> list:  # type: ignore[type-arg]
    require(actor, Action.PUBLISH_NOTICE)
    region_code = own_region(actor)
    if region_code is None:
        return [false()]
    return [col(Notice.level) == actor.level.value, col(Notice.region_code) == region_code]


def list_sent(actor: Actor, *, cursor: Cursor | None = None, limit: int = 20) -> SentPage:
    """The notices the actor's bureau published (withdrawn ones too), newest first, each with how
    many of the accounts it reaches have read it."""
    conditions = _sent_conditions(actor)
    with db.session_scope() as session:
        total = session.exec(select(func.count(col(Notice.id))).where(*conditions)).one()
        query = select(Notice).where(*conditions)
        if cursor is not None:
            _flag, at, last_id = cursor
            query = query.where(
                or_(col(Notice.published_at) < at, and_(col(Notice.published_at) == at, col(Notice.id) < last_id))
            )
        found = session.exec(
            query.order_by(col(Notice.published_at).desc(), col(Notice.id).desc()).limit(limit + 1)
        ).all()
        page = found[:limit]
        ids = [n.id or 0 for n in page]
        counts = _attachment_counts(session, ids)
        addressed = 0
        reads: dict[int, int] = {}
        if page:
            users = _addressed_to(page[0])  # one bureau: the same accounts for every notice
            addressed = session.exec(select(func.count(col(User.id))).where(*users)).one()
            reads = {
                notice_id: count
                for notice_id, count in session.exec(
                    select(NoticeRead.notice_id, func.count())
                    .join(User, col(User.id) == col(NoticeRead.user_id))
                    .where(col(NoticeRead.notice_id).in_(ids), *users)
                    .group_by(col(NoticeRead.notice_id))
                ).all()
            }
    rows = [
        SentRow(
            id=n.id or 0,
            title=n.title,
            publisher_name=n.published_by_name,
            published_at=n.published_at,
            withdrawn_at=n.withdrawn_at,
            attachments=counts.get(n.id or 0, 0),
            read=reads.get(n.id or 0, 0),
            addressed=addressed,
        )
        for n in page
    ]
    last = rows[-1] if rows else None
    next_before = (0, last.published_at, last.id) if last and len(found) > limit else None
    return SentPage(rows=rows, total=total, next_before=next_before)


@dataclass(frozen=True)
class LevelCount:
    level: str
    label: str
    addressed: int
    read: int


@dataclass(frozen=True)
class ReceiptSummary:
    notice_id: int
    title: str
    levels: list[LevelCount]

    @property
    def addressed(self) -> int:
        return sum(c.addressed for c in self.levels)

    @property
    def read(self) -> int:
        return sum(c.read for c in self.levels)


def _own_notice(session: Session, actor: Actor, notice_id: int) -> Notice:
    require(actor, Action.PUBLISH_NOTICE)
    notice = session.get(Notice, notice_id)
    if notice is None or not _is_own_bureau(actor, notice):
        raise NotFound("通知不存在，或不是本单位发布的。")
    return notice


def receipt_summary(actor: Actor, notice_id: int) -> ReceiptSummary:
    """How many of the accounts the notice reaches have read it, per level (one grouped COUNT
    over the users in scope, outer-joined to the receipts)."""
    with db.session_scope() as session:
        notice = _own_notice(session, actor, notice_id)
        found = session.exec(
            select(User.level, func.count(col(User.id)), func.count(col(NoticeRead.user_id)))
            .select_from(User)
            .outerjoin(
                NoticeRead, and_(col(NoticeRead.user_id) == col(User.id), col(NoticeRead.notice_id) == notice_id)
            )
            .where(*_addressed_to(notice))
            .group_by(col(User.level))
        ).all()
    by_level = {level: (addressed, read) for level, addressed, read in found}
    levels = [
        LevelCount(lv.value, LEVEL_LABELS[lv], *by_level.get(lv.value, (0, 0)))
        for lv in ADDRESSED_LEVELS[Level(notice.level)]
    ]
    return ReceiptSummary(notice_id=notice_id, title=notice.title, levels=levels)


@dataclass(frozen=True)
class Reader:
    username: str
    real_name: str
    unit: str
    role: str
    read_at: datetime | None


@dataclass(frozen=True)
class ReaderPage:
    rows: list[Reader]
    total: int
    next_after: str | None  # the username of the last row


def receipt_people(
    actor: Actor,
    notice_id: int,
    *,
    read: bool,
    level: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> ReaderPage:
    """Who of the accounts the notice reaches has read it (``read=True``, with the time of the
    first reading) or not yet, optionally of one level; keyset pages by user name."""
    with db.session_scope() as session:
        notice = _own_notice(session, actor, notice_id)
        conditions = [
            *_addressed_to(notice),
            col(NoticeRead.user_id).is_not(None) if read else col(NoticeRead.user_id).is_(None),
        ]
        if level:
            conditions.append(col(User.level) == level)
        join = and_(col(NoticeRead.user_id) == col(User.id), col(NoticeRead.notice_id) == notice_id)
        total = session.exec(
            select(func.count(col(User.id))).select_from(User).outerjoin(NoticeRead, join).where(*conditions)
        ).one()
        query = select(User, NoticeRead.read_at).outerjoin(NoticeRead, join).where(*conditions)  # type: ignore[call-overload]
        if after:
            query = query.where(col(User.username) > after)
        found = session.exec(query.order_by(col(User.username)).limit(limit + 1)).all()
        page = found[:limit]
        institution_ids = {u.institution_id for u, _ in page if u.institution_id}
        institutions = (
            dict(
                session.exec(
                    select(Institution.id, Institution.name).where(col(Institution.id).in_(institution_ids))
                ).all()
            )
            if institution_ids
            else {}
        )
        region_names: dict[str, str] = {}

        def unit(user: User) -> str:
            if user.institution_id:
                return institutions.get(user.institution_id, "")
            code = user.region_code or ""
            if code not in region_names:
                region = session.get(Region, code) if code else None
                region_names[code] = full_region_name(session, region) if region else code
            return region_names[code]

        rows = [
            Reader(
                username=u.username,
                real_name=u.real_name,
                unit=unit(u),
                role=role_label(Level(u.level), Duty(u.duty)),
                read_at=read_at,
            )
            for u, read_at in page
        ]
    next_after = rows[-1].username if rows and len(found) > limit else None
    return ReaderPage(rows=rows, total=total, next_after=next_after)


# --- demo ----------------------------------------------------------------------------------------


def _demo_workbook() -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "工作安排"
    sheet.append(["阶段", "时间", "工作内容", "责任单位"])
    for row in (
        ("准备", "9月1日—9月15日", "核对班级设置，组织填报员培训", "各幼儿园"),
        ("录入", "9月16日—10月31日", "录入新入园幼儿信息并提交审核", "各幼儿园"),
        ("审核", "11月1日—11月20日", "审核幼儿信息，处理问题学籍", "县级教育行政部门"),
        ("通报", "11月25日", "省级通报各地进度", "省教育厅"),
    ):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def seed_demo(today: date) -> None:
    """Demo notices: two from the province (one with a workbook attached), one from 中牟县, some
    already read. Needs the demo accounts demo-province, demo-county, demo-city, demo-township."""
    from portal.services.login import build_actor

    def actor(username: str) -> Actor | None:
        with db.session_scope() as session:
            user = session.exec(select(User).where(User.username == username)).first()
            return build_actor(session, user) if user else None

    def at(days_ago: int, hour: int) -> datetime:
        return datetime.combine(today - timedelta(days=days_ago), time(hour, 0), LOCAL_TZ).astimezone(UTC)

    province, county = actor("demo-province"), actor("demo-county")
    if province is None or county is None:
        return
    first = publish_notice(
        province,
        f"关于做好{today.year}年秋季学期幼儿信息采集工作的通知",
        "各市、县（区）教育局，各幼儿园：\n"
        "为做好本学期幼儿信息采集工作，现将有关事项通知如下：\n"
        "一、各幼儿园应于10月31日前完成新入园幼儿信息录入并提交审核。\n"
        "二、县级教育行政部门应在收到申请后10个工作日内完成审核，及时处理问题学籍。\n"
        "三、工作安排见附件，请认真组织实施。",
        [("幼儿信息采集工作安排.xlsx", _demo_workbook())],
        now=at(6, 9),
    )
    publish_notice(
        province,
        "关于开展学前教育管理信息系统操作培训的通知",
        "各市、县（区）教育局：\n"
        "省教育厅将组织系统操作培训，请各地安排审核员、系统管理员和幼儿园填报员参加。"
        "培训内容包括幼儿信息录入、审核、转园和问题学籍处理。具体时间另行通知。",
        now=at(3, 10),
    )
    publish_notice(
        county,
        "关于报送本学期幼儿转园、离园情况的通知",
        "各乡镇中心园、各幼儿园：\n请于本月25日前在系统中办结本学期的转园、离园手续，逾期未办结的请说明原因。",
        now=at(1, 15),
    )
    for reader in (actor("demo-city"), actor("demo-township")):
        if reader is not None:
            open_notice(reader, first, now=at(5, 11))
