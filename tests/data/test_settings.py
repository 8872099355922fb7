"""Settings: secrets are required, read from the environment or the secrets file."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.settings import SettingsError, load_settings


def test_secrets_from_environment_are_accepted() -> None:
    load_settings().require_secrets()  # the autouse fixture sets both


def test_missing_secret_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTAL_COOKIE_KEY")
    with pytest.raises(SettingsError, match="PORTAL_COOKIE_KEY"):
        load_settings().require_secrets()


def test_short_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_ENCRYPTION_KEY", "short")
    with pytest.raises(SettingsError, match="PORTAL_ENCRYPTION_KEY"):
        load_settings().require_secrets()


def test_secrets_file_is_read_when_environment_is_silent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text('[portal]\ncookie_key = "' + "c" * 40 + '"\nencryption_key = "' + "e" * 40 + '"\n')
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(path))
    monkeypatch.delenv("PORTAL_COOKIE_KEY")
    monkeypatch.delenv("PORTAL_ENCRYPTION_KEY")
    settings = load_settings()
    settings.require_secrets()
    assert settings.cookie_key == "c" * 40


def test_defaults_follow_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PORTAL_BCRYPT_ROUNDS")
    settings = load_settings()
    assert settings.province_code == "41"
    assert settings.login_max_failures == 5
    assert settings.login_failure_window_minutes == 15
    assert settings.lockout_minutes == 30
    assert settings.session_idle_minutes == 30
    assert settings.cookie_relogin is False
    assert settings.database_url.startswith("sqlite:///") and "/var/" in settings.database_url


@pytest.mark.parametrize(("name", "value"), [("PORTAL_PROVINCE_CODE", "4"), ("PORTAL_DEPLOYMENT", "city")])
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError):
        load_settings()


def test_non_numeric_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_LOCKOUT_MINUTES", "half an hour")
    with pytest.raises(SettingsError, match="PORTAL_LOCKOUT_MINUTES"):
        load_settings()
