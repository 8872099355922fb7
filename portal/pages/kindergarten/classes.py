"""班级管理: the clerk creates the classes of a school year before placing children in them, sees
how full each is, and deletes an empty one (a class that still has children cannot be deleted)."""

import pandas as pd
import streamlit as st

from portal.data.child_fields import CLASS, GRADE_CAPS
from portal.services import children, workflow
from portal.ui.forms import section_inputs
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash

actor = require_page("kindergarten_classes")
page_header("班级管理", actor)
st.caption("先建班级，再录入幼儿：每名幼儿都要编入本学年的一个班级。超过额定人数时只提示，不阻止录入。")
show_flash("classes_flash")

this_year = children.school_year_of(workflow.local_today())
start = int(this_year[:4])
next_year = f"{start + 1}-{start + 2}"
all_classes = children.list_classes(actor)
years = sorted({this_year, next_year, *(c.school_year for c in all_classes)}, reverse=True)
year = st.columns([1, 2])[0].selectbox(
    "学年",
    years,
    index=years.index(this_year),
    key="classes_year",
    format_func=lambda y: f"{y} 学年（本学年）" if y == this_year else f"{y} 学年",
)
classes = [c for c in all_classes if c.school_year == year]

total_children = sum(c.children for c in classes)
total_capacity = sum(c.capacity for c in classes)
columns = st.columns(3)
columns[0].metric("班级数", f"{len(classes)} 个")
columns[1].metric("在班幼儿", f"{total_children} 名")
columns[2].metric("额定人数合计", f"{total_capacity} 名")

if not classes:
    st.info(f"{year} 学年还没有班级。请在下方“新建班级”中建立。", icon=":material/info:")
else:
    frame = pd.DataFrame(
        [
            {
                "班级名称": c.name,
                "年级": c.grade,
                "在班幼儿": c.children,
                "额定人数": c.capacity,
                "提示": "超员" if c.children > c.capacity else "满员" if c.children == c.capacity else "",
            }
            for c in classes
        ]
    )
    styled = frame.style.map(lambda v: "color: #c62828; font-weight: 600" if v == "超员" else "", subset=["提示"])
    st.dataframe(styled, hide_index=True, width="stretch")

with st.expander("新建班级", icon=":material/add:", expanded=not classes):
    caps = "、".join(f"{grade} {cap} 人" for grade, cap in GRADE_CAPS.items())
    st.caption(f"额定人数不填时按年级的常规班额：{caps}。")
    with st.form("class_new"):
        raw = section_inputs(CLASS, {"school_year": year}, "class_new")
        created = st.form_submit_button("建立班级", key="class_create", type="primary", icon=":material/add:")
    if created:
        with service_errors():
            row = children.create_class(actor, raw)
            flash_and_rerun(
                "classes_flash",
                f"已建立 {row.school_year} 学年的班级“{row.name}”（{row.grade}，额定 {row.capacity} 人）。",
            )

if classes:
    with st.expander("删除班级", icon=":material/delete:"):
        st.caption("只有没有幼儿的班级才能删除（班级名后括号内为在班人数/额定人数）。")
        labels = {c.id: c.label for c in classes}
        with st.form("class_delete_form"):
            chosen = st.selectbox("要删除的班级", list(labels), format_func=labels.get, key="class_delete_id")
            confirmed = st.checkbox("确认删除所选班级（删除后不能恢复）", key="class_delete_confirm")
            delete = st.form_submit_button("删除班级", key="class_delete", icon=":material/delete:")
        if delete:
            if not confirmed:
                st.error("删除前请勾选确认。", icon=":material/error:")
            else:
                with service_errors():
                    name = labels[chosen]
                    children.delete_class(actor, chosen)
                    flash_and_rerun("classes_flash", f"已删除班级 {name}。")
