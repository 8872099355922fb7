"""学年工作: what the yearly calendar expects this month, class moves, July graduation (with the
list for the primary school), August promotion previewed, adjusted and applied in one step, and
leaving (离园 / 意外离园) declared for the county's review."""

import pandas as pd
import streamlit as st

from portal.services import children, leaving, workflow, yearly
from portal.settings import get_settings
from portal.ui.children import child_label
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.text import md

actor = require_page("kindergarten_cycle")
page_header("学年工作", actor)
st.caption("7 月办理大班幼儿毕业，8 月升班，9 月录入新入园幼儿；每月的变动在规定日期前录入并提交审核。")
show_flash("cycle_flash")
today = workflow.local_today()

st.subheader("本月工作")
for task in yearly.cycle_tasks(actor, today=today):
    icon = ":material/task_alt:" if task.done else ":material/pending_actions:"
    (st.success if task.done else st.warning)(f"**{task.label}**（{task.due}）：{task.detail}", icon=icon)

move_tab, graduation_tab, promotion_tab, leave_tab = st.tabs(["调班", "毕业", "升班", "离园"])

with move_tab:
    classes = children.list_classes(actor, children.school_year_of(today))
    pupils = children.list_children(actor, limit=1000).rows
    if not classes or not pupils:
        st.info("本学年还没有班级或在班幼儿。", icon=":material/info:")
    else:
        labels = {row.id: child_label(row) for row in pupils}
        with st.form("cycle_move"):
            chosen = st.multiselect("调班的幼儿", list(labels), format_func=labels.get, key="cycle_move_children")
            target = st.selectbox(
                "调入班级", [c.id for c in classes], format_func=lambda i: next(c.label for c in classes if c.id == i)
            )
            moved = st.form_submit_button("调班", type="primary", key="cycle_move_submit")
        if moved:
            with service_errors():
                warnings = yearly.move_children(actor, chosen, target, today=today)
                flash_and_rerun("cycle_flash", f"已为 {len(chosen)} 名幼儿调班。" + "".join(warnings))

with graduation_tab:
    rows = yearly.graduation_preview(actor, today=today)
    cutoff = yearly.graduation_cutoff(children.school_year_of(today))
    st.caption(
        f"本学年大班幼儿；至 {cutoff:%Y年%m月%d日}满 {get_settings().graduation_age} 周岁"
        "且学籍审核通过的默认列入毕业名单。"
    )
    if not rows:
        st.info("本学年大班没有在班幼儿。", icon=":material/info:")
    else:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "姓名": r.name,
                        "班级": r.class_name,
                        "出生日期": r.birth_date.isoformat(),
                        "届时年龄": r.age_at_cutoff,
                        "学籍状态": r.state_label,
                        "毕业": "是" if r.eligible else f"否（{r.reason}）",
                    }
                    for r in rows
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        names = {r.child_id: r.name for r in rows}
        with st.form("cycle_graduate"):
            chosen = st.multiselect(
                "毕业幼儿",
                list(names),
                default=[r.child_id for r in rows if r.eligible],
                format_func=names.get,
                key="cycle_graduates",
            )
            confirmed = st.checkbox(
                "确认以上幼儿毕业：学籍关闭为“已毕业”，学籍号保留并随入小学", key="cycle_graduate_ok"
            )
            graduate = st.form_submit_button("办理毕业", type="primary", key="cycle_graduate_submit")
        if graduate:
            if not confirmed:
                st.error("请先勾选确认。")
            else:
                with service_errors():
                    done = yearly.apply_graduation(actor, chosen, today=today)
                    flash_and_rerun("cycle_flash", f"已为 {done} 名幼儿办理毕业。")
    st.download_button(
        "导出本学年毕业幼儿名单（供小学学籍登记）",
        data=lambda: yearly.graduates_workbook(actor),
        file_name=f"毕业幼儿_{children.school_year_of(today)}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        icon=":material/download:",
        key="cycle_graduates_export",
    )

with promotion_tab:
    plan = yearly.promotion_preview(actor, today=today)
    if plan.done:
        st.success(f"已完成升入 {plan.to_year} 学年的升班。", icon=":material/task_alt:")
    elif not plan.rows:
        st.info("本学年没有需要升班的幼儿。", icon=":material/info:")
    else:
        st.caption(
            f"从 {plan.from_year} 学年升入 {plan.to_year} 学年：托班→小班→中班→大班。"
            "可修改“新班级”一列；下学年还没有的班级在升班时按年级自动建立。"
        )
        edited = st.data_editor(
            pd.DataFrame(
                [
                    {
                        "编号": r.child_id,
                        "姓名": r.name,
                        "现班级": r.from_class,
                        "新年级": r.to_grade,
                        "新班级": r.to_class,
                    }
                    for r in plan.rows
                ]
            ),
            hide_index=True,
            width="stretch",
            disabled=["编号", "姓名", "现班级", "新年级"],
            key="cycle_promotion_plan",
        )
        if plan.staying:
            st.caption(f"大班幼儿不升班（请在“毕业”中办理）：{'、'.join(md(name) for name in plan.staying)}。")
        with st.form("cycle_promote"):
            confirmed = st.checkbox(f"确认为 {len(plan.rows)} 名幼儿升班（每学年只能升班一次）", key="cycle_promote_ok")
            promote = st.form_submit_button("升班", type="primary", key="cycle_promote_submit")
        if promote:
            if not confirmed:
                st.error("请先勾选确认。")
            else:
                adjustments = {
                    int(row["编号"]): str(row["新班级"])
                    for _, row in edited.iterrows()
                    if str(row["新班级"]) != next(r.to_class for r in plan.rows if r.child_id == int(row["编号"]))
                }
                with service_errors():
                    yearly.apply_promotion(actor, adjustments, today=today)
                    flash_and_rerun("cycle_flash", f"已完成升班：{len(plan.rows)} 名幼儿升入 {plan.to_year} 学年。")

with leave_tab:
    st.caption(
        "幼儿离园（转出、随迁等）或意外离园（伤病、死亡）由本园申报、县级审核。意外离园须在发生后 "
        f"{get_settings().accident_entry_days} 个工作日内录入并上传证明材料，审核通过后学籍号注销。"
        "误办的离园可在“幼儿信息”中申请恢复。"
    )
    approved = children.list_children(actor, state="approved", limit=1000).rows
    if not approved:
        st.info("没有审核通过的在园幼儿。", icon=":material/info:")
    else:
        names = {row.id: child_label(row) for row in approved}
        with st.form("cycle_leave"):
            child_id = st.selectbox("离园幼儿", list(names), format_func=names.get, key="cycle_leave_child")
            kind = st.radio(
                "类型",
                list(leaving.LEAVE_KINDS),
                format_func=leaving.LEAVE_KINDS.get,
                horizontal=True,
                key="cycle_leave_kind",
            )
            left_on = st.date_input("离园日期", value=today, max_value=today, key="cycle_leave_day")
            reason = st.text_area("离园原因", key="cycle_leave_reason", placeholder="例如：随父母迁往外省")
            files = st.file_uploader("证明材料（意外离园必传）", accept_multiple_files=True, key="cycle_leave_files")
            declared = st.form_submit_button("提交离园申请", type="primary", key="cycle_leave_submit")
        if declared:
            with service_errors():
                leaving.request_leave(
                    actor, child_id, kind, left_on, reason, [(f.name, f.getvalue()) for f in files or []]
                )
                flash_and_rerun("cycle_flash", f"已提交{names[child_id].split('，')[0]}的离园申请，等待县级审核。")
