"""The login glue: streamlit-authenticator's form over the user table, sessions and time-outs.

streamlit-authenticator checks the password against the stored bcrypt hash (``auto_hash=False``,
no ``api_key``: nothing leaves the server). Its credentials come from the database one name at a
time through ``DbUsers``, so the form works the same for ten users or fifty thousand, and a
locked or disabled name never reaches the password check. Failures, locks, logins, logouts and
time-outs are recorded by ``portal.services.login`` in the database.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import streamlit as st
import streamlit_authenticator as stauth
from streamlit_authenticator.utilities.exceptions import LoginError

from portal.auth.actor import Actor
from portal.auth.passwords import burn_equal_time
from portal.clock import utcnow
from portal.data.db import DatabaseBusyError
from portal.services import login as login_service
from portal.settings import get_settings

ACTOR_KEY = "portal_actor"
ACTIVITY_KEY = "portal_last_activity"
FLASH_KEY = "portal_flash"
PENDING_KEY = "portal_pending_login"  # a login past its password, with steps still to do
ENROL_SECRET_KEY = "portal_enrol_secret"  # the second-factor secret being enrolled
COOKIE_NAME = "preschool_portal_auth"
LOGIN_FIELDS = {"Form name": "用户登录", "Username": "用户名", "Password": "密码", "Login": "登录"}


class DbUsers(dict[str, dict[str, Any]]):
    """streamlit-authenticator's ``credentials['usernames']``, filled from the database on demand.

    It remembers the name asked for in this run (``attempted``) and whether it was locked, so the
    page can record the outcome once the widget has checked the password.
    """

    def __init__(self) -> None:
        super().__init__()
        self.attempted: str | None = None
        self.locked_until: datetime | None = None

    def _load(self, username: object) -> bool:
        if not isinstance(username, str):
            return False
        if dict.__contains__(self, username):
            return True
        credentials, until = login_service.gate(username)
        self.attempted, self.locked_until = username, until
        if credentials is None:
            burn_equal_time("-")  # an unknown name costs what a known one does
            return False
        dict.__setitem__(
            self,
            username,
            {"name": credentials.real_name, "password": credentials.password_hash, "email": None, "roles": None},
        )
        return True

    def __contains__(self, username: object) -> bool:
        return self._load(username)

    def __getitem__(self, username: str) -> dict[str, Any]:
        self._load(username)
        return dict.__getitem__(self, username)

    def get(self, username: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.__getitem__(self, username) if self._load(username) else default


def _authenticator() -> tuple[stauth.Authenticate, DbUsers]:
    settings = get_settings()
    credentials: dict[str, Any] = {"usernames": {}}
    relogin = settings.cookie_relogin
    if not relogin:
        # Never read a re-login cookie, whatever the browser sends.
        st.session_state["logout"] = True
    authenticator = stauth.Authenticate(
        credentials,
        cookie_name=COOKIE_NAME,
        cookie_key=settings.cookie_key,
        cookie_expiry_days=settings.cookie_expiry_hours / 24 if relogin else 0,
        auto_hash=False,
        login_sleep_time=0.7 if relogin else 0,
    )
    users = DbUsers()
    credentials["usernames"] = users  # the model keeps this very dict: it now reads the database
    return authenticator, users


def _start_session(actor: Actor) -> None:
    st.session_state[ACTOR_KEY] = actor
    st.session_state[ACTIVITY_KEY] = utcnow()


def _clear_session(flash: str | None = None) -> None:
    """Forget everything the session knew: the actor, a login in progress, a secret being enrolled,
    the login widget's state and every page's inputs. Only the notice for the login page stays."""
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    for key in ("name", "username", "authentication_status", "email", "roles"):
        st.session_state[key] = None
    st.session_state["logout"] = True
    if flash:
        st.session_state[FLASH_KEY] = ("info", flash)


def current_actor(now: datetime | None = None) -> Actor | None:
    """The logged-in actor, or None. Ends the session when idle too long or no longer valid."""
    actor: Actor | None = st.session_state.get(ACTOR_KEY)
    if actor is None:
        return None
    now = now or utcnow()
    idle_limit = timedelta(minutes=get_settings().session_idle_minutes)
    last = st.session_state.get(ACTIVITY_KEY) or now
    if now - last > idle_limit:
        login_service.end_session(actor, "session_timeout")
        _clear_session(f"您已超过 {get_settings().session_idle_minutes} 分钟未操作，会话已结束，请重新登录。")
        return None
    if not login_service.session_still_valid(actor):
        _clear_session("您的账户已停用或会话已失效，请重新登录。")
        return None
    st.session_state[ACTIVITY_KEY] = now
    return actor


def logout() -> None:
    actor: Actor | None = st.session_state.get(ACTOR_KEY)
    if actor is not None:
        login_service.end_session(actor, "logout")
    if get_settings().cookie_relogin:
        authenticator, _ = _authenticator()
        authenticator.logout(location="unrendered")
    _clear_session("您已安全退出。")


def login_form() -> None:
    """Render the login form, or the step a login is at, and act on the outcome (the page around
    it shows ``login_notice``). A database too busy to record the login (SQLite at a deadline
    peak) says so and writes nothing: a step is tried again as it stands, a password again from
    the form."""
    pending: login_service.PendingLogin | None = st.session_state.get(PENDING_KEY)
    if pending is not None:
        from portal.ui.login_steps import render_step

        try:
            render_step(pending, advance=advance_login, cancel=cancel_login)
        except DatabaseBusyError as exc:
            st.error(str(exc))
        return
    try:
        _password_form()
    except DatabaseBusyError as exc:  # not rerun at once: a re-login cookie would try again and again
        _clear_session()
        st.error(str(exc))


def _password_form() -> None:
    authenticator, users = _authenticator()
    try:
        authenticator.login(location="main", fields=LOGIN_FIELDS, key="portal_login")
    except LoginError:
        # A re-login cookie naming a disabled or unknown account: ignore it.
        st.session_state["authentication_status"] = None
    if st.session_state.get("authentication_status") and ACTOR_KEY not in st.session_state:
        via = "password" if users.attempted else "cookie"
        start = login_service.begin_login(st.session_state["username"], via=via)
        if start.pending is None:
            _clear_session()
            st.session_state[FLASH_KEY] = ("error", start.message)
            st.rerun()
        advance_login(start.pending)
    elif users.attempted is not None and not st.session_state.get("authentication_status"):
        result = login_service.register_failure(users.attempted)
        st.session_state[FLASH_KEY] = ("error", result.message)
        st.rerun()


def advance_login(pending: login_service.PendingLogin) -> None:
    """Go to the login's next step, or start the session when none is left."""
    st.session_state.pop(ENROL_SECRET_KEY, None)
    if pending.steps:
        st.session_state[PENDING_KEY] = pending
        st.rerun()
    actor = login_service.finish_login(pending)
    st.session_state.pop(PENDING_KEY, None)
    _start_session(actor)
    st.session_state.pop(FLASH_KEY, None)
    st.rerun()


def cancel_login(message: str | None = None, error: bool = False) -> None:
    """Leave a login half-way (or after it was refused): back to the login form."""
    _clear_session()
    if message:
        st.session_state[FLASH_KEY] = ("error" if error else "info", message)
    st.rerun()


def login_notice() -> tuple[str, str] | None:
    """The login page's notice, as (kind, text): ("info", "您已安全退出。"), ("error", "用户名或密码错误。").
    It stays through the reruns of the page's components and is replaced by the next attempt."""
    return st.session_state.get(FLASH_KEY)
