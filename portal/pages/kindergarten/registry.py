"""本园信息填报: the clerk fills base information, school conditions and buildings; saves drafts,
submits for review, sees the review state, who filled and who reviewed."""

import streamlit as st

from portal.clock import format_local
from portal.services import registry, workflow
from portal.ui.forms import section_inputs
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.text import md

actor = require_page("kindergarten_registry")
page_header("本园信息填报", actor)
st.caption("信息有变化时应于 1 个月内更新；首次上报和每次变更都需上级教育部门审核（谁填报谁负责、谁审核谁负责）。")

show_flash("registry_flash")

institution, states = registry.institution_sections(actor)
tabs = st.tabs([f"{state.section.label}（{state.status}）" for state in states])
for tab, state in zip(tabs, states, strict=True):
    key = state.section.key
    with tab:
        if state.pending is not None:
            step = workflow.current_step(state.pending)
            st.info(
                f"已于 {format_local(state.pending.submitted_at)} 提交，等待“{step.label if step else ''}”，"
                f"处理期限 {state.pending.due_date}。审核完成前不能修改。",
                icon=":material/hourglass_top:",
            )
        elif state.last_return_reason is not None:
            st.error(f"上次提交被驳回，理由：{md(state.last_return_reason)}", icon=":material/undo:")
        if state.approved is not None:
            st.caption(f"已审核的信息：{md(state.accountability)}。修改后提交即为异动申报。")
        locked = state.pending is not None
        with st.form(f"registry_{key}"):
            raw = section_inputs(state.section, state.working_values, f"registry_{key}", disabled=locked)
            uploads = st.file_uploader(
                "证明材料（可选：图片、PDF 或 Office 文件）",
                accept_multiple_files=True,
                key=f"registry_{key}_files",
                disabled=locked,
            )
            left, right = st.columns(2)
            save = left.form_submit_button("保存草稿", key=f"registry_{key}_save", disabled=locked, width="stretch")
            submit = right.form_submit_button(
                "提交审核", key=f"registry_{key}_submit", type="primary", disabled=locked, width="stretch"
            )
        if save:
            with service_errors():
                registry.save_draft(actor, key, raw)
                flash_and_rerun("registry_flash", f"{state.section.label}草稿已保存。")
        if submit:
            with service_errors():
                files = [(f.name, f.getvalue()) for f in uploads or []]
                request = registry.submit_section(actor, key, raw, files)
                label = workflow.workflow_for(request.kind).label
                flash_and_rerun("registry_flash", f"{state.section.label}已提交（{label}），请等待审核。")
