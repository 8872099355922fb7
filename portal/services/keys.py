"""Rotating the encryption key of personal data (``PORTAL_ENCRYPTION_KEY``) without losing any.

Every value sealed with the key is decrypted with the current key and encrypted again with the new
one, and every keyed look-up hash is recomputed with the new key, in ONE transaction: a failure
anywhere (a value the current key cannot open, a new value that does not open to the old
plaintext) rolls everything back and the database keeps the current key. One transaction rather
than resumable batches because a half-rotated database would need both keys at once, which the
portal cannot do; the rows are still read and written in batches (keyset by id), so memory stays
constant, and each batch is read back and checked inside the transaction before the commit.

The registry below names every sealed column, every keyed hash and every sealed value inside a
JSON column; ``tests/services/test_keys.py`` fails when a model or a ``crypto`` call brings one
that the registry does not know. Stop the portal while the key is rotated: a process still
holding the old key would write values the new key cannot read.
"""

from __future__ import annotations

import json
import os
import re
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table, bindparam, or_, select, update
from sqlmodel import Session

from portal.auth.actor import SYSTEM_ACTOR
from portal.data import crypto, db
from portal.data.models import Child, Request, SchoolClass, User
from portal.services import audit, children, workflow
from portal.services.errors import ServiceError
from portal.settings import MIN_SECRET_LENGTH, secrets_file

Echo = Callable[[str], None]

TOTP_CONTEXT = "user.totp_secret"  # portal.services.credentials.TOTP_CONTEXT


@dataclass(frozen=True)
class Sealed:
    """A column holding ``crypto.encrypt(plaintext, context)``."""

    table: str
    column: str
    context: str


@dataclass(frozen=True)
class Keyed:
    """A column holding a keyed look-up hash (``crypto.lookup_hash`` under ``context``), recomputed
    from the row's plaintext values."""

    table: str
    column: str
    context: str


@dataclass(frozen=True)
class SealedInJson:
    """``"key": crypto.encrypt(...)`` inside the JSON text of a column."""

    table: str
    column: str
    key: str
    context: str


SEALED: tuple[Sealed, ...] = (
    Sealed("child", "id_cipher", children.CTX_DOCUMENT),
    Sealed("child", "guardian1_phone_cipher", children.CTX_PHONE),
    Sealed("child", "guardian2_phone_cipher", children.CTX_PHONE),
    Sealed("child", "student_number_cipher", children.CTX_STUDENT_NUMBER),
    Sealed("child", "origin_number_cipher", children.CTX_STUDENT_NUMBER),
    Sealed("user_account", "totp_secret", TOTP_CONTEXT),
)
KEYED: tuple[Keyed, ...] = (
    Keyed("child", "id_hash", children.CTX_DOCUMENT),  # document type | number
    Keyed("child", "identity_hash", children.CTX_IDENTITY),  # name | gender | birth date
    Keyed("child", "guardian1_phone_hash", children.CTX_PHONE),
    Keyed("child", "guardian2_phone_hash", children.CTX_PHONE),
    Keyed("child", "student_number_hash", children.CTX_STUDENT_NUMBER),
    Keyed("child", "content_hash", children.CTX_CONTENT),  # the whole cleaned record
)
SEALED_IN_JSON: tuple[SealedInJson, ...] = (
    # A key change's new document number waits in the request's payload (key_changes.py).
    SealedInJson("request", "payload", "document_cipher", children.CTX_DOCUMENT),
    SealedInJson("request", "before", "document_cipher", children.CTX_DOCUMENT),
)
# Columns named like sealed or keyed ones that the encryption key does not touch, and why.
NOT_KEYED: dict[str, str] = {
    "user_account.password_hash": "bcrypt, salted per password, no portal key",
    "password_history.password_hash": "bcrypt, salted per password, no portal key",
    "audit_log.prev_hash": "SHA-256 hash chain, unkeyed",
    "audit_log.row_hash": "SHA-256 hash chain, unkeyed",
    "audit_chain_head.last_hash": "SHA-256 hash chain, unkeyed",
    "audit_chain_head.anchor_hash": "SHA-256 hash chain, unkeyed",
    "request_event.step_key": "the name of a workflow step, not a key",
}
CONTEXTS = frozenset(s.context for s in SEALED) | {k.context for k in KEYED} | {j.context for j in SEALED_IN_JSON}

_TOKEN_IN_JSON = re.compile(r'"(\w+_cipher)"\s*:\s*"(' + re.escape(crypto.PREFIX) + r'[A-Za-z0-9_\-=]+)"')


class KeyRotationError(ServiceError):
    """The rotation refused or failed; nothing was changed."""


@dataclass
class RotationResult:
    children: int = 0  # child rows rewritten
    users: int = 0  # accounts whose second-factor secret was re-encrypted
    requests: int = 0  # requests whose payload held a sealed value
    values: int = 0  # sealed values re-encrypted, in all
    hashes: int = 0  # keyed hashes recomputed, in all
    # Hashes that did not match their row's values under the current key (recomputed from the
    # values as stored now): content hashes of records whose class was renamed since, for example.
    mismatched: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def check_new_key(new_key: str, current: str) -> None:
    """Refuse a key that is too short, has characters a secrets file or environment would mangle, or
    equals the current one."""
    if len(new_key) < MIN_SECRET_LENGTH:
        raise KeyRotationError(f"新密钥太短：至少需要 {MIN_SECRET_LENGTH} 个字符（建议用本命令生成）。未做任何修改。")
    if any(c.isspace() or c in "\"'\\" or not c.isprintable() or not c.isascii() for c in new_key):
        raise KeyRotationError("新密钥只能包含可打印的 ASCII 字符，不能有空白、引号或反斜杠。未做任何修改。")
    if new_key == current:
        raise KeyRotationError("新密钥与当前密钥相同：没有轮换。未做任何修改。")


def generate_key() -> str:
    import secrets

    return secrets.token_urlsafe(48)


# --- one value at a time --------------------------------------------------------------------------


def _open(token: str, context: str, key: str, where: str) -> str:
    try:
        return crypto.decrypt(token, context, key=key)
    except crypto.DecryptionError as exc:
        raise KeyRotationError(
            f"{where} 无法用当前密钥解密：当前配置的密钥不是加密这些数据的密钥，或该值已损坏。未做任何修改。"
        ) from exc


def _seal(plaintext: str, context: str, key: str) -> str:
    """The value sealed with the new key (checked by reading the batch back before the commit)."""
    return crypto.encrypt(plaintext, context, key=key)


# --- children -------------------------------------------------------------------------------------

_CHILD_SEALED = [s for s in SEALED if s.table == "child"]
_CHILD_KEYED = [k for k in KEYED if k.table == "child"]


def _child_values(row: Any, class_name: str, plain: dict[str, str]) -> dict[str, Any]:
    """The record's cleaned values, as ``check_child`` made them when the record was saved (the
    input of ``content_key``): the form's values with the personal numbers in the clear."""
    shown = SimpleNamespace(**{**row._mapping, **{s.column: None for s in _CHILD_SEALED}})
    values = children.form_values(shown, class_name)  # type: ignore[arg-type]
    values["document_number"] = plain.get("id_cipher") or None
    for prefix in ("guardian1", "guardian2"):
        values[f"{prefix}_phone"] = plain.get(f"{prefix}_phone_cipher") or None
    values["origin_number"] = plain.get("origin_number_cipher") or None
    checked = children.check_child(values, class_names=[class_name] if class_name else [], today=workflow.local_today())
    return checked.values


def _child_hashes(row: Any, plain: dict[str, str], values: dict[str, Any] | None) -> dict[str, str | None]:
    """Every keyed hash of a child row, computed with the key in force (``crypto.using_key``)."""
    number = plain.get("id_cipher")
    hashes: dict[str, str | None] = {
        "id_hash": children.document_hash(row.document_type, number) if number else None,
        "identity_hash": children.identity_key(row.name, row.gender, row.birth_date.isoformat()),
        "content_hash": children.content_key(values) if values is not None else None,
    }
    for prefix in ("guardian1", "guardian2"):
        phone = plain.get(f"{prefix}_phone_cipher")
        hashes[f"{prefix}_phone_hash"] = crypto.lookup_hash(phone, children.CTX_PHONE) if phone else None
    student = plain.get("student_number_cipher")
    hashes["student_number_hash"] = crypto.lookup_hash(student, children.CTX_STUDENT_NUMBER) if student else None
    return hashes


def _rotate_children(session: Session, old: str, new: str, batch: int, say: Echo, result: RotationResult) -> None:
    table: Table = Child.__table__  # type: ignore[attr-defined]
    classes: Table = SchoolClass.__table__  # type: ignore[attr-defined]
    total = session.execute(select(table.c.id).order_by(table.c.id.desc()).limit(1)).scalar() or 0
    columns = [s.column for s in _CHILD_SEALED] + [k.column for k in _CHILD_KEYED]
    statement = (
        update(table).where(table.c.id == bindparam("b_id")).values({name: bindparam(f"b_{name}") for name in columns})
    )
    last = 0
    while True:
        rows = session.execute(select(table).where(table.c.id > last).order_by(table.c.id).limit(batch)).all()
        if not rows:
            break
        class_ids = {r.class_id for r in rows if r.class_id is not None}
        names = (
            dict(session.execute(select(classes.c.id, classes.c.name).where(classes.c.id.in_(class_ids))).all())
            if class_ids
            else {}
        )
        changes: list[dict[str, Any]] = []
        expected: dict[int, dict[str, str]] = {}
        for row in rows:
            plain: dict[str, str] = {}
            change: dict[str, Any] = {"b_id": row.id}
            for sealed in _CHILD_SEALED:
                token = getattr(row, sealed.column)
                where = f"幼儿记录（id {row.id}）的 {sealed.column}"
                if token:
                    plain[sealed.column] = _open(token, sealed.context, old, where)
                    change[f"b_{sealed.column}"] = _seal(plain[sealed.column], sealed.context, new)
                    result.values += 1
                else:
                    change[f"b_{sealed.column}"] = token
            content = row.content_hash
            values = _child_values(row, names.get(row.class_id, ""), plain) if content else None
            with crypto.using_key(old):
                before = _child_hashes(row, plain, values)
            with crypto.using_key(new):
                after = _child_hashes(row, plain, values)
            for keyed in _CHILD_KEYED:
                stored = getattr(row, keyed.column)
                if not stored:  # None or "": none to recompute (a cancelled number keeps none)
                    change[f"b_{keyed.column}"] = stored
                    continue
                if stored != before[keyed.column]:
                    result.mismatched[keyed.column] = result.mismatched.get(keyed.column, 0) + 1
                change[f"b_{keyed.column}"] = after[keyed.column]
                result.hashes += 1
            changes.append(change)
            expected[row.id] = plain
        session.execute(statement, changes)
        _verify_children(session, table, expected, changes, new)
        result.children += len(rows)
        last = rows[-1].id
        say(f"  children: {result.children:,} rows (id up to {last:,} of {total:,})")


def _verify_children(
    session: Session, table: Table, expected: dict[int, dict[str, str]], changes: list[dict[str, Any]], new: str
) -> None:
    """Read the batch back inside the transaction: every sealed value opens with the new key to the
    old plaintext, every hash is the one computed."""
    wanted = {c["b_id"]: c for c in changes}
    for row in session.execute(select(table).where(table.c.id.in_(list(expected)))).all():
        for sealed in _CHILD_SEALED:
            token = getattr(row, sealed.column)
            plain = expected[row.id].get(sealed.column)
            opened = crypto.decrypt(token, sealed.context, key=new) if token else None
            if opened != plain:
                raise KeyRotationError(f"幼儿记录（id {row.id}）的 {sealed.column} 写入后核对不一致：未做任何修改。")
        for keyed in _CHILD_KEYED:
            if getattr(row, keyed.column) != wanted[row.id][f"b_{keyed.column}"]:
                raise KeyRotationError(f"幼儿记录（id {row.id}）的 {keyed.column} 写入后核对不一致：未做任何修改。")


# --- accounts and JSON payloads -------------------------------------------------------------------


def _rotate_sealed_column(
    session: Session, sealed: Sealed, table: Table, old: str, new: str, batch: int, result: RotationResult
) -> int:
    column = table.c[sealed.column]
    key = next(iter(table.primary_key.columns))
    count, last = 0, None
    while True:
        query = select(key, column).where(column.is_not(None), column != "").order_by(key).limit(batch)
        if last is not None:
            query = query.where(key > last)
        rows = session.execute(query).all()
        if not rows:
            return count
        plain = {}
        for row_key, token in rows:
            where = f"{sealed.table}（{row_key}）的 {sealed.column}"
            plain[row_key] = _open(token, sealed.context, old, where)
            session.execute(
                update(table).where(key == row_key).values({sealed.column: _seal(plain[row_key], sealed.context, new)})
            )
        for row_key, token in session.execute(select(key, column).where(key.in_(list(plain)))).all():
            if crypto.decrypt(token, sealed.context, key=new) != plain[row_key]:
                raise KeyRotationError(
                    f"{sealed.table}（{row_key}）的 {sealed.column} 写入后核对不一致：未做任何修改。"
                )
        count += len(rows)
        result.values += len(rows)
        last = rows[-1][0]


def _rotate_json(session: Session, old: str, new: str, batch: int, result: RotationResult) -> None:
    table: Table = Request.__table__  # type: ignore[attr-defined]
    known = {(j.column, j.key): j.context for j in SEALED_IN_JSON if j.table == "request"}
    json_columns = sorted({j.column for j in SEALED_IN_JSON if j.table == "request"})
    last = 0
    while True:
        condition = or_(*(table.c[name].like("%\\_cipher%", escape="\\") for name in json_columns))
        rows = session.execute(
            select(table.c.id, *(table.c[name] for name in json_columns))
            .where(table.c.id > last, condition)
            .order_by(table.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            changed: dict[str, str] = {}
            checks: list[tuple[str, str, str, str]] = []  # column, token, context, plaintext
            for name in json_columns:
                text = getattr(row, name)
                if not text:
                    continue
                rewritten = text
                for key, token in _TOKEN_IN_JSON.findall(text):
                    context = known.get((name, key))
                    where = f"申请（id {row.id}）{name} 中的 {key}"
                    if context is None:
                        raise KeyRotationError(f"{where} 是未登记的加密字段：请先在 portal/services/keys.py 中登记。")
                    plain = _open(token, context, old, where)
                    fresh = _seal(plain, context, new)
                    rewritten = rewritten.replace(token, fresh)
                    checks.append((name, fresh, context, plain))
                    result.values += 1
                if rewritten != text:
                    json.loads(rewritten)  # still JSON
                    changed[name] = rewritten
            if changed:
                session.execute(update(table).where(table.c.id == row.id).values(changed))
                stored = session.execute(select(*(table.c[n] for n in changed)).where(table.c.id == row.id)).one()
                texts = dict(zip(changed, stored, strict=True))
                for name, token, context, plain in checks:
                    if token not in texts[name] or crypto.decrypt(token, context, key=new) != plain:
                        raise KeyRotationError(f"申请（id {row.id}）写入后核对不一致：未做任何修改。")
                result.requests += 1
        last = rows[-1].id


# --- the rotation ---------------------------------------------------------------------------------


def rotate_encryption_key(new_key: str, *, batch: int = 500, echo: Echo | None = None) -> RotationResult:
    """Re-encrypt every sealed value and recompute every keyed hash with ``new_key``, in one
    transaction, each new value checked to open to the old plaintext before the commit. The current
    key is the configured one (``PORTAL_ENCRYPTION_KEY``). Afterwards the operator puts the new key
    in the secrets file or the environment (``python -m portal keys rotate`` offers to) and starts
    the portal again."""
    say: Echo = echo or (lambda _line: None)
    started = time.monotonic()
    old = crypto.active_secret()
    check_new_key(new_key, old)
    if batch < 1:
        raise KeyRotationError("批大小至少为 1。")
    result = RotationResult()
    with db.session_scope(write=True) as session:
        say("re-encrypting children's personal numbers and recomputing their look-up hashes …")
        _rotate_children(session, old, new_key, batch, say, result)
        for sealed in SEALED:
            if sealed.table == "child":
                continue
            table: Table = {"user_account": User.__table__}[sealed.table]  # type: ignore[attr-defined]
            say(f"re-encrypting {sealed.table}.{sealed.column} …")
            result.users += _rotate_sealed_column(session, sealed, table, old, new_key, batch, result)
        say("re-encrypting sealed values in requests …")
        _rotate_json(session, old, new_key, batch, result)
        mismatched = "、".join(f"{k} {v}" for k, v in sorted(result.mismatched.items()))
        audit.record(
            session,
            SYSTEM_ACTOR,
            "key_rotate",
            object_type="encryption_key",
            object_id="PORTAL_ENCRYPTION_KEY",
            detail=(
                f"轮换个人信息加密密钥：幼儿记录 {result.children} 条、账户动态口令 {result.users} 个、"
                f"申请 {result.requests} 条；重新加密 {result.values} 个值，重算查询哈希 {result.hashes} 个"
                + (f"（其中按当前值重算：{mismatched}）" if mismatched else "")
            )[:500],
        )
    result.seconds = time.monotonic() - started
    return result


# --- where the key lives --------------------------------------------------------------------------


def secrets_file_has_key() -> bool:
    path = secrets_file()
    if not path.is_file():
        return False
    with path.open("rb") as fh:
        portal = tomllib.load(fh).get("portal", {})
    return isinstance(portal, dict) and any(str(k).lower() == "encryption_key" for k in portal)


def key_source() -> str:
    """Where the configured key comes from: "environment", "file" (the secrets file) or "none"."""
    if os.environ.get("PORTAL_ENCRYPTION_KEY"):
        return "environment"
    return "file" if secrets_file_has_key() else "none"


def update_secrets_file(new_key: str, path: Path | None = None) -> Path:
    """Replace ``encryption_key`` in the ``[portal]`` table of the secrets file (everything else kept),
    atomically, readable by the owner only; checked by reading it back."""
    path = path or secrets_file()
    check_new_key(new_key, "")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    section, replaced = "", False
    assignment = re.compile(r"^\s*encryption_key\s*=", re.IGNORECASE)
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped.strip("[]").strip()
        elif section == "portal" and assignment.match(line):
            lines[index] = f'encryption_key = "{new_key}"\n'
            replaced = True
    if not replaced:
        raise KeyRotationError(f"{path} 的 [portal] 中没有 encryption_key：请手工写入新密钥。")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.chmod(0o600)
    with tmp.open("rb") as fh:
        if tomllib.load(fh).get("portal", {}).get("encryption_key") != new_key:
            tmp.unlink()
            raise KeyRotationError(f"改写 {path} 后读回的密钥不符：文件未改动，请手工写入新密钥。")
    os.replace(tmp, path)
    return path
