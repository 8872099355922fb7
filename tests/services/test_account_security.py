"""Issue 7: account administration by level, the register of grants, resets and forced changes,
the password policy, the second factor, password lending, separation of duties, idle accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, func, select

from portal.auth import totp
from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.passwords import password_problems
from portal.auth.policy import Action, PermissionDenied, may
from portal.auth.roles import Duty, Level
from portal.clock import utcnow
from portal.data import db
from portal.data.models import AccountGrant, AuditLog, PasswordLoan, User
from portal.services import accounts, credentials, loans
from portal.services import login as login_service
from portal.services.accounts import NewUser
from portal.services.errors import ServiceError, ValidationError
from tests.conftest import DEMO_PASSWORD, actor_for

NEW_PASSWORD = "Qz7!vR2#mK9p"


def _make(
    username: str,
    level: Level,
    duty: Duty,
    *,
    region: str | None = None,
    inst: str | None = None,
    phone: str = "13900000000",
    name: str = "测试用户",
) -> Actor:
    accounts.create_user(
        SYSTEM_ACTOR,
        NewUser(username, name, level, duty, DEMO_PASSWORD, phone=phone, region_code=region, institution_code=inst),
    )
    return actor_for(username)


def _user(username: str) -> User:
    with db.session_scope() as session:
        return session.exec(select(User).where(User.username == username)).one()


def _audit_count(action: str | None = None) -> int:
    with db.session_scope() as session:
        query = select(func.count()).select_from(AuditLog)
        if action:
            query = query.where(AuditLog.action == action)
        return session.exec(query).one()


def _login(username: str, password: str, now=None) -> login_service.LoginStart:
    """The password step as the login page runs it (the widget checked the password)."""
    result = login_service.gate(username, now)[0]
    assert result is not None
    from portal.auth.passwords import verify_password

    assert verify_password(password, result.password_hash)
    return login_service.begin_login(username, now=now)


@pytest.fixture
def county_admin(demo: str) -> Actor:
    return _make("zm-sysadmin", Level.COUNTY, Duty.SYSADMIN, region="410122", name="中牟管理员")


# --- the password policy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("Ab1!xyz", "至少"),  # too short
        ("abcdefghijk", "至少三类"),  # one class
        ("abcdefgh1234", "至少三类"),  # two classes
        ("Password123!", "常见"),  # a common word with decorations
        ("Woaini1314!!", "常见"),
        ("Zhangwei#2026", "用户名"),  # contains the username
        ("X410122#abcQ", "地区"),  # contains the county code
        ("A" * 60 + "b1!" * 30, "不超过"),  # 150 characters
        ("Abc\x00def123!", "控制字符"),
    ],
)
def test_policy_refuses(database: str, password: str, problem: str) -> None:
    problems = password_problems(password, ("zhangwei", "张伟", "410122", "中牟县"))
    assert any(problem in p for p in problems), problems


def test_policy_accepts_long_and_complex_passwords(database: str) -> None:
    assert password_problems("Qz7!vR2#mK9p") == []
    assert password_problems("correct horse battery staple 7 Tx " * 2) == []  # 68 characters
    assert password_problems("Ab1!" * 16) == []  # 64 characters


def test_policy_follows_the_settings(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.settings import get_settings

    monkeypatch.setenv("PORTAL_PASSWORD_MIN_LENGTH", "14")
    get_settings.cache_clear()
    try:
        assert any("14" in p for p in password_problems("Qz7!vR2#mK9p"))
    finally:
        monkeypatch.delenv("PORTAL_PASSWORD_MIN_LENGTH")
        get_settings.cache_clear()


def test_the_security_administrator_sets_the_policy_within_bounds(demo: str) -> None:
    from portal.services.security_policy import current_policy, update_policy

    secadmin = actor_for("demo-secadmin")
    county_sec = _make("zm-sec9", Level.COUNTY, Duty.SECADMIN, region="410122", phone="13900000009")
    before = (current_policy(), _audit_count())
    for bad in ({"min_length": 8}, {"max_age_days": 180}, {"history": 3}, {"nonsense": 1}):
        with pytest.raises(ValidationError):
            update_policy(secadmin, bad)
    with pytest.raises(PermissionDenied):
        update_policy(actor_for("demo-sysadmin"), {"min_length": 12})
    with pytest.raises(PermissionDenied):
        update_policy(county_sec, {"min_length": 12})
    assert (current_policy(), _audit_count()) == before
    policy = update_policy(secadmin, {"min_length": 14, "totp_required_for_all": 1})
    assert policy.min_length == 14 and policy.totp_required_for_all
    assert _audit_count("policy_change") == 1
    assert any("14" in p for p in password_problems("Qz7!vR2#mK9p"))
    assert totp.required_for(Duty.ENTRY)


# --- account administration by level ----------------------------------------------------------


def test_county_admin_opens_accounts_of_its_level_and_below_only(county_admin: Actor) -> None:
    issued = accounts.open_account(
        county_admin,
        NewUser("xmw-clerk2", "新填报员", Level.INSTITUTION, Duty.ENTRY, "", institution_code="4101220002"),
    )
    assert len(issued.password) >= 16 and issued.expires_at - utcnow() <= timedelta(hours=24)
    user = _user("xmw-clerk2")
    assert user.must_change_password and user.temp_password_expires_at is not None
    before = (_audit_count(), _count(User))
    refused = [
        NewUser("up-city", "上级", Level.CITY, Duty.REVIEWER, "", region_code="410100"),  # a level above
        NewUser("other-county", "邻县", Level.COUNTY, Duty.REVIEWER, "", region_code="410102"),  # outside
        NewUser("other-clerk", "邻县园", Level.INSTITUTION, Duty.ENTRY, "", institution_code="4101020001"),
    ]
    for data in refused:
        with pytest.raises(PermissionDenied):
            accounts.open_account(county_admin, data)
    assert (_audit_count(), _count(User)) == before


def _count(model: type) -> int:
    with db.session_scope() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_grants_are_filed_with_the_level_above(county_admin: Actor) -> None:
    accounts.open_account(
        county_admin, NewUser("zm-rev2", "县审核二", Level.COUNTY, Duty.REVIEWER, "", region_code="410122")
    )
    city_admin = _make("zz-sysadmin", Level.CITY, Duty.SYSADMIN, region="410100", name="郑州管理员")
    other = _make("zy-sysadmin", Level.COUNTY, Duty.SYSADMIN, region="410102", name="中原管理员")
    filed = [r.grantee_username for r in accounts.list_grants(city_admin).rows]
    assert "zm-rev2" in filed
    assert "zm-rev2" not in [r.grantee_username for r in accounts.list_grants(other).rows]
    exports_before = _audit_count("data_export")
    csv = accounts.export_grants(city_admin).decode("utf-8-sig")
    assert "zm-rev2" in csv and "县级审核员" in csv and "中牟管理员" in csv
    assert _audit_count("data_export") == exports_before + 1
    with pytest.raises(PermissionDenied):
        accounts.list_grants(actor_for("demo-county"))  # a reviewer keeps no register


def test_role_change_and_disable_are_filed_and_end_sessions(county_admin: Actor) -> None:
    reviewer = _make("zm-rev3", Level.COUNTY, Duty.REVIEWER, region="410122")
    with pytest.raises(ValidationError) as refused:
        accounts.update_user(
            county_admin, reviewer.user_id, real_name="测试用户", phone="13900000000", duty=Duty.LEADER
        )
    assert "理由" in refused.value.errors["reason"]
    accounts.update_user(
        county_admin, reviewer.user_id, real_name="测试用户", phone="13900000000", duty=Duty.LEADER, reason="岗位调整"
    )
    assert not login_service.session_still_valid(reviewer)
    accounts.set_active(county_admin, reviewer.user_id, False, "离职")
    assert not _user("zm-rev3").is_active
    changes = [r.change for r in accounts.list_grants(county_admin, search="zm-rev3").rows]
    assert changes == ["撤销（停用）", "变更", "授予"]
    assert login_service.gate("zm-rev3")[0] is None  # a disabled account cannot log in


# --- reset and the forced change --------------------------------------------------------------


def test_reset_by_the_level_above_with_single_use_temporary_password(county_admin: Actor) -> None:
    clerk = _make("xmw-c3", Level.INSTITUTION, Duty.ENTRY, inst="4101220002")
    peer = _make("zm-rev4", Level.COUNTY, Duty.REVIEWER, region="410122")
    with pytest.raises(PermissionDenied):
        accounts.reset_password(county_admin, peer.user_id)  # same level: not one level up
    issued = accounts.reset_password(county_admin, clerk.user_id)
    assert not login_service.session_still_valid(clerk)  # other sessions end
    start = _login("xmw-c3", issued.password)
    assert start.pending is not None and start.pending.steps == (login_service.STEP_CHANGE_PASSWORD,)
    # Policy refusals change nothing.
    with pytest.raises(ValidationError):
        login_service.complete_password_change(start.pending, "short", "short")
    with pytest.raises(ValidationError):
        login_service.complete_password_change(start.pending, NEW_PASSWORD, NEW_PASSWORD + "x")
    # The temporary password was spent at its first use: a second login with it is refused.
    again = _login("xmw-c3", issued.password)
    assert again.pending is None and "只能使用一次" in again.message
    pending = login_service.complete_password_change(start.pending, NEW_PASSWORD, NEW_PASSWORD)
    actor = login_service.finish_login(pending)
    assert actor.username == "xmw-c3" and actor.session_id
    user = _user("xmw-c3")
    assert user.temp_password_expires_at is None and not user.must_change_password
    assert login_service.authenticate("xmw-c3", NEW_PASSWORD).ok


def test_an_expired_temporary_password_is_refused(county_admin: Actor) -> None:
    clerk = _make("xmw-c4", Level.INSTITUTION, Duty.ENTRY, inst="4101220002")
    issued = accounts.reset_password(county_admin, clerk.user_id)
    start = _login("xmw-c4", issued.password, now=utcnow() + timedelta(hours=25))
    assert start.pending is None and "过期" in start.message


def test_the_last_five_passwords_are_not_reused(demo: str) -> None:
    clerk = actor_for("demo-clerk")
    history = [f"Hist{i}#Pass{i}x" for i in range(5)]
    current = DEMO_PASSWORD
    for password in history:
        credentials.change_own_password(clerk, current, password, password)
        clerk = actor_for("demo-clerk")
        current = password
    for old in [DEMO_PASSWORD, *history][1:]:  # the current and the four before it
        with pytest.raises(ValidationError) as refused:
            credentials.change_own_password(clerk, current, old, old)
        assert "最近 5 次" in refused.value.errors["new_password"]
    credentials.change_own_password(clerk, current, DEMO_PASSWORD, DEMO_PASSWORD)  # sixth back: allowed


def test_wrong_current_password_changes_nothing(demo: str) -> None:
    clerk = actor_for("demo-clerk")
    before = _user("demo-clerk").password_hash
    with pytest.raises(ValidationError):
        credentials.change_own_password(clerk, "wrong-password", NEW_PASSWORD, NEW_PASSWORD)
    assert _user("demo-clerk").password_hash == before


def test_a_password_older_than_90_days_must_be_changed(county_admin: Actor) -> None:
    _make("zm-leader", Level.COUNTY, Duty.LEADER, region="410122")
    start = _login("zm-leader", DEMO_PASSWORD, now=utcnow() + timedelta(days=91))
    assert start.pending is not None and login_service.STEP_CHANGE_PASSWORD in start.pending.steps
    assert "90" in start.pending.change_reason


# --- the second factor --------------------------------------------------------------------------


def test_reviewers_must_enrol_and_codes_cannot_be_replayed(county_admin: Actor) -> None:
    _make("zm-rev5", Level.COUNTY, Duty.REVIEWER, region="410122")
    start = _login("zm-rev5", DEMO_PASSWORD)
    assert start.pending is not None and start.pending.steps == (login_service.STEP_ENROL_TOTP,)
    secret = totp.new_secret()
    with pytest.raises(ValidationError):
        login_service.complete_enrolment(start.pending, secret, "000000")
    assert _user("zm-rev5").totp_secret is None
    now = utcnow()
    code = totp.code_at(secret, totp.current_step(now))
    pending = login_service.complete_enrolment(start.pending, secret, code, now)
    login_service.finish_login(pending)
    stored = _user("zm-rev5")
    assert stored.totp_secret and secret not in stored.totp_secret  # encrypted at rest
    # The next login asks for the code; the code used at enrolment is refused as a replay.
    start = _login("zm-rev5", DEMO_PASSWORD, now)
    assert start.pending is not None and start.pending.steps == (login_service.STEP_TOTP,)
    failures = _audit_count("login_failed")
    replay = login_service.verify_second_factor(start.pending, code, now)
    assert isinstance(replay, login_service.LoginResult) and "已使用过" in replay.message
    assert _audit_count("login_failed") == failures + 1
    later = now + timedelta(seconds=30)
    fresh = totp.code_at(secret, totp.current_step(later))
    passed = login_service.verify_second_factor(start.pending, fresh, later)
    assert isinstance(passed, login_service.PendingLogin) and not passed.steps
    wrong = login_service.verify_second_factor(start.pending, "123456", later)
    assert isinstance(wrong, login_service.LoginResult) and not wrong.ok


def test_data_entry_staff_may_skip_the_second_factor_unless_the_setting_says(
    county_admin: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from portal.settings import get_settings

    _make("xmw-c5", Level.INSTITUTION, Duty.ENTRY, inst="4101220002")
    assert _login("xmw-c5", DEMO_PASSWORD).pending.steps == ()
    monkeypatch.setenv("PORTAL_TOTP_REQUIRED_FOR_ALL", "true")
    get_settings.cache_clear()
    try:
        assert _login("xmw-c5", DEMO_PASSWORD).pending.steps == (login_service.STEP_ENROL_TOTP,)
    finally:
        monkeypatch.delenv("PORTAL_TOTP_REQUIRED_FOR_ALL")
        get_settings.cache_clear()


def test_administrators_need_the_second_factor_at_first_login(demo: str) -> None:
    from portal.services.accounts import open_account

    issued = open_account(
        SYSTEM_ACTOR,
        NewUser(
            "first-admin", "首任管理员", Level.PROVINCE, Duty.SYSADMIN, "", phone="0371-1234567", region_code="410000"
        ),
    )
    start = _login("first-admin", issued.password)
    assert start.pending is not None
    assert start.pending.steps == (login_service.STEP_CHANGE_PASSWORD, login_service.STEP_ENROL_TOTP)


# --- password lending -------------------------------------------------------------------------


def test_lending_needs_approval_tags_actions_and_forces_a_change(county_admin: Actor) -> None:
    clerk = _make("xmw-c6", Level.INSTITUTION, Duty.ENTRY, inst="4101220002")
    secadmin = _make(
        "zm-secadmin", Level.COUNTY, Duty.SECADMIN, region="410122", name="中牟安全员", phone="13900000001"
    )
    with pytest.raises(ValidationError):
        loans.request_loan(clerk, borrower_name="", borrower_phone="", reason="x", ends_at=utcnow())
    loan_id = loans.request_loan(
        clerk,
        borrower_name="李代填",
        borrower_phone="13900000009",
        reason="产假期间代为填报",
        ends_at=utcnow() + timedelta(days=3),
    )
    # Before approval the loan is not in force.
    assert login_service.authenticate("xmw-c6", DEMO_PASSWORD).actor.loan_id is None
    with pytest.raises(PermissionDenied):
        loans.decide_loan(clerk, loan_id, True)
    loans.decide_loan(secadmin, loan_id, True, "同意")
    borrowed = login_service.authenticate("xmw-c6", DEMO_PASSWORD).actor
    assert borrowed is not None and borrowed.loan_id == loan_id
    with db.session_scope() as session:
        tagged = session.exec(select(AuditLog).where(AuditLog.session_id == borrowed.session_id)).all()
    assert tagged and all(r.loan_id == loan_id for r in tagged)
    loans.end_loan(clerk, loan_id)
    assert not login_service.session_still_valid(borrowed)
    start = _login("xmw-c6", DEMO_PASSWORD)
    assert start.pending is not None and login_service.STEP_CHANGE_PASSWORD in start.pending.steps


def test_a_loan_ends_by_itself_when_its_time_runs_out(county_admin: Actor) -> None:
    clerk = _make("xmw-c7", Level.INSTITUTION, Duty.ENTRY, inst="4101220002")
    secadmin = _make("zm-secadmin2", Level.COUNTY, Duty.SECADMIN, region="410122", name="安全员二", phone="13900000002")
    loan_id = loans.request_loan(
        clerk,
        borrower_name="王临时",
        borrower_phone="",
        reason="外出培训期间代为填报",
        ends_at=utcnow() + timedelta(hours=2),
    )
    loans.decide_loan(secadmin, loan_id, True)
    borrowed = login_service.authenticate("xmw-c7", DEMO_PASSWORD).actor
    assert not login_service.session_still_valid(borrowed, utcnow() + timedelta(hours=3))
    with db.session_scope() as session:
        assert session.get(PasswordLoan, loan_id).state == "ended"
    assert _user("xmw-c7").must_change_password


# --- separation of duties -----------------------------------------------------------------------


def test_no_account_or_person_holds_two_of_the_three(demo: str) -> None:
    province_admin = actor_for("demo-sysadmin")
    city_sec = accounts.open_account(
        province_admin,
        NewUser("zz-sec", "郑州安全员", Level.CITY, Duty.SECADMIN, "", phone="0371-5550001", region_code="410100"),
    )
    before = _count(User)
    with pytest.raises(ValidationError) as refused:
        accounts.open_account(
            province_admin,
            NewUser("zz-aud", "郑州安全员", Level.CITY, Duty.AUDITOR, "", phone="0371-5550001", region_code="410100"),
        )
    assert "三员分立" in refused.value.errors["duty"]
    with pytest.raises(ValidationError) as refused:
        accounts.update_user(
            province_admin,
            city_sec.user_id,
            real_name="郑州安全员",
            phone="0371-5550001",
            duty=Duty.AUDITOR,
            reason="调岗",
        )
    assert "三员分立" in refused.value.errors["duty"]
    assert _count(User) == before
    with db.session_scope() as session:
        duties = session.exec(select(User.duty).where(col(User.duty).in_(["sysadmin", "secadmin", "auditor"]))).all()
    assert all(d in {"sysadmin", "secadmin", "auditor"} for d in duties)  # one duty per account, by the schema
    sysadmin, secadmin, auditor = (actor_for(f"demo-{n}") for n in ("sysadmin", "secadmin", "auditor"))
    assert not may(sysadmin, Action.VIEW_AUDIT) and not may(secadmin, Action.VIEW_AUDIT)
    assert may(auditor, Action.VIEW_AUDIT)
    assert not any(may(auditor, a) for a in Action if a is not Action.VIEW_AUDIT)


# --- idle accounts ---------------------------------------------------------------------------------


def test_the_daily_job_disables_idle_accounts(county_admin: Actor) -> None:
    idle = _make("xmw-idle", Level.INSTITUTION, Duty.ENTRY, inst="4101220002")
    login_service.authenticate("demo-clerk", DEMO_PASSWORD)
    disabled = accounts.disable_idle_accounts(utcnow() + timedelta(days=91))
    assert "xmw-idle" in disabled
    assert not _user("xmw-idle").is_active
    assert not login_service.session_still_valid(idle)
    assert _audit_count("account_idle_disable") == len(disabled)
    with db.session_scope() as session:
        assert session.exec(
            select(AccountGrant).where(AccountGrant.grantee_username == "xmw-idle", AccountGrant.change == "revoke")
        ).first()
    assert accounts.disable_idle_accounts(utcnow() + timedelta(days=30)) == []


def test_actions_write_exactly_one_audit_row(county_admin: Actor) -> None:
    clerk = _make("xmw-c8", Level.INSTITUTION, Duty.ENTRY, inst="4101220002")
    secadmin = _make("zm-secadmin3", Level.COUNTY, Duty.SECADMIN, region="410122", name="安全员三", phone="13900000003")
    steps = [
        (
            "user_create",
            lambda: accounts.open_account(
                county_admin,
                NewUser("xmw-c9", "新人", Level.INSTITUTION, Duty.ENTRY, "", institution_code="4101220002"),
            ),
        ),
        ("password_reset", lambda: accounts.reset_password(county_admin, clerk.user_id)),
        (
            "user_update",
            lambda: accounts.update_user(
                county_admin, clerk.user_id, real_name="改名", phone="13900000000", duty=Duty.ENTRY
            ),
        ),
        ("user_disable", lambda: accounts.set_active(county_admin, clerk.user_id, False, "测试")),
        ("user_enable", lambda: accounts.set_active(county_admin, clerk.user_id, True, "测试")),
        (
            "password_change",
            lambda: credentials.change_own_password(actor_for("demo-clerk"), DEMO_PASSWORD, NEW_PASSWORD, NEW_PASSWORD),
        ),
        (
            "loan_request",
            lambda: loans.request_loan(
                actor_for("demo-clerk"),
                borrower_name="甲",
                borrower_phone="",
                reason="代为填报数据",
                ends_at=utcnow() + timedelta(days=1),
            ),
        ),
    ]
    for action, step in steps:
        before_all, before = _audit_count(), _audit_count(action)
        step()
        assert (_audit_count() - before_all, _audit_count(action) - before) == (1, 1), action
    loan_id = loans.my_loans(actor_for("demo-clerk"))[0].id
    for action, step in [
        ("loan_approve", lambda: loans.decide_loan(secadmin, loan_id, True)),
        ("loan_end", lambda: loans.end_loan(secadmin, loan_id)),
    ]:
        before_all = _audit_count()
        step()
        assert _audit_count() - before_all == 1, action
    with pytest.raises(ServiceError):
        loans.end_loan(secadmin, loan_id)


def test_the_security_administrator_revokes_a_grant(county_admin: Actor) -> None:
    reviewer = _make("zm-rev9", Level.COUNTY, Duty.REVIEWER, region="410122")
    secadmin = actor_for("demo-secadmin")
    before = (_audit_count(), _count(AccountGrant))
    with pytest.raises(ValidationError):
        accounts.revoke_grant(secadmin, "zm-rev9", "")
    with pytest.raises(ServiceError):
        accounts.revoke_grant(secadmin, "nobody\x00", "授权不当，撤销")
    with pytest.raises(PermissionDenied):
        accounts.revoke_grant(county_admin, "zm-rev9", "授权不当，撤销")  # a system administrator
    assert (_audit_count(), _count(AccountGrant)) == before
    accounts.revoke_grant(secadmin, "zm-rev9", "授权不当，撤销")
    assert not _user("zm-rev9").is_active and not login_service.session_still_valid(reviewer)
    assert accounts.list_grants(secadmin, search="zm-rev9").rows[0].change == "撤销（停用）"
    assert _audit_count("grant_revoke") == 1
