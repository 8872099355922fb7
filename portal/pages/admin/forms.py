"""监管表单: a bureau's system administrator designs supervision forms, publishes them to the
institutions of the region, follows the fill rate and downloads the answers."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from portal.clock import format_local
from portal.data.fields import FIELD_KIND_LABELS
from portal.services import supervision, workflow
from portal.services.supervision import FieldInput
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.text import md

actor = require_page("admin_forms")
page_header("监管表单", actor)
show_flash("forms_flash")

KIND_BY_LABEL = {label: kind for kind, label in FIELD_KIND_LABELS.items()}

with st.expander("设计新表单", icon=":material/add:", expanded=False):
    title = st.text_input("表单名称", key="form_title", placeholder="例如：2026 年秋季收费与安全情况")
    description = st.text_area("填报说明", key="form_description")
    due_date = st.date_input("截止日期", value=workflow.local_today() + timedelta(days=14), key="form_due")
    st.caption("每行一个字段；单选、多选的选项用顿号分隔。")
    fields = st.data_editor(
        pd.DataFrame([{"字段名称": "", "类型": "文本", "必填": False, "选项": "", "说明": ""}]),
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        key="form_fields",
        column_config={
            "类型": st.column_config.SelectboxColumn("类型", options=list(KIND_BY_LABEL), required=True),
            "必填": st.column_config.CheckboxColumn("必填"),
        },
    )
    if st.button("保存表单", key="form_save", type="primary"):
        rows = [r for r in fields.to_dict("records") if str(r.get("字段名称") or "").strip()]
        with service_errors():
            form = supervision.design_form(
                actor,
                title=title,
                description=description,
                due_date=due_date,
                fields=[
                    FieldInput(
                        label=str(r["字段名称"]),
                        kind=KIND_BY_LABEL.get(str(r.get("类型")), "text"),
                        required=bool(r.get("必填")),
                        choices=str(r.get("选项") or ""),
                        help=str(r.get("说明") or ""),
                    )
                    for r in rows
                ],
            )
            flash_and_rerun("forms_flash", f"表单“{form.title}”已保存为草稿，发布后各园即可填报。")

forms = supervision.designed_forms(actor)
if not forms:
    st.info("本级还没有设计监管表单。")
    st.stop()

for form in forms:
    state = "已发布" if form.state == "published" else "草稿"
    with st.expander(f"{md(form.title)}（{state}，截止 {form.due_date}）", expanded=form.state == "published"):
        section = supervision.section_of(form)
        st.caption(
            "字段："
            + "、".join(
                f"{md(s.label)}（{FIELD_KIND_LABELS[s.kind]}{'，必填' if s.required else ''}）" for s in section.fields
            )
        )
        if form.state != "published":
            if st.button("发布给本辖区各园", key=f"form_publish_{form.id}", type="primary"):
                with service_errors():
                    supervision.publish_form(actor, form.id or 0)
                    flash_and_rerun("forms_flash", f"表单“{form.title}”已发布。")
            continue
        st.caption(f"发布时间 {format_local(form.published_at)}")
        rates = supervision.fill_rate(actor, form.id or 0)
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "区域": r.name,
                        "机构数": r.institutions,
                        "待审核": r.submitted,
                        "审核通过": r.approved,
                        "填报率": f"{r.rate:.1%}",
                    }
                    for r in rates
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        st.download_button(
            "下载答复（Excel）",
            data=lambda form_id=form.id: supervision.export_answers(actor, form_id or 0),
            file_name=f"{form.title}.xlsx",
            mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            key=f"form_export_{form.id}",
            icon=":material/download:",
        )
