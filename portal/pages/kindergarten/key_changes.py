"""关键信息变更: the clerk records a guardian's application to change a numbered child's name,
gender, date of birth, document type or number, with the documents attached; the institution's
reviewer decides it in the review queue. The list below shows this kindergarten's requests."""

from datetime import date

import pandas as pd
import streamlit as st

from portal.clock import format_local
from portal.data.child_fields import DOCUMENT_TYPES, GENDERS
from portal.services import children, key_changes
from portal.services.workflow import local_today
from portal.settings import get_settings
from portal.ui.children import child_label
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash

FLASH = "key_changes_flash"

actor = require_page("kindergarten_key_changes")
page_header("关键信息变更", actor)
settings = get_settings()
county_note = (
    "本园审核员审核通过后，还需县级教育行政部门审核，通过后生效。"
    if settings.key_change_county_review
    else "由本园审核员审核，通过后即生效；县级教育行政部门可随时查看申请及证明材料。"
)
st.caption(
    "已审核通过、已有学籍号的幼儿，姓名、性别、出生日期、证件类型、证件号码需要变更时，须由监护人提出申请并提供"
    f"户口簿、出生医学证明等证明材料：由本园填报员录入申请并上传材料，{county_note}"
    "变更生效后原信息保留在变更记录中，学籍号不变；更正证件号码的，将重新进行全省查重。"
)
show_flash(FLASH)

st.subheader("新的变更申请")
search = st.text_input("按姓名查找幼儿", key="key_changes_search", placeholder="输入姓名的一部分")
candidates = children.list_children(actor, state="approved", name=search or None, limit=200).rows
if not candidates:
    st.info("没有符合条件的审核通过的幼儿。关键信息变更只适用于审核通过、已有学籍号的幼儿。", icon=":material/info:")
else:
    labels = {row.id: child_label(row) for row in candidates}
    chosen = st.selectbox("选择幼儿", list(labels), format_func=labels.get, key="key_changes_child")
    with service_errors():
        detail = children.get_child(actor, chosen)
        values = detail.values
        st.caption(f"学籍号 {detail.row.student_number_masked or '—'}（变更后不变）")
        prefix = f"key_change_{chosen}"
        with st.form(prefix, clear_on_submit=False):
            left, right = st.columns(2)
            name = left.text_input("姓名 *", value=values.get("name") or "", max_chars=50, key=f"{prefix}_name")
            gender = right.selectbox(
                "性别 *",
                list(GENDERS),
                index=list(GENDERS).index(values["gender"]) if values.get("gender") in GENDERS else None,
                key=f"{prefix}_gender",
            )
            today = local_today()
            birth = left.date_input(
                "出生日期 *",
                value=date.fromisoformat(values["birth_date"]) if values.get("birth_date") else None,
                min_value=date(today.year - 10, 1, 1),
                max_value=today,
                format="YYYY-MM-DD",
                key=f"{prefix}_birth_date",
            )
            document_type = right.selectbox(
                "证件类型 *",
                list(DOCUMENT_TYPES),
                index=list(DOCUMENT_TYPES).index(values["document_type"])
                if values.get("document_type") in DOCUMENT_TYPES
                else None,
                key=f"{prefix}_document_type",
            )
            masked = values.get("document_number") or ""
            document_number = st.text_input(
                "证件号码",
                max_chars=30,
                placeholder=f"已登记 {masked}，不修改请留空" if masked else "不修改请留空",
                help="为保护个人信息，已登记的号码不再显示；需要更正时请填写新证件上的完整号码。",
                key=f"{prefix}_document_number",
            )
            reason = st.text_area(
                "变更原因 *",
                placeholder="例如：监护人申请更正出生日期，户口簿为 2022 年 3 月 16 日",
                key=f"{prefix}_reason",
            )
            files = st.file_uploader(
                "监护人申请书及证明材料 *（图片、PDF 或 Office 文件，可多份）",
                accept_multiple_files=True,
                key=f"{prefix}_files",
            )
            sent = st.form_submit_button(
                "提交变更申请", key="key_change_submit", type="primary", icon=":material/send:"
            )
        if sent:
            raw = {
                "name": name,
                "gender": gender,
                "birth_date": birth.isoformat() if isinstance(birth, date) else None,
                "document_type": document_type,
                "document_number": document_number,
            }
            request = key_changes.request_key_change(
                actor, chosen, raw, reason, [(f.name, f.getvalue()) for f in files or []]
            )
            flash_and_rerun(FLASH, f"已提交关键信息变更申请 {request.id}，等待审核。")

st.subheader("本园的变更申请")
rows = key_changes.list_key_changes(actor)
if not rows:
    st.caption("本园还没有关键信息变更申请。")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "编号": r.id,
                    "幼儿": r.child_name,
                    "变更项目": r.changed,
                    "状态": r.state_label,
                    "当前步骤": r.step_label,
                    "提交时间": format_local(r.submitted_at),
                    "处理期限": str(r.due_date or ""),
                    "审核时间": format_local(r.decided_at) if r.decided_at else "",
                    "驳回理由": r.return_reason,
                }
                for r in rows
            ]
        ),
        hide_index=True,
        width="stretch",
    )
