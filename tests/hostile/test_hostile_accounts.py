"""Account creation (``create_user`` with ``NewUser``, the public interface of
portal/services/accounts.py) with hostile user names and real names."""

from __future__ import annotations

import itertools

from sqlmodel import select

from portal.auth.roles import Duty, Level
from portal.data import db
from portal.data.models import User
from portal.services.accounts import NewUser, create_user
from tests.hostile.catalogue import COMPACT
from tests.hostile.conftest import World, parametrize_cases
from tests.hostile.outcome import attempt, check

PASSWORD = "Hostile#Input2026"
_numbers = itertools.count(1)


def _user(username: str, real_name: str) -> NewUser:
    return NewUser(username, real_name, Level.INSTITUTION, Duty.ENTRY, PASSWORD, institution_code="4101220003")


def _stored(username: str) -> User | None:
    with db.session_scope() as session:
        return session.exec(select(User).where(User.username == username)).first()


@parametrize_cases(COMPACT)
def test_a_hostile_user_name(world: World, key: str, hostile: str) -> None:
    outcome = attempt(lambda: create_user(world.actors["sysadmin"], _user(hostile, "测试用户")))
    # The rule of accounts.py: 3–64 lower-case letters, digits, . _ -; none of the catalogue fits.
    assert not outcome.accepted


@parametrize_cases(COMPACT)
def test_a_hostile_real_name(world: World, key: str, hostile: str) -> None:
    username = f"hostile-{world.engine}-{next(_numbers)}"
    outcome = attempt(lambda: create_user(world.actors["sysadmin"], _user(username, hostile)))
    check(outcome, hostile, lambda _user: _stored(username).real_name, max_length=64)  # type: ignore[union-attr]
