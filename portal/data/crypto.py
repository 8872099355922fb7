"""Personal data at rest: AES-GCM encryption and a keyed hash for look-ups (DESIGN.md pattern 7).

Two sub-keys are derived from ``PORTAL_ENCRYPTION_KEY`` with HKDF, one to encrypt and one to hash,
so that the hash column (used for equality look-ups and the uniqueness index) reveals nothing
that the ciphertext does not. Screens and exports show values masked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal.settings import MIN_SECRET_LENGTH, get_settings

PREFIX = "v1:"


class DecryptionError(ValueError):
    """A stored value cannot be decrypted with the configured key."""


@lru_cache(maxsize=4)
def _keys(secret: str) -> tuple[bytes, bytes]:
    def derive(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"preschool-portal", info=info).derive(
            secret.encode("utf-8")
        )

    return derive(b"field-encryption"), derive(b"lookup-hash")


def _secret() -> str:
    settings = get_settings()
    if len(settings.encryption_key) < MIN_SECRET_LENGTH:
        settings.require_secrets()  # raises, naming what is missing
    return settings.encryption_key


def encrypt(plaintext: str, context: str = "") -> str:
    """Encrypt with AES-256-GCM under a fresh nonce; ``context`` (e.g. the column) is bound in."""
    key, _ = _keys(_secret())
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
    return PREFIX + base64.urlsafe_b64encode(nonce + ciphertext).decode("ascii")


def decrypt(token: str, context: str = "") -> str:
    key, _ = _keys(_secret())
    if not token.startswith(PREFIX):
        raise DecryptionError("unknown format")
    raw = base64.urlsafe_b64decode(token[len(PREFIX) :].encode("ascii"))
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], context.encode("utf-8")).decode("utf-8")
    except InvalidTag as exc:
        raise DecryptionError("wrong key or tampered value") from exc


def lookup_hash(value: str, context: str = "") -> str:
    """A keyed hash (HMAC-SHA256) of a normalised value, for equality look-ups and uniqueness."""
    _, key = _keys(_secret())
    message = f"{context}\x00{value.strip().upper()}".encode()
    return hmac.digest(key, message, hashlib.sha256).hex()


def mask(value: str | None, head: int = 6, tail: int = 4) -> str:
    """410102********1234: the head and tail kept, the middle hidden (short values hide more)."""
    if not value:
        return ""
    if len(value) <= head + tail:
        keep = max(1, len(value) // 4)
        return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]
