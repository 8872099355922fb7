"""安全策略: the password and account policy, set by the security administrator within the bounds
of level-3 protection."""

import pandas as pd
import streamlit as st

from portal.services.security_policy import ITEMS, current_policy, defaults, shown, update_policy
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash

actor = require_page("admin_policy")
page_header("安全策略", actor)
st.caption("本页设置在所有门户进程中立即生效；未设置的项目取部署配置（PORTAL_PASSWORD_* 等）的值。")
show_flash("policy_flash")
policy = current_policy()
base = defaults()
st.dataframe(
    pd.DataFrame(
        [
            {
                "项目": item.label,
                "当前值": shown(key, int(getattr(policy, key))),
                "部署配置": shown(key, base[key]),
                "允许范围": "是 / 否" if key == "totp_required_for_all" else f"{item.low}–{item.high}{item.unit}",
            }
            for key, item in ITEMS.items()
        ]
    ),
    hide_index=True,
    width="stretch",
)
with st.form("policy_form"):
    values: dict[str, int] = {}
    columns = st.columns(2)
    for index, (key, item) in enumerate(ITEMS.items()):
        column = columns[index % 2]
        if key == "totp_required_for_all":
            values[key] = int(column.toggle("所有账户均须使用动态口令", value=policy.totp_required_for_all))
        else:
            values[key] = int(
                column.number_input(
                    f"{item.label}（{item.unit}）",
                    min_value=item.low,
                    max_value=item.high,
                    value=int(getattr(policy, key)),
                    step=1,
                    key=f"policy_{key}",
                )
            )
    if st.form_submit_button("保存策略", type="primary"):
        with service_errors():
            update_policy(actor, values)
            flash_and_rerun("policy_flash", "安全策略已保存，已记入审计日志。")
