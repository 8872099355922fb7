"""Password hashing: bcrypt, the same format streamlit-authenticator checks."""

from __future__ import annotations

import secrets
import string

import bcrypt

from portal.settings import get_settings

# A valid hash of a random password, checked when the login name is unknown, so that an unknown
# name costs the same time as a wrong password and cannot be told apart by a stopwatch.
_DUMMY_HASH: bytes | None = None


def hash_password(password: str, rounds: int | None = None) -> str:
    rounds = rounds or get_settings().bcrypt_rounds
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except ValueError:
        return False


def burn_equal_time(password: str) -> None:
    """Spend a bcrypt check's time on nothing (for unknown login names)."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(16)).encode("ascii")
    bcrypt.checkpw(password.encode("utf-8"), _DUMMY_HASH)


def random_password(length: int = 16) -> str:
    """A random password with letters of both cases, digits and symbols."""
    alphabet = string.ascii_letters + string.digits + "!@#$%^&*-_=+"
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        classes = [
            any(c.islower() for c in candidate),
            any(c.isupper() for c in candidate),
            any(c.isdigit() for c in candidate),
            any(not c.isalnum() for c in candidate),
        ]
        if all(classes):
            return candidate


MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 128


def password_problems(password: str, context: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with a new password, in Chinese (empty when it is acceptable)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"密码至少 {MIN_PASSWORD_LENGTH} 个字符")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"密码不超过 {MAX_PASSWORD_LENGTH} 个字符")
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if classes < 3:
        problems.append("密码须包含大写字母、小写字母、数字、符号中的至少三类")
    lowered = password.lower()
    if any(word and len(word) >= 3 and word.lower() in lowered for word in context):
        problems.append("密码不能包含用户名或姓名")
    return problems
