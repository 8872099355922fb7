"""The ministry exchange (MISSION.md R8.5, §5 two-level deployment).

A province's deployment exports an exchange package; the ministry's (``deployment = "national"``)
imports the packages of every province, shows the national dashboard and sends each province a
report of its children numbered in another province too, which the province imports as problem
records.

The file format (version ``FORMAT_VERSION``) is one JSON document, written in canonical form
(UTF-8, keys sorted, no spaces)::

    {"content": {...}, "created_at": "...", "format": "portal-exchange", "kind": "package",
     "package_id": "<32 hex>", "province": "41", "sequence": 7, "sha256": "<hex>",
     "signature": "<hex>", "version": 1}

``sha256`` is the checksum of the canonical ``content``; ``signature`` is the HMAC-SHA256 of the
canonical document without the signature, under the exchange key the province shares with the
ministry. A file must be exactly its canonical form, so any changed byte is refused (bad JSON, not
canonical, wrong checksum or wrong signature). ``sequence`` grows per province and kind: the
receiver refuses a sequence not above the last one it accepted, and the same ``package_id`` twice.

A package's content: the province's progress table (the province, its cities and counties, from
the counters), its month-end snapshots, its projects with their latest progress and its central
funds (no personal data), and the register for the national duplicate check: for each child
holding a student number, an HMAC-SHA256 of the normalised document number (or of name, gender
and birth date for a child without a document) under ``exchange_id_key``, the key every deployment
shares for this purpose (never the portal's encryption key, never a plain number), with the
child's id in the province so that the ministry can name it back without learning who it is.

HMAC and SHA-256 come from the standard library (``hmac``, ``hashlib``): a shared-key signature
needs nothing more, so the exchange adds no dependency.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, insert
from sqlmodel import Session, col, select

from portal.auth.actor import Actor
from portal.auth.roles import Duty, Level
from portal.clock import utcnow
from portal.data import db
from portal.data.models import (
    CentralFund,
    Child,
    ExchangeLog,
    ExchangeProgress,
    ExchangeRegister,
    MonthEndSnapshot,
    Project,
    ProjectProgress,
    Region,
)
from portal.services import audit, progress
from portal.services.children import CTX_DOCUMENT, ChildRow, decrypt_field, list_children, normalise_name
from portal.services.errors import ServiceError
from portal.services.identity import fold_width
from portal.settings import MIN_SECRET_LENGTH, get_settings

FORMAT = "portal-exchange"
FORMAT_VERSION = 1
KIND_PACKAGE = "package"
KIND_DUPLICATES = "duplicates"
KIND_LABELS = {KIND_PACKAGE: "数据交换包", KIND_DUPLICATES: "全国查重报告"}
MIN_KEY_LENGTH = MIN_SECRET_LENGTH
REGISTER_STATES = ("approved", "problem")  # the records holding a student number
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_PROVINCE = re.compile(r"[0-9]{2}")


class ExchangeError(ServiceError):
    """An exchange file refused: nothing was written."""


# --- keys ---------------------------------------------------------------------------------------


def _key(value: str, name: str) -> bytes:
    if len(value or "") < MIN_KEY_LENGTH:
        raise ExchangeError(f"{name} 未设置或太短（至少 {MIN_KEY_LENGTH} 个字符），不能签名或校验数据交换文件。")
    return value.encode("utf-8")


def province_key() -> bytes:
    """This province's exchange key (PORTAL_EXCHANGE_KEY), shared with the ministry only."""
    return _key(get_settings().exchange_key, "PORTAL_EXCHANGE_KEY")


def national_keys() -> dict[str, bytes]:
    """The national deployment's keys of every province (PORTAL_EXCHANGE_KEYS, JSON {"41": "..."})."""
    try:
        raw = json.loads(get_settings().exchange_keys or "{}")
    except ValueError as exc:
        raise ExchangeError('PORTAL_EXCHANGE_KEYS 不是有效的 JSON（应为 {"41": "密钥", ...}）。') from exc
    if not isinstance(raw, dict):
        raise ExchangeError('PORTAL_EXCHANGE_KEYS 应为 {"省份代码": "密钥"} 形式的 JSON 对象。')
    keys = {}
    for code, value in raw.items():
        if not (isinstance(code, str) and _PROVINCE.fullmatch(code)) or not isinstance(value, str):
            raise ExchangeError(f"PORTAL_EXCHANGE_KEYS 中的“{code}”不是两位省份代码及其密钥。")
        keys[code] = _key(value, f"PORTAL_EXCHANGE_KEYS 中省份 {code} 的密钥")
    return keys


def id_key() -> bytes:
    """The key of the hashed identifiers (PORTAL_EXCHANGE_ID_KEY): the same in every deployment, so
    that one child hashes alike everywhere; never the encryption key or a signing key."""
    settings = get_settings()
    key = _key(settings.exchange_id_key, "PORTAL_EXCHANGE_ID_KEY")
    if settings.exchange_id_key in (settings.encryption_key, settings.exchange_key):
        raise ExchangeError("PORTAL_EXCHANGE_ID_KEY 不能与本系统的加密密钥或交换签名密钥相同。")
    return key


def hashed_identity(
    key: bytes, *, document_type: str, id_cipher: str | None, name: str, gender: str, birth_date: date
) -> tuple[str, str]:
    """(basis, HMAC-SHA256 hex) of a child for the national duplicate check: its document type and
    normalised number; without a document, its normalised name, gender and birth date."""
    number = fold_width(decrypt_field(id_cipher, CTX_DOCUMENT)).strip().upper() if id_cipher else ""
    if number:
        basis, value = "document", f"document|{document_type}|{number}"
    else:
        basis, value = "person", f"person|{normalise_name(name)}|{gender}|{birth_date.isoformat()}"
    return basis, hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


# --- the envelope -------------------------------------------------------------------------------


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _seal(kind: str, province_code: str, sequence: int, content: dict[str, Any], key: bytes) -> tuple[bytes, str]:
    """The signed file and its package id."""
    package_id = uuid.uuid4().hex
    envelope: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": kind,
        "province": province_code,
        "sequence": sequence,
        "package_id": package_id,
        "created_at": utcnow().isoformat(),
        "sha256": hashlib.sha256(_canonical(content)).hexdigest(),
        "content": content,
    }
    envelope["signature"] = hmac.new(key, _canonical(envelope), hashlib.sha256).hexdigest()
    return _canonical(envelope), package_id


@dataclass(frozen=True)
class Opened:
    kind: str
    province_code: str
    sequence: int
    package_id: str
    created_at: datetime
    content: dict[str, Any]
    sha256: str  # of the whole file


def _open(data: bytes, kind: str, key_for: Callable[[str], bytes]) -> Opened:
    """Read and verify a file: format, version, kind, the province's key, signature, canonical form
    and checksum. Raises ExchangeError with the reason; reads nothing from the database."""
    label = KIND_LABELS[kind]
    try:
        envelope = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ExchangeError(f"无法读取该文件：不是有效的{label}，可能已损坏或被改动。未导入任何数据。") from exc
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise ExchangeError(f"该文件不是本系统的{label}（格式标识不符）。未导入任何数据。")
    version = envelope.get("version")
    if version != FORMAT_VERSION:
        raise ExchangeError(
            f"{label}的格式版本（{version}）不受支持：本系统只读取版本 {FORMAT_VERSION}。未导入任何数据。"
        )
    if envelope.get("kind") != kind:
        found = KIND_LABELS.get(str(envelope.get("kind")), "未知类型的文件")
        raise ExchangeError(f"文件类型不符：这是{found}，这里需要{label}。未导入任何数据。")
    province = envelope.get("province")
    if not (isinstance(province, str) and _PROVINCE.fullmatch(province)):
        raise ExchangeError(f"{label}中的省份代码无效。未导入任何数据。")
    key = key_for(province)
    signature = envelope.pop("signature", None)
    expected = hmac.new(key, _canonical(envelope), hashlib.sha256).hexdigest()
    if not isinstance(signature, str) or not hmac.compare_digest(signature, expected):
        raise ExchangeError(
            f"{label}的签名校验失败：文件已被改动，或不是用该省（代码 {province}）的交换密钥签名的。未导入任何数据。"
        )
    envelope["signature"] = signature
    if _canonical(envelope) != data:
        raise ExchangeError(f"{label}已被改动（与签名时的内容不一致）。未导入任何数据。")
    content = envelope.get("content")
    if not isinstance(content, dict) or hashlib.sha256(_canonical(content)).hexdigest() != envelope.get("sha256"):
        raise ExchangeError(f"{label}的校验和（SHA-256）不符：内容已被改动。未导入任何数据。")
    sequence, package_id = envelope.get("sequence"), envelope.get("package_id")
    try:
        created_at = datetime.fromisoformat(str(envelope.get("created_at")))
    except ValueError:
        created_at = None  # type: ignore[assignment]
    if (
        not isinstance(sequence, int)
        or isinstance(sequence, bool)
        or sequence < 1
        or not (isinstance(package_id, str) and _HEX32.fullmatch(package_id))
        or created_at is None
        or created_at.tzinfo is None
    ):
        raise ExchangeError(f"{label}的序号、编号或生成时间无效。未导入任何数据。")
    return Opened(kind, province, sequence, package_id, created_at, content, hashlib.sha256(data).hexdigest())


def _refuse_replay(session: Session, opened: Opened) -> None:
    label = KIND_LABELS[opened.kind]
    seen = session.exec(
        select(ExchangeLog.id).where(ExchangeLog.direction == "import", ExchangeLog.package_id == opened.package_id)
    ).first()
    if seen is not None:
        raise ExchangeError(f"该{label}（编号 {opened.package_id}）已经导入过，不能重复导入。")
    last = _last_sequence(session, "import", opened.kind, opened.province_code)
    if last is not None and opened.sequence <= last:
        raise ExchangeError(
            f"该{label}的序号 {opened.sequence} 不大于已导入的最新序号 {last}：是重复或过期的文件，已拒绝。"
            "未导入任何数据。"
        )


def _last_sequence(session: Session, direction: str, kind: str, province_code: str) -> int | None:
    return session.exec(
        select(func.max(ExchangeLog.sequence)).where(  # type: ignore[call-overload]
            ExchangeLog.direction == direction, ExchangeLog.kind == kind, ExchangeLog.province_code == province_code
        )
    ).one()


def _recorder(actor: Actor) -> int | None:
    return None if actor.is_system else actor.user_id


def _province_name(session: Session, code: str) -> str:
    region = session.get(Region, f"{code}0000")
    return region.name if region else f"省份 {code}"


# --- who may --------------------------------------------------------------------------------------


def _require_province_operator(actor: Actor) -> str:
    settings = get_settings()
    if settings.deployment != "province":
        raise ExchangeError("只有省级部署才能导出数据交换包或导入查重报告。")
    allowed = actor.is_system or (
        actor.level is Level.PROVINCE
        and actor.province_code == settings.province_code
        and actor.duty in (Duty.SYSADMIN, Duty.LEADER)
    )
    if not allowed:
        raise ExchangeError("数据交换只能由本省的系统管理员或领导办理。")
    return settings.province_code


def _require_ministry(actor: Actor, *, manage: bool = False) -> None:
    if get_settings().deployment != "national":
        raise ExchangeError("全国汇总和数据交换包的导入只在教育部的全国部署中提供（PORTAL_DEPLOYMENT=national）。")
    duties = (Duty.SYSADMIN,) if manage else (Duty.SYSADMIN, Duty.LEADER, Duty.REVIEWER)
    if not (actor.is_system or (actor.level is Level.MINISTRY and actor.duty in duties)):
        raise ExchangeError("全国汇总只对教育部的工作人员开放。")


# --- the province: export -------------------------------------------------------------------------


@dataclass(frozen=True)
class Written:
    data: bytes
    province_code: str
    sequence: int
    package_id: str
    children: int


def _progress_rows(province_code: str) -> list[dict[str, Any]]:
    top = progress.operator_table(f"{province_code}0000")
    rows = [_progress_row("province", top.total, top.region_code, top.region_name, None, top.baseline_year)]
    for city in top.rows:
        rows.append(_progress_row("city", city, city.code, city.name, top.region_code, top.baseline_year))
        table = progress.operator_table(city.code)
        if table.level == "county":  # a city-level unit without counties: its rows are institutions
            continue
        for county in table.rows:
            rows.append(_progress_row("county", county, county.code, county.name, city.code, top.baseline_year))
    return rows


def _progress_row(
    level: str, row: progress.ProgressRow, code: str, name: str, parent: str | None, year: int | None
) -> dict[str, Any]:
    return {
        "level": level,
        "region_code": code,
        "region_name": name,
        "parent_code": parent,
        "institutions": row.institutions,
        "reported": row.reported,
        "reviewed": row.reviewed,
        "numbered": row.numbered,
        "entered": row.entered,
        "baseline": row.baseline,
        "baseline_year": year,
    }


def _content(session: Session, province_code: str, key: bytes) -> dict[str, Any]:
    snapshots = [
        {
            "month": s.month,
            "region_code": s.region_code,
            "level": s.level,
            "institutions": s.institutions,
            "reported": s.reported,
            "reviewed": s.reviewed,
            "numbered": s.numbered,
            "entered": s.entered,
            "baseline": s.baseline,
            "baseline_year": s.baseline_year,
            "taken_at": s.taken_at.isoformat(),
            "caught_up": bool(s.caught_up),
        }
        for s in session.exec(
            select(MonthEndSnapshot)
            .where(MonthEndSnapshot.province_code == province_code)
            .order_by(col(MonthEndSnapshot.month), col(MonthEndSnapshot.region_code))
        ).all()
    ]
    latest: dict[int, ProjectProgress] = {}
    for p in session.exec(
        select(ProjectProgress)
        .join(Project, col(Project.id) == col(ProjectProgress.project_id))
        .where(Project.province_code == province_code)
        .order_by(col(ProjectProgress.month))
    ).all():
        latest[p.project_id] = p
    projects = []
    for p in session.exec(
        select(Project)
        .where(Project.province_code == province_code, Project.state != "deleted")
        .order_by(col(Project.id))
    ).all():
        last = latest.get(p.id or 0)
        projects.append(
            {
                "ref": p.id,
                "name": p.name,
                "source": p.source,
                "year": p.year,
                "level": p.level,
                "region_code": p.region_code,
                "state": p.state,
                "amount": str(p.amount),
                "progress_month": last.month if last else None,
                "spent": str(last.spent) if last else "0.00",
                "percent": str(last.percent) if last else "0.00",
            }
        )
    funds = [
        {"year": f.year, "amount": str(f.amount)}
        for f in session.exec(
            select(CentralFund).where(CentralFund.province_code == province_code).order_by(col(CentralFund.year))
        ).all()
    ]
    register = []
    rows = session.exec(
        select(  # type: ignore[call-overload]
            Child.id, Child.document_type, Child.id_cipher, Child.name, Child.gender, Child.birth_date
        )
        .where(
            Child.province_code == province_code,
            col(Child.state).in_(REGISTER_STATES),
            col(Child.student_number_hash).is_not(None),
        )
        .order_by(col(Child.id))
        .execution_options(yield_per=5000)  # columns only, streamed: a province has millions
    )
    for child_id, document_type, id_cipher, name, gender, birth_date in rows:
        basis, hashed = hashed_identity(
            key, document_type=document_type, id_cipher=id_cipher, name=name, gender=gender, birth_date=birth_date
        )
        register.append({"h": hashed, "basis": basis, "ref": child_id})
    return {"snapshots": snapshots, "projects": projects, "central_funds": funds, "register": register}


def export_package(actor: Actor) -> Written:
    """The province's exchange package: signed, with the next sequence number; logged and audited."""
    province_code = _require_province_operator(actor)
    signing, hashing = province_key(), id_key()
    rows = _progress_rows(province_code)
    with db.session_scope() as session:
        content = _content(session, province_code, hashing)
    content["progress"] = rows
    with db.session_scope(write=True) as session:
        sequence = (_last_sequence(session, "export", KIND_PACKAGE, province_code) or 0) + 1
        data, package_id = _seal(KIND_PACKAGE, province_code, sequence, content, signing)
        count = len(content["register"])
        session.add(
            ExchangeLog(
                direction="export",
                kind=KIND_PACKAGE,
                province_code=province_code,
                sequence=sequence,
                package_id=package_id,
                created_at=utcnow(),
                sha256=hashlib.sha256(data).hexdigest(),
                children=count,
                summary=f"进度表 {len(rows)} 行，月末快照 {len(content['snapshots'])} 条，"
                f"项目 {len(content['projects'])} 个",
                recorded_by=_recorder(actor),
            )
        )
        audit.record(
            session,
            actor,
            "exchange_export",
            object_type="exchange",
            object_id=package_id,
            detail=f"导出数据交换包：第 {sequence} 号，学籍登记 {count} 条（哈希标识）",
        )
    return Written(data, province_code, sequence, package_id, count)


# --- the ministry: import -------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    province_code: str
    province_name: str
    sequence: int
    package_id: str
    children: int
    duplicates: int  # children of this province whose identity is numbered in another province too


_PROGRESS_INTS = ("institutions", "reported", "reviewed", "numbered", "entered")


def _int(value: Any, *, optional: bool = False) -> bool:
    if value is None:
        return optional
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _checked_content(opened: Opened) -> dict[str, Any]:
    """The package content, its shape checked (a signed file of a broken exporter is still refused)."""
    content, code = opened.content, opened.province_code
    bad = ExchangeError("数据交换包的内容不完整或格式有误。未导入任何数据。")
    for name in ("progress", "snapshots", "projects", "central_funds", "register"):
        if not isinstance(content.get(name), list):
            raise bad
    for row in content["progress"]:
        if (
            not isinstance(row, dict)
            or row.get("level") not in ("province", "city", "county")
            or not (isinstance(row.get("region_code"), str) and str(row["region_code"]).startswith(code))
            or not all(_int(row.get(f)) for f in _PROGRESS_INTS)
            or not _int(row.get("baseline"), optional=True)
            or not _int(row.get("baseline_year"), optional=True)
        ):
            raise bad
    if sum(1 for row in content["progress"] if row["level"] == "province") != 1:
        raise bad
    for entry in content["register"]:
        if (
            not isinstance(entry, dict)
            or not (isinstance(entry.get("h"), str) and _HEX64.fullmatch(entry["h"]))
            or entry.get("basis") not in ("document", "person")
            or not (_int(entry.get("ref")) and entry["ref"] > 0)
        ):
            raise bad
    return content


def import_package(actor: Actor, data: bytes) -> Imported:
    """Verify a province's package and keep its figures and register (the register replaces the
    province's previous one). A refused file writes nothing."""
    _require_ministry(actor, manage=True)
    keys = national_keys()

    def key_for(code: str) -> bytes:
        if code not in keys:
            raise ExchangeError(
                f"未知的省份（代码 {code}）：全国部署没有该省的交换密钥（PORTAL_EXCHANGE_KEYS），"
                "已拒绝。未导入任何数据。"
            )
        return keys[code]

    opened = _open(data, KIND_PACKAGE, key_for)
    content = _checked_content(opened)
    code = opened.province_code
    with db.session_scope(write=True) as session:
        _refuse_replay(session, opened)
        log = ExchangeLog(
            direction="import",
            kind=KIND_PACKAGE,
            province_code=code,
            sequence=opened.sequence,
            package_id=opened.package_id,
            created_at=opened.created_at,
            sha256=opened.sha256,
            children=len(content["register"]),
            summary=f"进度表 {len(content['progress'])} 行，月末快照 {len(content['snapshots'])} 条，"
            f"项目 {len(content['projects'])} 个",
            content=json.dumps({k: content[k] for k in ("snapshots", "projects", "central_funds")}, ensure_ascii=False),
            recorded_by=_recorder(actor),
        )
        session.add(log)
        session.flush()
        for row in content["progress"]:
            session.add(
                ExchangeProgress(
                    log_id=log.id or 0,
                    province_code=code,
                    level=row["level"],
                    region_code=row["region_code"][:6],
                    region_name=str(row.get("region_name") or "")[:64],
                    parent_code=(str(row["parent_code"])[:6] if row.get("parent_code") else None),
                    baseline=row.get("baseline"),
                    baseline_year=row.get("baseline_year"),
                    **{f: row[f] for f in _PROGRESS_INTS},
                )
            )
        session.execute(delete(ExchangeRegister).where(col(ExchangeRegister.province_code) == code))
        entries = [
            {"province_code": code, "hashed_id": e["h"], "basis": e["basis"], "child_ref": e["ref"], "log_id": log.id}
            for e in content["register"]
        ]
        for start in range(0, len(entries), 5000):
            session.execute(insert(ExchangeRegister), entries[start : start + 5000])
        name = _province_name(session, code)
        audit.record(
            session,
            actor,
            "exchange_import",
            object_type="exchange",
            object_id=opened.package_id,
            detail=f"导入{name}的数据交换包：第 {opened.sequence} 号，学籍登记 {len(entries)} 条",
        )
        session.flush()
        duplicates = len(_duplicate_refs(session, code))
    return Imported(code, name, opened.sequence, opened.package_id, len(entries), duplicates)


# --- cross-province duplicates --------------------------------------------------------------------


def _duplicate_refs(session: Session, province_code: str) -> dict[int, set[str]]:
    """The province's children (their references) whose hashed identity is in another province's
    register, with those provinces."""
    mine = select(ExchangeRegister.hashed_id).where(ExchangeRegister.province_code == province_code)
    others: dict[str, set[str]] = {}
    for hashed, code in session.exec(
        select(ExchangeRegister.hashed_id, ExchangeRegister.province_code).where(  # type: ignore[call-overload]
            col(ExchangeRegister.hashed_id).in_(mine), ExchangeRegister.province_code != province_code
        )
    ).all():
        others.setdefault(hashed, set()).add(code)
    found: dict[int, set[str]] = {}
    if not others:
        return found
    hashes = list(others)
    for start in range(0, len(hashes), 900):
        for ref, hashed in session.exec(
            select(ExchangeRegister.child_ref, ExchangeRegister.hashed_id).where(  # type: ignore[call-overload]
                ExchangeRegister.province_code == province_code,
                col(ExchangeRegister.hashed_id).in_(hashes[start : start + 900]),
            )
        ).all():
            found.setdefault(ref, set()).update(others[hashed])
    return found


def duplicates_report(actor: Actor, province_code: str) -> Written:
    """The signed report for one province: its children numbered in another province too, by the
    province's own reference, with the other provinces. Logged and audited."""
    _require_ministry(actor, manage=True)
    keys = national_keys()
    if province_code not in keys:
        raise ExchangeError(f"未知的省份（代码 {province_code}）：全国部署没有该省的交换密钥。")
    with db.session_scope(write=True) as session:
        refs = _duplicate_refs(session, province_code)
        codes = sorted({c for found in refs.values() for c in found})
        content = {
            "entries": [{"ref": ref, "other_provinces": sorted(refs[ref])} for ref in sorted(refs)],
            "province_names": {c: _province_name(session, c) for c in codes},
        }
        sequence = (_last_sequence(session, "export", KIND_DUPLICATES, province_code) or 0) + 1
        data, package_id = _seal(KIND_DUPLICATES, province_code, sequence, content, keys[province_code])
        session.add(
            ExchangeLog(
                direction="export",
                kind=KIND_DUPLICATES,
                province_code=province_code,
                sequence=sequence,
                package_id=package_id,
                created_at=utcnow(),
                sha256=hashlib.sha256(data).hexdigest(),
                children=len(refs),
                summary=f"涉及省份：{'、'.join(codes) or '无'}",
                recorded_by=_recorder(actor),
            )
        )
        audit.record(
            session,
            actor,
            "exchange_duplicates_export",
            object_type="exchange",
            object_id=package_id,
            detail=f"向{_province_name(session, province_code)}出具全国查重报告：第 {sequence} 号，{len(refs)} 名幼儿",
        )
    return Written(data, province_code, sequence, package_id, len(refs))


@dataclass(frozen=True)
class ReportApplied:
    sequence: int
    listed: int
    marked: int  # became problem records
    skipped: int  # already a problem record, no longer holding a number, or not found


NATIONAL_MARK = "（全国查重）"


def duplicate_reason(names: list[str]) -> str:
    return f"与外省（{'、'.join(names)}）学籍重复{NATIONAL_MARK}"


def import_duplicates(actor: Actor, data: bytes) -> ReportApplied:
    """The province imports the ministry's report: each listed child still holding its number
    (approved) becomes a problem record (``state = "problem"``) whose reason names the other
    province; the institution then corrects it and submits it again, or deletes it."""
    province_code = _require_province_operator(actor)
    key = province_key()

    def key_for(code: str) -> bytes:
        if code != province_code:
            raise ExchangeError(f"该全国查重报告是发给其他省份（代码 {code}）的，不是本省的。未导入任何数据。")
        return key

    opened = _open(data, KIND_DUPLICATES, key_for)
    entries, names = opened.content.get("entries"), opened.content.get("province_names")
    if not isinstance(entries, list) or not isinstance(names, dict):
        raise ExchangeError("全国查重报告的内容不完整或格式有误。未导入任何数据。")
    for entry in entries:
        if (
            not isinstance(entry, dict)
            or not (_int(entry.get("ref")) and entry["ref"] > 0)
            or not isinstance(entry.get("other_provinces"), list)
            or not entry["other_provinces"]
            or not all(isinstance(c, str) and _PROVINCE.fullmatch(c) for c in entry["other_provinces"])
        ):
            raise ExchangeError("全国查重报告的内容不完整或格式有误。未导入任何数据。")
    marked = skipped = 0
    with db.session_scope(write=True) as session:
        _refuse_replay(session, opened)
        now = utcnow()
        for entry in entries:
            child = session.get(Child, entry["ref"])
            if child is None or child.province_code != province_code or child.state != "approved":
                skipped += 1
                continue
            others = [str(names.get(c) or _province_name(session, c))[:20] for c in entry["other_provinces"]]
            child.state = "problem"
            child.return_reason = duplicate_reason(others)[:1000]
            child.updated_at = now
            child.version += 1
            session.add(child)
            marked += 1
        session.add(
            ExchangeLog(
                direction="import",
                kind=KIND_DUPLICATES,
                province_code=province_code,
                sequence=opened.sequence,
                package_id=opened.package_id,
                created_at=opened.created_at,
                sha256=opened.sha256,
                children=len(entries),
                summary=f"成为问题学籍 {marked} 名，未处理 {skipped} 名",
                recorded_by=_recorder(actor),
            )
        )
        audit.record(
            session,
            actor,
            "exchange_duplicates_import",
            object_type="exchange",
            object_id=opened.package_id,
            detail=f"导入全国查重报告第 {opened.sequence} 号：{len(entries)} 名幼儿，{marked} 名成为问题学籍",
        )
    return ReportApplied(opened.sequence, len(entries), marked, skipped)


def national_problems(actor: Actor, limit: int = 200) -> list[ChildRow]:
    """The problem records the national duplicate check made in the actor's scope (an institution
    its own, a bureau its region): problem records carrying the report's reason (the province's own
    duplicate check leaves the reason empty and opens a dispute instead)."""
    page = list_children(actor, state="problem", limit=limit)
    return [row for row in page.rows if row.return_reason.endswith(NATIONAL_MARK)]


# --- the national dashboard -----------------------------------------------------------------------


@dataclass(frozen=True)
class NationalRow:
    province_code: str
    province_name: str
    institutions: int
    reported: int
    reviewed: int
    baseline: int | None
    numbered: int
    duplicates: int
    sequence: int
    package_created_at: datetime | None
    imported_at: datetime | None

    @property
    def reported_pct(self) -> float | None:
        return progress.ratio(self.reported, self.institutions)

    @property
    def reviewed_pct(self) -> float | None:
        return progress.ratio(self.reviewed, self.institutions)

    @property
    def numbered_pct(self) -> float | None:
        return progress.ratio(self.numbered, self.baseline)


@dataclass(frozen=True)
class ImportRow:
    province_code: str
    province_name: str
    kind: str
    direction: str
    sequence: int
    package_created_at: datetime
    recorded_at: datetime
    children: int
    summary: str


@dataclass(frozen=True)
class NationalBoard:
    rows: list[NationalRow]
    total: NationalRow
    log: list[ImportRow]


def national_dashboard(actor: Actor, *, log_limit: int = 100) -> NationalBoard:
    """The progress table per province from each province's latest package, and the exchange log."""
    _require_ministry(actor)
    with db.session_scope() as session:
        latest = {
            code: log_id
            for code, log_id in session.exec(
                select(ExchangeLog.province_code, func.max(ExchangeLog.id))  # type: ignore[call-overload]
                .where(ExchangeLog.direction == "import", ExchangeLog.kind == KIND_PACKAGE)
                .group_by(ExchangeLog.province_code)
            ).all()
        }
        rows = []
        for code in sorted(latest):
            log = session.get(ExchangeLog, latest[code])
            total = session.exec(
                select(ExchangeProgress).where(
                    ExchangeProgress.log_id == latest[code], ExchangeProgress.level == "province"
                )
            ).first()
            if log is None or total is None:
                continue
            rows.append(
                NationalRow(
                    province_code=code,
                    province_name=_province_name(session, code),
                    institutions=total.institutions,
                    reported=total.reported,
                    reviewed=total.reviewed,
                    baseline=total.baseline,
                    numbered=total.numbered,
                    duplicates=len(_duplicate_refs(session, code)),
                    sequence=log.sequence,
                    package_created_at=log.created_at,
                    imported_at=log.recorded_at,
                )
            )
        log_rows = [
            ImportRow(
                province_code=r.province_code,
                province_name=_province_name(session, r.province_code),
                kind=KIND_LABELS[r.kind],
                direction="导入" if r.direction == "import" else "出具",
                sequence=r.sequence,
                package_created_at=r.created_at,
                recorded_at=r.recorded_at,
                children=r.children,
                summary=r.summary,
            )
            for r in session.exec(
                select(ExchangeLog)
                .where(  # the packages imported and the reports issued here (not a province's own files)
                    ((ExchangeLog.direction == "import") & (ExchangeLog.kind == KIND_PACKAGE))
                    | ((ExchangeLog.direction == "export") & (ExchangeLog.kind == KIND_DUPLICATES))
                )
                .order_by(col(ExchangeLog.id).desc())
                .limit(log_limit)
            ).all()
        ]
    baselines = [r.baseline for r in rows if r.baseline is not None]
    total_row = NationalRow(
        province_code="00",
        province_name="全国合计",
        institutions=sum(r.institutions for r in rows),
        reported=sum(r.reported for r in rows),
        reviewed=sum(r.reviewed for r in rows),
        baseline=sum(baselines) if baselines else None,
        numbered=sum(r.numbered for r in rows),
        duplicates=sum(r.duplicates for r in rows),
        sequence=0,
        package_created_at=None,
        imported_at=None,
    )
    return NationalBoard(rows, total_row, log_rows)
