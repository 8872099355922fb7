"""Personal data at rest: AES-GCM encryption and a keyed hash for look-ups (DESIGN.md pattern 7).

Two sub-keys are derived from ``PORTAL_ENCRYPTION_KEY`` with HKDF, one to encrypt and one to hash,
so that the hash column (used for equality look-ups and the uniqueness index) reveals nothing
that the ciphertext does not. Screens and exports show values masked.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal.settings import MIN_SECRET_LENGTH, get_settings

PREFIX = "v1:"

# A key set for the current context (``using_key``): key rotation computes the same derived values
# (``children.document_hash``, ``content_key`` ...) under the old and the new key without copying
# their formats.
_key_override: ContextVar[str | None] = ContextVar("portal_crypto_key", default=None)


class DecryptionError(ValueError):
    """A stored value cannot be decrypted with the configured key."""


@lru_cache(maxsize=4)
def _keys(secret: str) -> tuple[bytes, bytes]:
    def derive(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"preschool-portal", info=info).derive(
            secret.encode("utf-8")
        )

    return derive(b"field-encryption"), derive(b"lookup-hash")


@lru_cache(maxsize=4)
def _cipher(key_bytes: bytes) -> AESGCM:
    """The AES-GCM object of a key, built once: it holds no state between calls but the key."""
    return AESGCM(key_bytes)


@lru_cache(maxsize=4)
def _hmac_pads(hash_key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256 (RFC 2104) with its two padded key blocks hashed once: each look-up hash copies
    these two states instead of keying anew (``hmac.digest`` re-derives them on every call)."""
    if len(hash_key) > 64:  # longer than SHA-256's block: its hash stands for it (the derived key is 32 bytes)
        hash_key = hashlib.sha256(hash_key).digest()
    block = hash_key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner, outer


def _secret(key: str | None = None) -> str:
    """The secret to use: ``key`` if given, else the one set by ``using_key``, else the setting."""
    if key is not None:
        return key
    override = _key_override.get()
    if override is not None:
        return override
    settings = get_settings()
    if len(settings.encryption_key) < MIN_SECRET_LENGTH:
        settings.require_secrets()  # raises, naming what is missing
    return settings.encryption_key


@contextmanager
def using_key(secret: str) -> Iterator[None]:
    """Within the block, every function here uses ``secret`` instead of the configured key."""
    token = _key_override.set(secret)
    try:
        yield
    finally:
        _key_override.reset(token)


def encrypt(plaintext: str, context: str = "", *, key: str | None = None) -> str:
    """Encrypt with AES-256-GCM under a fresh nonce; ``context`` (e.g. the column) is bound in.

    ``key`` (a secret, as the setting) overrides the configured key, for key rotation."""
    key_bytes, _ = _keys(_secret(key))
    nonce = os.urandom(12)
    ciphertext = _cipher(key_bytes).encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
    return PREFIX + base64.urlsafe_b64encode(nonce + ciphertext).decode("ascii")


def decrypt(token: str, context: str = "", *, key: str | None = None) -> str:
    key_bytes, _ = _keys(_secret(key))
    if not token.startswith(PREFIX):
        raise DecryptionError("unknown format")
    try:
        raw = base64.urlsafe_b64decode(token[len(PREFIX) :].encode("ascii"))
    except ValueError as exc:
        raise DecryptionError("malformed value") from exc
    if len(raw) < 12 + 16:
        raise DecryptionError("malformed value")
    try:
        return _cipher(key_bytes).decrypt(raw[:12], raw[12:], context.encode("utf-8")).decode("utf-8")
    except InvalidTag as exc:
        raise DecryptionError("wrong key or tampered value") from exc


def lookup_hash(value: str, context: str = "", *, key: str | None = None) -> str:
    """A keyed hash (HMAC-SHA256) of a normalised value, for equality look-ups and uniqueness."""
    _, hash_key = _keys(_secret(key))
    inner, outer = _hmac_pads(hash_key)
    inner = inner.copy()
    inner.update(f"{context}\x00{value.strip().upper()}".encode())
    outer = outer.copy()
    outer.update(inner.digest())
    return outer.hexdigest()


def mask(value: str | None, head: int = 6, tail: int = 4) -> str:
    """410102********1234: the head and tail kept, the middle hidden (short values hide more)."""
    if not value:
        return ""
    if len(value) <= head + tail:
        keep = max(1, len(value) // 4)
        return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


def active_secret() -> str:
    """The secret in force here (``using_key``'s, else the configured one): key rotation starts from it."""
    return _secret()
