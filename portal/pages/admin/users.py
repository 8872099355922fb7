"""用户账户: the accounts in the administrator's scope; opening, changing, disabling them and
issuing a temporary password to one level below."""

import pandas as pd
import streamlit as st

from portal.auth.roles import BUREAU_LEVELS, DUTIES_BY_LEVEL, DUTY_LABELS, LEVEL_LABELS, Duty
from portal.clock import format_local
from portal.services.accounts import (
    IssuedPassword,
    NewUser,
    list_users,
    manageable_levels,
    open_account,
    reset_password,
    set_active,
    update_user,
    user_detail,
)
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.paging import KeysetPager
from portal.ui.text import md

ISSUED_KEY = "users_issued_password"

actor = require_page("admin_users")
page_header("用户账户", actor)
show_flash("users_flash")


def show_issued(issued: IssuedPassword) -> None:
    st.success(
        f"已为 {md(issued.real_name)}（{md(issued.username)}）签发临时密码。请当面或电话告知本人；"
        f"仅此一次显示，{format_local(issued.expires_at)} 前有效，只能使用一次，首次登录须修改。",
        icon=":material/key:",
    )
    st.code(issued.password, language=None)
    if st.button("我已告知本人，关闭", key="users_issued_close"):
        st.session_state.pop(ISSUED_KEY, None)
        st.rerun()


issued = st.session_state.get(ISSUED_KEY)
if issued is not None:
    show_issued(issued)

search = st.text_input("按用户名或姓名查找", key="user_search")
page_size = get_settings().page_size
pager = KeysetPager("user_pager", (search,))
result = list_users(actor, search=search, after=pager.cursor, limit=page_size)
if not result.rows:
    st.info("没有符合条件的账户。")
else:
    frame = pd.DataFrame(
        [
            {
                "用户名": r.username,
                "姓名": r.real_name,
                "角色": r.role,
                "管辖范围": r.scope,
                "状态": "启用" if r.is_active else "停用",
                "最近登录": format_local(r.last_login_at) or "从未登录",
            }
            for r in result.rows
        ]
    )
    st.dataframe(frame, hide_index=True, width="stretch")
pager.controls(result.next_after, result.total, page_size)

levels = manageable_levels(actor)
if levels:
    with st.expander("新建账户", icon=":material/person_add:"):
        level = st.selectbox("层级", levels, format_func=lambda lv: LEVEL_LABELS[lv], key="new_user_level")
        duties = [d for d in Duty if d in DUTIES_BY_LEVEL[level]]
        with st.form("new_user_form", clear_on_submit=False):
            left, right = st.columns(2)
            username = left.text_input(
                "用户名（登录名）",
                max_chars=64,
                help="3–64 位小写字母、数字、点、下划线或连字符",
                key="new_user_username",
            )
            real_name = right.text_input("真实姓名", max_chars=64, key="new_user_real_name")
            phone = left.text_input("联系电话", max_chars=20, help="管理员账户必填", key="new_user_phone")
            duty = right.selectbox("职责", duties, format_func=lambda d: DUTY_LABELS[d], key="new_user_duty")
            if level in BUREAU_LEVELS:
                default = actor.region_code if level is actor.level else ""
                region_code = st.text_input("管辖区划代码", value=default or "", max_chars=12, key="new_user_region")
                institution_code = ""
            else:
                region_code = ""
                institution_code = st.text_input("机构标识码（10 位）", max_chars=10, key="new_user_institution")
            st.caption("新账户获得一个随机临时密码（仅显示一次，24 小时内有效，首次登录须修改）。")
            if st.form_submit_button("创建账户", type="primary"):
                with service_errors():
                    issued = open_account(
                        actor,
                        NewUser(
                            username=username,
                            real_name=real_name,
                            level=level,
                            duty=duty,
                            password="",
                            phone=phone,
                            region_code=region_code.strip() or None,
                            institution_code=institution_code.strip() or None,
                        ),
                    )
                    st.session_state[ISSUED_KEY] = issued
                    flash_and_rerun("users_flash", f"账户 {issued.username} 已创建，授权已登记。")

if result.rows:
    st.subheader("管理账户")
    choices = {r.id: f"{r.username} · {r.real_name} · {r.role}" for r in result.rows}
    chosen = st.selectbox("选择账户", list(choices), format_func=lambda i: choices[i], key="users_chosen")
    with service_errors():
        detail = user_detail(actor, chosen)
        st.caption(
            f"{md(detail.role)} · {'启用' if detail.is_active else '停用'}"
            + (f"（{md(detail.disabled_reason)}）" if detail.disabled_reason else "")
            + f" · 动态口令：{'已绑定' if detail.has_second_factor else '未绑定'}"
        )
        if not detail.may_manage and not detail.may_reset:
            st.info("该账户不属于您可管理的层级（本级和下一级），只能查看。", icon=":material/visibility:")
        if detail.may_manage:
            edit, status = st.tabs(["修改信息与角色", "停用 / 启用"])
            with edit, st.form(f"edit_user_{detail.id}"):
                new_name = st.text_input("真实姓名", value=detail.real_name, max_chars=64)
                new_phone = st.text_input("联系电话", value=detail.phone, max_chars=20)
                new_duty = st.selectbox(
                    "职责",
                    list(detail.duties),
                    index=list(detail.duties).index(detail.duty),
                    format_func=lambda d: DUTY_LABELS[d],
                )
                reason = st.text_input("变更理由（变更角色时必填，记入授权登记）", max_chars=500)
                if st.form_submit_button("保存修改", type="primary"):
                    with service_errors():
                        update_user(actor, detail.id, real_name=new_name, phone=new_phone, duty=new_duty, reason=reason)
                        flash_and_rerun("users_flash", f"账户 {detail.username} 已修改。")
            with status, st.form(f"status_user_{detail.id}"):
                reason = st.text_input("理由（必填）", max_chars=200)
                label = "启用账户" if not detail.is_active else "停用账户"
                if st.form_submit_button(label, type="primary"):
                    with service_errors():
                        set_active(actor, detail.id, not detail.is_active, reason)
                        flash_and_rerun(
                            "users_flash", f"账户 {detail.username} 已{'启用' if not detail.is_active else '停用'}。"
                        )
        if detail.may_reset:
            with st.form(f"reset_user_{detail.id}"):
                st.markdown("**重置密码**：为忘记密码的下一级用户签发临时密码；该用户已登录的会话将全部结束。")
                confirmed = st.checkbox("我已核实申请人的身份")
                if st.form_submit_button("签发临时密码"):
                    if not confirmed:
                        st.error("请先核实申请人的身份并勾选确认。", icon=":material/error:")
                    else:
                        with service_errors():
                            st.session_state[ISSUED_KEY] = reset_password(actor, detail.id)
                            flash_and_rerun("users_flash", f"已重置 {detail.username} 的密码。")
