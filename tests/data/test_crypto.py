"""Encryption of personal data, keyed hashes and masking."""

from __future__ import annotations

import pytest

from portal.data.crypto import DecryptionError, decrypt, encrypt, lookup_hash, mask
from portal.settings import reset_settings_cache

CHILD = "410122202103150016"


def test_round_trip_with_fresh_nonces() -> None:
    first, second = encrypt(CHILD, "id_number"), encrypt(CHILD, "id_number")
    assert first != second and CHILD not in first
    assert decrypt(first, "id_number") == CHILD == decrypt(second, "id_number")


def test_context_and_key_are_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    token = encrypt(CHILD, "id_number")
    with pytest.raises(DecryptionError):
        decrypt(token, "phone")
    monkeypatch.setenv("PORTAL_ENCRYPTION_KEY", "another-key-" + "z" * 40)
    reset_settings_cache()
    with pytest.raises(DecryptionError):
        decrypt(token, "id_number")


def test_lookup_hash_is_keyed_normalised_and_separated_by_context(monkeypatch: pytest.MonkeyPatch) -> None:
    assert lookup_hash("11010519491231002x", "id") == lookup_hash(" 11010519491231002X", "id")
    assert lookup_hash(CHILD, "id") != lookup_hash(CHILD, "student_number")
    before = lookup_hash(CHILD, "id")
    monkeypatch.setenv("PORTAL_ENCRYPTION_KEY", "another-key-" + "z" * 40)
    reset_settings_cache()
    assert lookup_hash(CHILD, "id") != before


def test_lookup_hash_is_hmac_sha256_of_context_and_value() -> None:
    """The stored hashes stay valid whatever the implementation: HMAC-SHA256 under the HKDF
    look-up key, of "context NUL value" (the value stripped and upper-cased)."""
    import hashlib
    import hmac

    from portal.data.crypto import _keys
    from portal.settings import get_settings

    _, hash_key = _keys(get_settings().encryption_key)
    for value, context in [
        (CHILD, "id"),
        (" 11010519491231002x", "id"),
        ("李小明|男|2022-03-15", "identity"),
        ("", ""),
    ]:
        message = f"{context}\x00{value.strip().upper()}".encode()
        assert lookup_hash(value, context) == hmac.digest(hash_key, message, hashlib.sha256).hex()


def test_masking() -> None:
    assert mask(CHILD) == "410122********0016"
    assert mask("G" + CHILD) == "G41012*********0016"
    assert mask("13937130002", head=3, tail=4) == "139****0002"
    assert mask("H1234") == "H***4" and mask("") == "" and mask(None) == ""
