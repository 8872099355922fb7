"""监管信息: the supervision forms the bureaus have published to this institution."""

import streamlit as st

from portal.services import supervision
from portal.ui.forms import section_inputs, split_files
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.text import md

actor = require_page("kindergarten_supervision")
page_header("监管信息", actor)
st.caption("监管信息的内容由教育行政部门设计（第十四条），请在截止日期前填报，提交后由县级教育部门审核。")
show_flash("supervision_flash")

due = supervision.forms_due(actor)
if not due:
    st.info("目前没有需要填报的监管表单。", icon=":material/inbox:")
    st.stop()

for item in due:
    form = item.form
    locked = item.state in ("待审核", "审核通过")
    with st.expander(f"{md(form.title)}（{item.state}，截止 {form.due_date}）", expanded=not locked):
        if form.description:
            st.caption(md(form.description))
        with st.form(f"supervision_{form.id}"):
            raw = section_inputs(item.section, item.values, f"supervision_{form.id}", disabled=locked)
            left, right = st.columns(2)
            save = left.form_submit_button(
                "保存草稿", key=f"supervision_{form.id}_save", disabled=locked, width="stretch"
            )
            submit = right.form_submit_button(
                "提交审核", key=f"supervision_{form.id}_submit", type="primary", disabled=locked, width="stretch"
            )
        if save or submit:
            with service_errors():
                values, files = split_files(item.section, raw, item.values)
                supervision.answer_form(actor, form.id or 0, values, submit=submit, files=files)
                flash_and_rerun("supervision_flash", f"“{form.title}”已{'提交' if submit else '保存'}。")
