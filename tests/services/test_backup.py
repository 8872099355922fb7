"""Backups: a verified copy with its manifest, the last N kept, restore into an empty database only,
every table compared with the source after the round trip (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from portal.data import db
from portal.data.models import AuditLog
from portal.services import backup as backups
from portal.services.backup import BackupError, backup, restore, table_fingerprint, table_fingerprints
from portal.services.demo import load_demo
from tests.conftest import DEMO_PASSWORD, load_henan_regions

AUDIT_TABLES = {"audit_log", "audit_chain_head"}  # the restore adds its own audit row to these


@pytest.fixture
def full_demo(database: str) -> str:
    """The full demo (requests in every state, children, transfers, a problem record): most tables
    have rows."""
    load_henan_regions()
    load_demo(DEMO_PASSWORD)
    return database


@pytest.fixture
def restore_target(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database to restore into: a new SQLite file, or a new PostgreSQL database (created
    with a unique name, dropped afterwards) whose search path is the source's schema."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'portal.db'}"
        return
    source = make_url(database_url)
    name = f"restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(source.set(query={}), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield source.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _audit_actions(engine: object | None = None) -> list[tuple[str, str, str]]:
    target = engine or db.get_engine()
    with target.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            select(AuditLog.action, AuditLog.object_id, AuditLog.outcome).order_by(AuditLog.id)  # type: ignore[arg-type]
        ).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_round_trip_restores_every_table_equal_to_the_source(
    full_demo: str, restore_target: str, tmp_path: Path
) -> None:
    result = backup(tmp_path / "backups", keep=3)
    source = table_fingerprints(db.get_engine())
    assert sum(1 for rows, _h in source.values() if rows > 0) >= 18  # most tables have rows
    # The manifest describes the source at the moment of the copy, the backup's audit row included.
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert {name: tuple(v) for name, v in manifest["tables"].items()} == source
    assert manifest["kind"] == result.kind == db.get_engine().dialect.name
    assert manifest["alembic_revision"] == result.revision and result.revision
    assert manifest["sha256"] == result.sha256 == backups._file_sha256(result.path)
    assert _audit_actions()[-1] == ("backup", result.path.name, "success")

    restored = restore(result.path, restore_target)
    assert (restored.tables, restored.rows) == (result.tables, result.rows)
    assert not restored.needs_upgrade

    kwargs = {}
    if restored.schema:
        kwargs["connect_args"] = {"options": f"-csearch_path={restored.schema}"}
    target = db.build_engine(restore_target, **kwargs)
    try:
        copy = table_fingerprints(target)
        # Every table's row count and content hash equal the source's ...
        assert {n: v for n, v in copy.items() if n not in AUDIT_TABLES} == {
            n: v for n, v in source.items() if n not in AUDIT_TABLES
        }
        # ... and the audit log too, up to the restore's own row, written after the comparison.
        last_source_id = _max_audit_id(db.get_engine())
        assert table_fingerprint(target, "audit_log", AuditLog.id <= last_source_id) == source["audit_log"]  # type: ignore[arg-type,operator]
        assert copy["audit_log"][0] == source["audit_log"][0] + 1
        assert _audit_actions(target)[-1] == ("restore", result.path.name, "success")
    finally:
        target.dispose()


def _max_audit_id(engine: object) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return int(conn.execute(select(func.max(AuditLog.id))).scalar_one())  # type: ignore[arg-type]


def test_keeps_the_newest_backups_and_nothing_else(database: str, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "notes.txt").write_text("kept")
    (folder / "portal-old.sqlite3").write_text("not ours by name: kept")
    start = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    made = [backup(folder, keep=2, now=start + timedelta(days=day)) for day in range(4)]
    assert made[-1].deleted == [made[1].path] and made[2].deleted == [made[0].path]
    suffix = made[0].path.suffix
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            "notes.txt",
            "portal-old.sqlite3",
            f"portal-20261103-020000{suffix}",
            f"portal-20261103-020000{suffix}.manifest.json",
            f"portal-20261104-020000{suffix}",
            f"portal-20261104-020000{suffix}.manifest.json",
        ]
    )
    # Two backups in the same second get distinct names.
    again = backup(folder, keep=5, now=start + timedelta(days=3))
    assert again.path.name == f"portal-20261104-020000-2{suffix}"
    with pytest.raises(BackupError):
        backup(folder, keep=0)


def test_restore_refuses_a_database_that_has_tables(database: str, tmp_path: Path) -> None:
    result = backup(tmp_path / "backups")
    before = table_fingerprints(db.get_engine())
    with pytest.raises(BackupError, match="不是空的"):
        restore(result.path, database)
    assert table_fingerprints(db.get_engine()) == before


def test_restore_refuses_a_tampered_backup_and_changes_nothing(
    database: str, restore_target: str, tmp_path: Path
) -> None:
    result = backup(tmp_path / "backups")
    with result.path.open("r+b") as fh:
        fh.seek(result.size // 2)
        byte = fh.read(1)
        fh.seek(result.size // 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(BackupError, match="SHA-256 与清单不符"):
        restore(result.path, restore_target)
    _assert_empty(restore_target)
    # A backup without its manifest is refused too.
    other = backup(tmp_path / "backups")
    other.manifest_path.unlink()
    with pytest.raises(BackupError, match="找不到备份清单"):
        restore(other.path, restore_target)
    _assert_empty(restore_target)


def _assert_empty(url: str) -> None:
    if url.startswith("sqlite"):
        assert not Path(make_url(url).database or "").exists()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
            ).scalar_one()
        assert tables == 0
    finally:
        engine.dispose()


def test_restore_of_another_kind_or_a_missing_file_is_refused(database: str, tmp_path: Path) -> None:
    result = backup(tmp_path / "backups")
    other = "postgresql://nobody@127.0.0.1:1/none" if result.kind == "sqlite" else f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(BackupError, match="不能恢复到"):
        restore(result.path, other)
    with pytest.raises(BackupError, match="不存在"):
        restore(tmp_path / "missing.sqlite3", other)


def test_a_restore_that_does_not_match_the_manifest_is_reported(
    database: str, restore_target: str, tmp_path: Path
) -> None:
    result = backup(tmp_path / "backups")
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    manifest["tables"]["region"] = [manifest["tables"]["region"][0] + 1, "0" * 64]
    result.manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BackupError, match=r"region（行数"):
        restore(result.path, restore_target)


def test_a_failed_backup_says_why_and_leaves_no_file(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL without pg_dump on the PATH; SQLite with a copy that fails its verification."""
    if database.startswith("postgresql"):
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        expected = "找不到 pg_dump"
    else:
        monkeypatch.setattr(backups, "_differences", lambda _a, _b: ["region（行数相同，内容不同）"])
        expected = "备份副本与数据库不一致：region"
    folder = tmp_path / "backups"
    with pytest.raises(BackupError, match=expected):
        backup(folder)
    assert list(folder.iterdir()) == []
    assert _audit_actions()[-1][0::2] == ("backup", "failure")


def test_fingerprints_see_any_change(database: str) -> None:
    before = table_fingerprints(db.get_engine())
    assert before["alembic_version"][0] == 1 and before["region"] == (0, before["region"][1])
    load_henan_regions()
    after = table_fingerprints(db.get_engine())
    assert after["region"][0] > 0 and after["alembic_version"] == before["alembic_version"]
    with db.get_engine().begin() as conn:
        conn.execute(text("UPDATE region SET name = name || '·' WHERE code = '410100'"))
    changed = table_fingerprints(db.get_engine())
    assert changed["region"][0] == after["region"][0] and changed["region"][1] != after["region"][1]


def test_default_directory_and_keep_come_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from portal.settings import VAR_DIR, reset_settings_cache

    assert (backups.default_directory(), backups.default_keep()) == (VAR_DIR / "backups", 14)
    monkeypatch.setenv("PORTAL_BACKUP_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("PORTAL_BACKUP_KEEP", "3")
    reset_settings_cache()
    assert (backups.default_directory(), backups.default_keep()) == (tmp_path / "elsewhere", 3)
