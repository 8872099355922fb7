"""Backups: a consistent copy of the database, verified, with a manifest; restore into an empty one.

``backup`` writes ``portal-YYYYmmdd-HHMMSS.sqlite3`` (SQLite, the online backup API) or
``portal-YYYYmmdd-HHMMSS.dump`` (PostgreSQL, ``pg_dump --format=custom``), the time in UTC, and
beside it ``<file>.manifest.json``: the database kind, the migration revision, the time, every
table's row count and content hash, and the file's SHA-256.

Verified means: the fingerprints in the manifest are taken from the source *in the same snapshot
as the copy* (SQLite: one read transaction holds both the fingerprints and the backup; PostgreSQL:
a REPEATABLE READ transaction exports its snapshot and ``pg_dump --snapshot`` dumps exactly it),
and the copy is checked before it gets its final name: SQLite's copy passes ``PRAGMA
integrity_check`` and its own fingerprints equal the source's; a dump is read back by
``pg_restore --list`` and holds the data of every table with rows. ``restore`` checks the file
against its manifest, loads it into an empty database and compares every table again.

A fingerprint is (row count, SHA-256 of the rows in primary-key order, each row serialised
canonically), streamed in batches: SQLite against SQLite and PostgreSQL against PostgreSQL compare
equal when the data are the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, MetaData, String, Table, create_engine, inspect, select, text
from sqlalchemy.engine import URL, make_url
from sqlmodel import Session, SQLModel

from portal.auth.actor import SYSTEM_ACTOR
from portal.data import db
from portal.data import models as _models  # noqa: F401  (every table in the metadata)
from portal.services import audit
from portal.services.errors import ServiceError
from portal.settings import VAR_DIR, get_settings

Echo = Callable[[str], None]

SUFFIXES = {"sqlite": ".sqlite3", "postgresql": ".dump"}
BACKUP_NAME = re.compile(r"^portal-(\d{8}-\d{6})(?:-(\d+))?\.(sqlite3|dump)$")
MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = 1
BATCH = 2000  # rows fetched at a time while fingerprinting
MISSING = (-1, "missing")  # the fingerprint of a table the database does not have

Fingerprints = dict[str, tuple[int, str]]


class BackupError(ServiceError):
    """A backup or restore refused or failed; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest_path: Path
    kind: str  # sqlite / postgresql
    revision: str | None
    tables: int
    rows: int
    size: int
    sha256: str
    seconds: float
    deleted: list[Path] = field(default_factory=list)  # older backups removed (keep-last-N)


@dataclass(frozen=True)
class RestoreResult:
    path: Path
    target: str  # the target URL, password hidden
    kind: str
    revision: str | None
    head_revision: str | None  # the code's newest migration: ``db upgrade`` when they differ
    schema: str | None  # PostgreSQL: the schema the data went into
    tables: int
    rows: int
    seconds: float

    @property
    def needs_upgrade(self) -> bool:
        return self.revision != self.head_revision


# --- fingerprints ---------------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    """json.dumps' fallback for the values a row can hold, the same on every run and engine."""
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, date | dtime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def _row_line(row: Iterable[Any]) -> bytes:
    return json.dumps(list(row), ensure_ascii=False, separators=(",", ":"), default=_canonical).encode("utf-8")


def _table_names(conn: Connection) -> list[str]:
    present = set(inspect(conn).get_table_names())
    return sorted(present | set(SQLModel.metadata.tables) | {"alembic_version"})


def _table_digest(conn: Connection, table: Table, where: Any = None, echo: Echo | None = None) -> tuple[int, str]:
    keys = list(table.primary_key.columns) or list(table.columns)
    postgres = conn.dialect.name == "postgresql"
    # Text keys in byte order on PostgreSQL, whatever the database's collation (a restored database
    # may have another default collation); SQLite's default collation is binary already.
    order = [c.collate("C") if postgres and isinstance(c.type, String) else c for c in keys]
    query = select(*table.columns).order_by(*order)
    if where is not None:
        query = query.where(where)
    digest = hashlib.sha256(f"{table.name}\n{','.join(c.name for c in table.columns)}\n".encode())
    count = 0
    result = conn.execute(query.execution_options(yield_per=BATCH))
    for row in result:
        digest.update(_row_line(row))
        digest.update(b"\n")
        count += 1
        if echo is not None and count % 100_000 == 0:
            echo(f"  {table.name}: {count:,} rows …")
    return count, digest.hexdigest()


def _reflected(conn: Connection, name: str) -> Table | None:
    if not inspect(conn).has_table(name):
        return None
    known = SQLModel.metadata.tables.get(name)
    return known if known is not None else Table(name, MetaData(), autoload_with=conn)


def _fingerprints(conn: Connection, echo: Echo | None = None) -> Fingerprints:
    """Every table of the metadata, alembic_version and any other table present, on ``conn``'s
    current transaction (call it inside one, so that all tables come from one snapshot)."""
    prints: Fingerprints = {}
    for name in _table_names(conn):
        table = _reflected(conn, name)
        prints[name] = MISSING if table is None else _table_digest(conn, table, echo=echo)
    return prints


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection inside one read transaction (REPEATABLE READ on PostgreSQL: one snapshot)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def table_fingerprints(engine: Engine, echo: Echo | None = None) -> Fingerprints:
    """{table: (row count, SHA-256 of its rows in primary-key order)} for every table, read in one
    snapshot and streamed in batches (constant memory)."""
    with _snapshot(engine) as conn:
        return _fingerprints(conn, echo)


def table_fingerprint(engine: Engine, name: str, where: Any = None) -> tuple[int, str]:
    """One table's fingerprint, optionally of the rows matching ``where`` only (a SQL expression on
    the metadata's table)."""
    with _snapshot(engine) as conn:
        table = _reflected(conn, name)
        return MISSING if table is None else _table_digest(conn, table, where)


def _revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _differences(expected: Fingerprints, actual: Fingerprints) -> list[str]:
    lines = []
    for name in sorted(set(expected) | set(actual)):
        want, got = tuple(expected.get(name, MISSING)), tuple(actual.get(name, MISSING))
        if want == got:
            continue
        if want[0] == -1 or got[0] == -1:
            lines.append(f"{name}（{'备份中没有此表' if want[0] == -1 else '缺少此表'}）")
        elif want[0] != got[0]:
            lines.append(f"{name}（行数 {want[0]} ≠ {got[0]}）")
        else:
            lines.append(f"{name}（行数相同，内容不同）")
    return lines


# --- files and manifests --------------------------------------------------------------------------


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_path_of(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest beside backup file ``path`` (BackupError if missing or unreadable)."""
    manifest_path = manifest_path_of(path)
    if not manifest_path.is_file():
        raise BackupError(f"找不到备份清单 {manifest_path.name}：没有清单的备份无法核对，拒绝恢复。")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError("unknown format")
        manifest["tables"] = {name: (int(v[0]), str(v[1])) for name, v in manifest["tables"].items()}
        str(manifest["sha256"])
        str(manifest["kind"])
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise BackupError(f"备份清单 {manifest_path.name} 无法读取或格式不对：{exc}") from exc
    return manifest


def _backup_files(directory: Path) -> list[Path]:
    """This portal's backups in ``directory``, oldest first (by the UTC time in the name)."""

    def order(path: Path) -> tuple[str, int]:
        match = BACKUP_NAME.match(path.name)
        assert match is not None
        return match.group(1), int(match.group(2) or 1)

    return sorted((p for p in directory.iterdir() if p.is_file() and BACKUP_NAME.match(p.name)), key=order)


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups of this portal's naming pattern (with their
    manifests); other files are never touched. Returns the deleted backups."""
    if keep < 1:
        raise BackupError("保留份数至少为 1。")
    old = _backup_files(directory)[:-keep]
    for path in old:
        path.unlink(missing_ok=True)
        manifest_path_of(path).unlink(missing_ok=True)
    return old


def _new_name(directory: Path, kind: str, now: datetime) -> str:
    stamp = now.astimezone(UTC).strftime("%Y%m%d-%H%M%S")
    suffix = SUFFIXES[kind]
    taken = {p.name.split(".")[0] for p in directory.iterdir()}
    name, n = f"portal-{stamp}", 1
    while name in taken:
        n += 1
        name = f"portal-{stamp}-{n}"
    return name + suffix


def default_directory() -> Path:
    configured = str(getattr(get_settings(), "backup_dir", "") or "")
    return Path(configured) if configured else VAR_DIR / "backups"


def default_keep() -> int:
    return int(getattr(get_settings(), "backup_keep", 14) or 14)


def _safe_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


# --- PostgreSQL client tools ----------------------------------------------------------------------

_LIBPQ_QUERY = {
    "options": "PGOPTIONS",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "host": "PGHOST",
    "port": "PGPORT",
}


def _libpq_env(url: URL) -> dict[str, str]:
    """The environment that points pg_dump/pg_restore at ``url`` (the password never on the
    command line, where ``ps`` would show it)."""
    env = dict(os.environ)
    for name, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value is not None and value != "":
            env[name] = str(value)
    for key, value in url.query.items():
        name = _LIBPQ_QUERY.get(key)
        if name:
            env[name] = value[-1] if isinstance(value, tuple) else str(value)
    return env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"找不到 {name}（PostgreSQL 客户端工具）：请安装与数据库服务器同一大版本的客户端，"
            f"例如 Debian/Ubuntu 上 apt-get install postgresql-client-15，并确保它在 PATH 中。"
            f"({name} not found on PATH: install the PostgreSQL client of the server's major version.)"
        )
    return found


def _tool_major(tool: str) -> int:
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if match is None:
        raise BackupError(f"无法识别 {tool} 的版本：{out.strip()!r}")
    return int(match.group(1))


def _check_dump_version(pg_dump: str, server_version_num: int) -> int:
    tool, server = _tool_major(pg_dump), server_version_num // 10000
    if tool < server:
        raise BackupError(
            f"pg_dump 的版本（{tool}）低于数据库服务器（{server}），无法备份：请安装 postgresql-client-{server}"
            f"并让它排在 PATH 前面。(pg_dump {tool} cannot dump a PostgreSQL {server} server.)"
        )
    return tool


def _quoted_pattern(schema: str) -> str:
    return '"' + schema.replace('"', '""') + '"'


def _run_tool(args: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(
            f"{what}失败（{Path(args[0]).name} 退出码 {result.returncode}）：{result.stderr.strip()[-1500:]}"
        )
    return result.stdout


# --- backup ---------------------------------------------------------------------------------------


def _backup_sqlite(engine: Engine, partial: Path, echo: Echo) -> tuple[Fingerprints, str | None, dict[str, Any]]:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("只能备份 SQLite 数据库文件（不是内存数据库）。")
    echo("reading the database and copying it (SQLite online backup) …")
    with engine.connect() as conn, conn.begin():
        # One read transaction: the fingerprints and the copy see the same snapshot (WAL lets
        # writers go on meanwhile; their changes are in neither).
        fingerprints = _fingerprints(conn, echo)
        revision = _revision(conn)
        target = sqlite3.connect(partial)
        try:
            conn.connection.dbapi_connection.backup(target)  # type: ignore[union-attr]
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            target.close()
    echo("verifying the copy (integrity check and every table's fingerprint) …")
    copy = create_engine(f"sqlite:///{partial.resolve().as_uri()}?mode=ro&uri=true")
    try:
        with copy.connect() as conn:
            check = [row[0] for row in conn.exec_driver_sql("PRAGMA integrity_check").all()]
        if check != ["ok"]:
            raise BackupError("备份副本未通过完整性检查（PRAGMA integrity_check）：" + "；".join(check[:5]))
        differences = _differences(fingerprints, table_fingerprints(copy))
    finally:
        copy.dispose()
    if differences:
        raise BackupError("备份副本与数据库不一致：" + "、".join(differences))
    return fingerprints, revision, {"integrity_check": "ok", "sqlite_version": sqlite3.sqlite_version}


def _backup_postgres(engine: Engine, partial: Path, echo: Echo) -> tuple[Fingerprints, str | None, dict[str, Any]]:
    pg_dump = _pg_tool("pg_dump")
    pg_restore = _pg_tool("pg_restore")
    env = _libpq_env(engine.url)
    with _snapshot(engine) as conn:
        server = int(conn.execute(text("SHOW server_version_num")).scalar_one())
        tool = _check_dump_version(pg_dump, server)
        schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
        echo(f"pg_dump of schema {schema} in snapshot {snapshot}, fingerprints meanwhile …")
        args = [
            pg_dump,
            "--format=custom",
            "--no-password",
            f"--snapshot={snapshot}",
            f"--schema={_quoted_pattern(schema)}",
            f"--file={partial}",
        ]
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=errors)
            try:
                # The same snapshot as pg_dump's: the manifest describes the dump exactly.
                fingerprints = _fingerprints(conn, echo)
                revision = _revision(conn)
            finally:
                code = process.wait()  # the snapshot must stay exported until pg_dump has it
            errors.seek(0)
            message = errors.read().decode("utf-8", "replace").strip()
    if code != 0:
        raise BackupError(f"pg_dump 失败（退出码 {code}）：{message[-1500:]}")
    echo("verifying the dump (pg_restore --list) …")
    listing = _run_tool([pg_restore, "--list", str(partial)], env, "读取备份目录（pg_restore --list）")
    dumped = set(re.findall(r"TABLE DATA \S+ (\S+) ", listing))
    lacking = [name for name, (rows, _h) in fingerprints.items() if rows > 0 and name not in dumped]
    if lacking:
        raise BackupError("备份文件缺少以下表的数据：" + "、".join(lacking))
    return fingerprints, revision, {"schema": schema, "server_version_num": server, "pg_dump_major": tool}


def backup(
    directory: str | Path | None = None,
    keep: int | None = None,
    *,
    echo: Echo | None = None,
    now: datetime | None = None,
) -> BackupResult:
    """Back up the portal's database into ``directory`` (default ``backup_dir``, var/backups), verify
    the copy, write its manifest and keep the newest ``keep`` backups (default ``backup_keep``)."""
    say: Echo = echo or (lambda _line: None)
    started = time.monotonic()
    folder = Path(directory) if directory else default_directory()
    keep = default_keep() if keep is None else keep
    if keep < 1:
        raise BackupError("保留份数至少为 1。")
    engine = db.get_engine()
    kind = engine.dialect.name
    if kind not in SUFFIXES:
        raise BackupError(f"不支持备份 {kind} 数据库。")
    folder.mkdir(parents=True, exist_ok=True)
    created = (now or datetime.now(UTC)).astimezone(UTC)
    name = _new_name(folder, kind, created)
    path = folder / name
    partial = path.with_name(name + ".partial")
    manifest_path = manifest_path_of(path)
    # The audit row first, committed, so that the backup holds it and its fingerprints compare.
    with db.session_scope(write=True) as session:
        audit.record(
            session,
            SYSTEM_ACTOR,
            "backup",
            object_type="backup",
            object_id=name,
            detail=f"数据库备份：{name}（{kind}），保留最近 {keep} 份",
        )
    try:
        backup_one = _backup_sqlite if kind == "sqlite" else _backup_postgres
        fingerprints, revision, extra = backup_one(engine, partial, say)
        size, sha256 = partial.stat().st_size, _file_sha256(partial)
        manifest = {
            "format": MANIFEST_FORMAT,
            "file": name,
            "kind": kind,
            "created_at": created.isoformat(),
            "alembic_revision": revision,
            "source": _safe_url(engine.url),
            "size": size,
            "sha256": sha256,
            "tables": {table: list(value) for table, value in fingerprints.items()},
            **extra,
        }
        _write_manifest(manifest_path, manifest)
        os.replace(partial, path)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        manifest_path.unlink(missing_ok=True)
        with suppress(Exception), db.session_scope(write=True) as session:  # never hide the failure itself
            audit.record(
                session,
                SYSTEM_ACTOR,
                "backup",
                object_type="backup",
                object_id=name,
                detail=f"数据库备份失败：{exc}"[:500],
                outcome="failure",
            )
        raise
    deleted = prune(folder, keep)
    return BackupResult(
        path=path,
        manifest_path=manifest_path,
        kind=kind,
        revision=revision,
        tables=sum(1 for rows, _h in fingerprints.values() if rows >= 0),
        rows=sum(rows for rows, _h in fingerprints.values() if rows > 0),
        size=size,
        sha256=sha256,
        seconds=time.monotonic() - started,
        deleted=deleted,
    )


# --- restore --------------------------------------------------------------------------------------


@contextmanager
def _session_on(engine: Engine) -> Iterator[Session]:
    """``db.session_scope(write=True)`` on another engine than the process's (the restored one)."""
    bind = engine.execution_options(sqlite_immediate=True) if engine.dialect.name == "sqlite" else engine
    session = Session(bind=bind, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


def _sqlite_objects(path: Path) -> int:
    try:
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            return int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"目标文件 {path} 不是空的 SQLite 数据库（{exc}）：只能恢复到空数据库。") from exc


def _load_sqlite(path: Path, url: URL, say: Echo) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("目标须是一个 SQLite 数据库文件，例如 sqlite:////srv/portal/var/portal.db。")
    target = Path(database)
    if target.exists() and target.stat().st_size > 0 and _sqlite_objects(target) > 0:
        raise BackupError(f"目标数据库 {target} 不是空的：只能恢复到空数据库（换一个新文件名，或先移走它）。")
    target.parent.mkdir(parents=True, exist_ok=True)
    say(f"loading {path.name} into {target} (SQLite online backup) …")
    source = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)
            destination.execute("PRAGMA journal_mode=WAL")  # the portal's mode
        finally:
            destination.close()
    finally:
        source.close()


def _pg_objects(engine: Engine, schema: str) -> tuple[int, bool]:
    with engine.connect() as conn:
        count = conn.execute(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'"
            )
        ).scalar_one()
        schema_exists = conn.execute(
            text("SELECT count(*) FROM pg_namespace WHERE nspname = :name"), {"name": schema}
        ).scalar_one()
    return int(count), bool(schema_exists)


def _search_path_option(schema: str) -> str:
    name = schema if re.fullmatch(r"[a-z_][a-z0-9_]*", schema) else '"' + schema.replace('"', '""') + '"'
    return f"-csearch_path={name}"


def _load_postgres(path: Path, url: URL, manifest: dict[str, Any], say: Echo) -> str:
    schema = str(manifest.get("schema") or "public")
    pg_restore = _pg_tool("pg_restore")
    probe = db.build_engine(url.render_as_string(hide_password=False))
    try:
        objects, schema_exists = _pg_objects(probe, schema)
    finally:
        probe.dispose()
    if objects:
        raise BackupError(
            f"目标数据库 {url.database} 不是空的（已有 {objects} 个表或序列）：只能恢复到空数据库"
            "（先 CREATE DATABASE 一个新库）。"
        )
    tool, dumped_by = _tool_major(pg_restore), int(manifest.get("pg_dump_major") or 0)
    if tool < dumped_by:
        raise BackupError(
            f"pg_restore 的版本（{tool}）低于生成备份的 pg_dump（{dumped_by}）：请安装 postgresql-client-{dumped_by}。"
        )
    env = _libpq_env(url)
    database = (url.database or "").replace("\\", "\\\\").replace("'", "\\'")
    args = [
        pg_restore,
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        "--no-password",
        f"--dbname=dbname='{database}'",
    ]
    say(f"loading {path.name} into database {url.database} (pg_restore, one transaction) …")
    with tempfile.TemporaryDirectory() as folder:
        if schema_exists:
            # The (empty) schema is there already, as ``public`` always is: leave out its CREATE.
            listing = _run_tool([pg_restore, "--list", str(path)], env, "读取备份目录（pg_restore --list）")
            own = re.compile(rf"^\d+; \d+ \d+ (SCHEMA - |COMMENT - SCHEMA ){re.escape(schema)} ")
            use_list = Path(folder) / "toc.list"
            use_list.write_text("".join(line for line in listing.splitlines(True) if not own.match(line)))
            args.append(f"--use-list={use_list}")
        _run_tool([*args, str(path)], env, "恢复（pg_restore）")
    return schema


def restore(path: str | Path, target_url: str, *, echo: Echo | None = None) -> RestoreResult:
    """Load backup ``path`` into the empty database at ``target_url``, then check that every table
    equals the manifest and record a ``restore`` audit row in the restored database.

    Refused, with nothing written: a file that differs from its manifest, a target of another kind,
    a target that has any tables."""
    say: Echo = echo or (lambda _line: None)
    started = time.monotonic()
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"备份文件不存在：{path}")
    manifest = read_manifest(path)
    say(f"checking {path.name} against its manifest (SHA-256) …")
    if _file_sha256(path) != manifest["sha256"]:
        raise BackupError(
            f"备份文件 {path.name} 的 SHA-256 与清单不符：文件已被修改或损坏，拒绝恢复（目标数据库未改动）。"
        )
    url = make_url(db.normalise_url(target_url))
    kind = url.get_backend_name()
    if kind != manifest["kind"]:
        raise BackupError(f"这是 {manifest['kind']} 数据库的备份，不能恢复到 {kind} 数据库。")
    schema: str | None = None
    if kind == "sqlite":
        _load_sqlite(path, url, say)
        engine = db.build_engine(url.render_as_string(hide_password=False))
    elif kind == "postgresql":
        schema = _load_postgres(path, url, manifest, say)
        engine = db.build_engine(
            url.render_as_string(hide_password=False), connect_args={"options": _search_path_option(schema)}
        )
    else:
        raise BackupError(f"不支持恢复到 {kind} 数据库。")
    try:
        say("comparing every table with the manifest …")
        restored = table_fingerprints(engine, echo=say)
        differences = _differences(manifest["tables"], restored)
        if differences:
            raise BackupError(
                "恢复后的数据与备份清单不一致：" + "、".join(differences) + "。请勿使用该数据库，换一个空库重新恢复。"
            )
        with _session_on(engine) as session:
            audit.record(
                session,
                SYSTEM_ACTOR,
                "restore",
                object_type="backup",
                object_id=path.name,
                detail=f"从备份 {path.name}（{manifest.get('created_at', '')}）恢复，"
                f"{len(restored)} 张表与清单核对一致"[:500],
            )
    finally:
        engine.dispose()
    return RestoreResult(
        path=path,
        target=_safe_url(url),
        kind=kind,
        revision=manifest.get("alembic_revision"),
        head_revision=_head_revision(),
        schema=schema,
        tables=sum(1 for rows, _h in restored.values() if rows >= 0),
        rows=sum(rows for rows, _h in restored.values() if rows > 0),
        seconds=time.monotonic() - started,
    )


def _head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from portal.data import migrate

    return ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
