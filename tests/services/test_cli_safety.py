"""`python -m portal backup | restore | keys rotate` through typer's runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from portal.__main__ import app
from portal.data import crypto, db
from portal.data.models import Child
from portal.services import children
from portal.services.backup import table_fingerprints
from portal.services.demo import load_demo
from portal.settings import reset_settings_cache
from tests.conftest import DEMO_PASSWORD, actor_for, load_henan_regions
from tests.services.test_backup import restore_target  # noqa: F401  (the fixture)

runner = CliRunner()
OLD = "test-encryption-key-" + "y" * 32  # tests/conftest.py's portal_env


def test_backup_then_restore_into_an_empty_database(database: str, restore_target: str, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "backups"
    made = runner.invoke(app, ["backup", str(folder), "--keep", "2"])
    assert made.exit_code == 0, made.output
    assert "backup written and verified" in made.output
    [path] = [p for p in folder.iterdir() if not p.name.endswith(".json")]
    assert (folder / (path.name + ".manifest.json")).is_file()

    restored = runner.invoke(app, ["restore", str(path), "--database-url", restore_target])
    assert restored.exit_code == 0, restored.output
    assert "every table equal to the manifest" in restored.output

    again = runner.invoke(app, ["restore", str(path), "--database-url", restore_target])
    assert again.exit_code == 1 and "不是空的" in again.output
    refused = runner.invoke(app, ["backup", str(folder), "--keep", "0"])
    assert refused.exit_code != 0


def _children_plaintexts() -> dict[int, str]:
    with db.session_scope() as session:
        return {
            c.id: children.decrypt_field(c.id_cipher, children.CTX_DOCUMENT)
            for c in session.exec(select(Child)).all()
            if c.id_cipher
        }


@pytest.fixture
def demo_children(database: str) -> dict[int, str]:
    load_henan_regions()
    load_demo(DEMO_PASSWORD)
    return _children_plaintexts()


def test_rotate_with_the_key_from_the_secrets_file_rewrites_it(
    demo_children: dict[int, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'[portal]\ncookie_key = "{"c" * 40}"\nencryption_key = "{OLD}"\n', encoding="utf-8")
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(secrets))
    monkeypatch.delenv("PORTAL_ENCRYPTION_KEY")
    reset_settings_cache()
    result = runner.invoke(app, ["keys", "rotate", "--yes"])
    assert result.exit_code == 0, result.output
    assert "key rotated" in result.output and f"new key written to {secrets}" in result.output
    assert "Stop every portal process" in result.output
    reset_settings_cache()
    new_key = crypto.active_secret()
    assert new_key != OLD and len(new_key) >= 32 and new_key not in result.output  # written, never shown
    assert _children_plaintexts() == demo_children
    number = next(iter(demo_children.values()))
    assert children.find_by_document(actor_for("demo-province"), "居民身份证", number)


def test_rotate_with_the_key_from_the_environment_says_what_to_update(
    demo_children: dict[int, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(app, ["keys", "rotate", "--yes"])
    assert result.exit_code == 0, result.output
    assert "PORTAL_ENCRYPTION_KEY in the portal's environment" in result.output
    new_key = result.output.split("new key (shown once; store it now):\n", 1)[1].split("\n", 1)[0]
    monkeypatch.setenv("PORTAL_ENCRYPTION_KEY", new_key)
    reset_settings_cache()
    assert _children_plaintexts() == demo_children

    given = "given-new-key-" + "g" * 40
    again = runner.invoke(app, ["keys", "rotate", "--yes"], env={"PORTAL_NEW_ENCRYPTION_KEY": given})
    assert again.exit_code == 0, again.output
    assert given not in again.output and "shown once" not in again.output
    monkeypatch.setenv("PORTAL_ENCRYPTION_KEY", given)
    reset_settings_cache()
    assert _children_plaintexts() == demo_children


def test_rotate_refused_or_declined_changes_nothing(demo_children: dict[int, str]) -> None:
    before = table_fingerprints(db.get_engine())
    short = runner.invoke(app, ["keys", "rotate", "--yes", "--new-key", "too-short"])
    assert short.exit_code == 1 and "太短" in short.output
    same = runner.invoke(app, ["keys", "rotate", "--yes", "--new-key", OLD])
    assert same.exit_code == 1 and "相同" in same.output
    declined = runner.invoke(app, ["keys", "rotate"], input="n\n")
    assert declined.exit_code == 1 and "nothing changed" in declined.output
    assert table_fingerprints(db.get_engine()) == before
