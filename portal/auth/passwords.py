"""Password hashing: bcrypt, the same format streamlit-authenticator checks."""

from __future__ import annotations

import re
import secrets
import string
from functools import lru_cache

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


# Passwords often chosen in China that the English-language list misses (pinyin, dates, keyboard
# walks). Together with zxcvbn's 30,000 most common passwords they make the "common" list.
CHINESE_COMMON = frozenset(
    {
        "woaini",
        "woaini1314",
        "woaini520",
        "5201314",
        "1314520",
        "iloveyou",
        "qwer1234",
        "qwe123",
        "asd123",
        "zxc123",
        "aa123456",
        "a123456",
        "a12345678",
        "a123456789",
        "abc123456",
        "abcd1234",
        "admin",
        "admin123",
        "admin888",
        "root",
        "000000",
        "888888",
        "666666",
        "147258369",
        "1qaz2wsx",
        "1q2w3e4r",
        "p@ssw0rd",
        "passw0rd",
        "zhangsan",
        "lisi",
        "wangwu",
        "beijing",
        "henan",
        "zhengzhou",
        "jiaoyu",
        "xueqian",
        "youeryuan",
    }
)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The list of common passwords (lower case): zxcvbn's frequency list and ``CHINESE_COMMON``."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"]) | CHINESE_COMMON


MIN_PASSWORD_LENGTH = 10  # the floor of the setting: level 3 asks for complex passwords
_CORE = re.compile(r"^[^a-z]*(.*?)[^a-z]*$")


def character_classes(password: str) -> int:
    """How many of lower case, upper case, digits and symbols the password uses."""
    return sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )


def is_common(password: str) -> bool:
    """Is the password, or its letters without the digits and symbols around them, a common one?
    ("Password123!" is "password" with decorations.)"""
    lowered = password.lower()
    common = common_passwords()
    if lowered in common:
        return True
    core = _CORE.match(lowered)
    return bool(core and len(core.group(1)) >= 4 and core.group(1) in common)


def _long_enough(word: str) -> bool:
    """Context words worth refusing: two Chinese characters (a name), or three ASCII ones."""
    word = (word or "").strip()
    return len(word) >= (2 if any(ord(c) > 127 for c in word) else 3)


def password_problems(password: str, context: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with a new password under the policy, in Chinese (empty when acceptable).

    ``context`` holds the words the password must not contain: the username, the real name, the
    region's name and code, the institution's name and code.
    """
    from portal.services.security_policy import current_policy

    policy = current_policy()
    minimum, maximum, classes = policy.min_length, policy.max_length, policy.min_classes
    problems = []
    if len(password) < minimum:
        problems.append(f"密码至少 {minimum} 个字符")
    if len(password) > maximum:
        problems.append(f"密码不超过 {maximum} 个字符")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        problems.append("密码不能包含控制字符")
    if character_classes(password) < classes:
        problems.append(f"密码须包含大写字母、小写字母、数字、符号中的至少{'三' if classes == 3 else '四'}类")
    lowered = password.lower()
    if any(_long_enough(word) and word.strip().lower() in lowered for word in context):
        problems.append("密码不能包含用户名、姓名、所在地区或单位的名称和代码")
    if is_common(password):
        problems.append("密码过于常见，容易被猜中")
    return problems
