"""The second factor: time-based one-time codes (RFC 6238, ``pyotp``), enrolled by QR code.

A code is accepted for the current 30-second step or one step either side (clock drift), and only
for a step later than the last one accepted for the user, so a code seen over a shoulder or in a
log cannot be used again.
"""

from __future__ import annotations

import hmac
import io
from datetime import datetime

import pyotp
import qrcode

from portal.auth.roles import ADMIN_DUTIES, Duty
from portal.clock import utcnow
from portal.settings import get_settings

STEP_SECONDS = 30
DRIFT_STEPS = 1


def new_secret() -> str:
    """A fresh random base32 secret (160 bits)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=get_settings().totp_issuer)


def qr_png(uri: str) -> bytes:
    """The QR code of ``uri`` as a PNG image."""
    image = qrcode.make(uri, box_size=6, border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def code_at(secret: str, step: int) -> str:
    """The code of a time step (for tests and for the check below)."""
    return pyotp.TOTP(secret).at(step * STEP_SECONDS)


def current_step(now: datetime | None = None) -> int:
    return int((now or utcnow()).timestamp()) // STEP_SECONDS


def matching_step(secret: str, code: str, last_step: int | None, now: datetime | None = None) -> int | None:
    """The time step ``code`` belongs to, if it is valid now and newer than ``last_step``."""
    code = (code or "").strip().replace(" ", "")
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    step = current_step(now)
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if last_step is not None and candidate <= last_step:
            continue
        if hmac.compare_digest(code_at(secret, candidate), code):
            return candidate
    return None


def is_replay(secret: str, code: str, last_step: int | None, now: datetime | None = None) -> bool:
    """Is ``code`` a valid code already used (its step at or before the last one accepted)?"""
    if last_step is None:
        return False
    code = (code or "").strip().replace(" ", "")
    step = current_step(now)
    return any(
        candidate <= last_step and hmac.compare_digest(code_at(secret, candidate), code)
        for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1)
    )


def required_for(duty: Duty, is_demo: bool = False) -> bool:
    """Must an account of this duty use the second factor? Administrators, reviewers and finance staff always
    (demo accounts excepted, so the demo can be tried without a phone); everyone when the setting
    says so."""
    if is_demo:
        return False
    from portal.services.security_policy import current_policy

    return duty in ADMIN_DUTIES or duty in (Duty.REVIEWER, Duty.FINANCE) or current_policy().totp_required_for_all
