"""Issue 7 on the screens: the login's steps (second factor, forced change), account
administration, the register of grants, 我的账户 and password lending."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from portal.auth import totp
from portal.auth.actor import SYSTEM_ACTOR
from portal.auth.roles import Duty, Level
from portal.auth.session import ACTOR_KEY, ENROL_SECRET_KEY
from portal.clock import utcnow
from portal.data import db
from portal.data.models import PasswordLoan, User
from portal.services import accounts
from portal.services.accounts import NewUser
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.pages.conftest import ROOT, click, login, new_app, registered_pages, texts

NEW_PASSWORD = "Qz7!vR2#mK9p"


def _user(username: str) -> User:
    with db.session_scope() as session:
        return session.exec(select(User).where(User.username == username)).one()


def _code_input(at):  # the only text input on a step's form
    return at.text_input(key="login_totp_code") if "login_totp_code" in at.session_state else None


def test_a_reviewer_enrols_the_second_factor_then_needs_it(app_demo: str) -> None:
    accounts.create_user(
        SYSTEM_ACTOR,
        NewUser("zm-reviewer", "中牟审核", Level.COUNTY, Duty.REVIEWER, DEMO_PASSWORD, region_code="410122"),
    )
    at = login("zm-reviewer", DEMO_PASSWORD)
    assert "绑定身份验证器" in texts(at) and "扫描左侧二维码" in texts(at)
    assert ACTOR_KEY not in at.session_state  # not logged in before the enrolment
    secret = at.session_state[ENROL_SECRET_KEY]
    at.text_input(key="login_enrol_code").input("000000")
    click(at, "绑定并登录")
    assert "动态口令不正确" in texts(at) and _user("zm-reviewer").totp_secret is None
    step = totp.current_step()
    at.text_input(key="login_enrol_code").input(totp.code_at(secret, step))
    click(at, "绑定并登录")
    assert not at.exception and "审核队列" in registered_pages(at)
    assert _user("zm-reviewer").totp_secret

    at = login("zm-reviewer", DEMO_PASSWORD)
    assert "动态口令" in texts(at) and ACTOR_KEY not in at.session_state
    at.text_input(key="login_totp_code").input(totp.code_at(secret, step))  # the enrolment's code again
    click(at, "验证")
    assert "已使用过" in texts(at) and ACTOR_KEY not in at.session_state
    at.text_input(key="login_totp_code").input(totp.code_at(secret, step + 1))
    click(at, "验证")
    assert at.session_state[ACTOR_KEY].username == "zm-reviewer"


def test_an_administrator_opens_an_account_and_the_user_changes_the_password(app_demo: str) -> None:
    at = login("demo-sysadmin", DEMO_PASSWORD)
    at.switch_page(str(ROOT / "portal/pages/admin/users.py")).run()
    at.selectbox(key="new_user_level").select("地市级").run()
    at.text_input(key="new_user_username").input("kf-leader")
    at.text_input(key="new_user_real_name").input("开封领导")
    at.selectbox(key="new_user_duty").select("领导（查看）")
    at.text_input(key="new_user_region").input("999999")
    click(at, "创建账户")
    assert "不是有效的地市级区划" in texts(at) and not at.get("code")
    at.text_input(key="new_user_region").input("410200")
    click(at, "创建账户")
    assert not at.exception
    temporary = at.get("code")[0].value
    assert "已为 开封领导（kf-leader）签发临时密码" in texts(at)
    assert "kf-leader" in at.dataframe[0].value["用户名"].tolist()

    user_at = login("kf-leader", temporary)
    assert "请设置新密码" in texts(user_at) or "临时密码" in texts(user_at)
    user_at.text_input(key="login_new_password").input("kaifeng123")
    user_at.text_input(key="login_confirm_password").input("kaifeng123")
    click(user_at, "设置新密码")
    assert "至少三类" in texts(user_at) and ACTOR_KEY not in user_at.session_state
    user_at.text_input(key="login_new_password").input(NEW_PASSWORD)
    user_at.text_input(key="login_confirm_password").input(NEW_PASSWORD)
    click(user_at, "设置新密码")
    assert user_at.session_state[ACTOR_KEY].username == "kf-leader"
    # The temporary password is spent.
    again = login("kf-leader", temporary)
    assert ACTOR_KEY not in again.session_state


def test_the_register_of_grants_is_read_and_exported(app_demo: str) -> None:
    accounts.open_account(
        actor_for("demo-sysadmin"),
        NewUser("kf-rev", "开封审核", Level.CITY, Duty.REVIEWER, "", region_code="410200"),
    )
    at = login("demo-secadmin", DEMO_PASSWORD)
    at.switch_page(str(ROOT / "portal/pages/admin/grants.py")).run()
    frame = at.dataframe[0].value
    assert frame["用户名"].iloc[0] == "kf-rev" and frame["类别"].iloc[0] == "授予"
    click(at, "准备导出（CSV）")
    assert not at.exception and at.get("download_button")
    at.text_input(key="grant_revoke_username").input("kf-rev")
    at.text_input(key="grant_revoke_reason").input("授权不当，撤销")
    click(at, "撤销授权")
    assert "已撤销 kf-rev 的授权" in texts(at)
    assert at.dataframe[0].value["类别"].iloc[0] == "撤销（停用）"


def test_a_clerk_lends_the_password_with_the_security_administrators_approval(app_demo: str) -> None:
    at = login("demo-clerk", DEMO_PASSWORD)
    at.switch_page(str(ROOT / "portal/pages/common/account.py")).run()
    click(at, "提交借用申请")  # nothing filled in
    assert "借用人的真实姓名" in texts(at)
    fields = {t.label: t for t in at.text_input}
    fields["借用人真实姓名"].input("李代填")
    at.text_area[0].input("产假期间代为填报幼儿信息")
    click(at, "提交借用申请")
    assert "待安全管理员审批" in texts(at)

    sec = login("demo-secadmin", DEMO_PASSWORD)
    sec.switch_page(str(ROOT / "portal/pages/admin/loans.py")).run()
    assert sec.dataframe[0].value["借用人"].tolist() == ["李代填"]
    click(sec, "不批准")  # without a reason
    assert "须写明理由" in texts(sec)
    click(sec, "批准")
    assert "已批准" in texts(sec)
    with db.session_scope() as session:
        loan = session.exec(select(PasswordLoan)).one()
    assert loan.state == "approved"

    borrowed = login("demo-clerk", DEMO_PASSWORD)
    assert borrowed.session_state[ACTOR_KEY].loan_id == loan.id
    borrowed.switch_page(str(ROOT / "portal/pages/common/account.py")).run()
    assert "密码借用期间" in texts(borrowed)
    click(borrowed, "立即结束借用")
    # The session ends with the loan; the next login asks for a new password first.
    after = login("demo-clerk", DEMO_PASSWORD)
    assert ACTOR_KEY not in after.session_state and after.text_input(key="login_new_password")


def test_my_account_refuses_a_wrong_current_password(app_demo: str) -> None:
    at = login("demo-county", DEMO_PASSWORD)
    at.switch_page(str(ROOT / "portal/pages/common/account.py")).run()
    fields = [t for t in at.text_input if t.label in ("当前密码", "新密码", "再次输入新密码")][:3]
    fields[0].input("Wrong#Password1")
    fields[1].input(NEW_PASSWORD)
    fields[2].input(NEW_PASSWORD)
    click(at, "修改密码")
    assert "当前密码不正确" in texts(at)
    assert accounts_login_ok("demo-county", DEMO_PASSWORD)


def accounts_login_ok(username: str, password: str) -> bool:
    from portal.services.login import authenticate

    return authenticate(username, password).ok


def test_logout_clears_the_sessions_authentication_data(app_demo: str) -> None:
    at = login("demo-clerk", DEMO_PASSWORD)
    at.session_state["some_page_filter"] = "x"
    at.sidebar.button[0].click().run()
    assert ACTOR_KEY not in at.session_state and "some_page_filter" not in at.session_state
    assert not at.session_state["authentication_status"]


def test_an_expired_temporary_password_is_refused_on_the_login_page(app_demo: str) -> None:
    issued = accounts.reset_password(SYSTEM_ACTOR, actor_for("demo-clerk").user_id)
    with db.session_scope(write=True) as session:
        user = session.exec(select(User).where(User.username == "demo-clerk")).one()
        user.temp_password_expires_at = utcnow() - timedelta(minutes=1)
        session.add(user)
    at = new_app().run()
    at.text_input[0].input("demo-clerk")
    at.text_input[1].input(issued.password)
    at.button[0].click().run()
    assert "临时密码已过期" in texts(at) and ACTOR_KEY not in at.session_state


def test_the_security_administrator_changes_the_policy_on_its_page(app_demo: str) -> None:
    from portal.services.security_policy import current_policy

    at = login("demo-secadmin", DEMO_PASSWORD)
    at.switch_page(str(ROOT / "portal/pages/admin/policy.py")).run()
    assert "密码最小长度" in at.dataframe[0].value["项目"].tolist()
    click(at, "保存策略")  # nothing changed
    assert "策略没有变化" in texts(at)
    at.number_input(key="policy_min_length").set_value(12)
    click(at, "保存策略")
    assert "安全策略已保存" in texts(at) and current_policy().min_length == 12
