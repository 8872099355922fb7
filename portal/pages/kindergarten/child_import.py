"""批量导入: the clerk downloads the Excel template, fills in a whole class or the whole
kindergarten, uploads it and sees, with a progress bar, how many rows were accepted and which were
refused and why (a workbook with the refused rows marked comes back); accepted children are saved
records, submitted for review on 幼儿信息."""

import pandas as pd
import streamlit as st

from portal.services import child_import, children, workflow
from portal.services.child_import import ImportResult
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.layout import page_header, service_errors
from portal.ui.text import md

RESULT = "import_result"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

actor = require_page("kindergarten_import")
page_header("批量导入幼儿信息", actor)
settings = get_settings()
st.caption(
    "开学时整班录入幼儿：下载模板 → 按模板填写 → 上传导入 → 在“幼儿信息”中核对并提交审核。"
    f"一次最多 {settings.import_max_rows} 行、{settings.import_max_mb} MB。同一文件可以反复导入，不会重复登记。"
)

school_year = children.school_year_of(workflow.local_today())
classes = children.list_classes(actor, school_year=school_year)
if not classes:
    st.warning(
        f"{school_year} 学年还没有班级：表格中的“班级”须是已建立的班级，请先到“班级管理”建立班级。",
        icon=":material/warning:",
    )
    st.page_link("portal/pages/kindergarten/classes.py", label="去“班级管理”建立班级", icon=":material/groups:")
else:
    st.caption(f"本学年可填写的班级：{'、'.join(md(c.name) for c in classes)}")

st.subheader("第一步：下载模板")
st.download_button(
    "下载幼儿信息导入模板（Excel）",
    data=child_import.template_workbook,
    file_name="幼儿信息导入模板.xlsx",
    mime=XLSX,
    key="import_template",
    icon=":material/download:",
)
st.caption("模板第 2 行是示例（导入时跳过）；“说明”工作表列出了每一列的填写要求。")

st.subheader("第二步：上传填好的表格")
upload = st.file_uploader("选择文件（.xlsx 或 .csv）", type=["xlsx", "csv"], key="import_file")
if st.button("开始导入", key="import_go", type="primary", disabled=upload is None, icon=":material/upload:"):
    st.session_state.pop(RESULT, None)
    bar = st.progress(0.0, text="正在读取表格……")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total if total else 1.0, text=f"正在检查并保存：{done} / {total} 行")

    with service_errors():
        assert upload is not None
        st.session_state[RESULT] = child_import.import_children(
            actor, upload.name, upload.getvalue(), progress=progress
        )
    bar.empty()


def show_result(result: ImportResult) -> None:
    st.subheader("导入结果")
    columns = st.columns(5)
    columns[0].metric("表格行数", f"{result.total} 行")
    columns[1].metric("新增", f"{result.inserted} 名")
    columns[2].metric("更新", f"{result.updated} 名")
    columns[3].metric("未变化", f"{result.unchanged} 名")
    columns[4].metric("未导入", f"{result.refused} 行")
    if result.total == 0:
        st.warning("表格中没有幼儿数据（示例行不计）。请在模板中填写后再导入。", icon=":material/warning:")
    elif result.refused:
        st.error(
            f"已导入 {result.accepted} 名，另有 {result.refused} 行有错误未导入。请下载标注了错误的表格，"
            "按“错误说明”改正后重新导入整份文件（已导入的幼儿不会重复登记）。",
            icon=":material/error:",
        )
    else:
        st.success(f"全部 {result.accepted} 名幼儿已导入。", icon=":material/check_circle:")
    if result.errors:
        st.dataframe(
            pd.DataFrame(
                [{"行号": e.row, "姓名": e.name or "—", "错误说明": e.summary} for e in result.errors],
            ),
            hide_index=True,
            width="stretch",
        )
    if result.marked is not None:
        st.download_button(
            "下载标注了错误的表格",
            data=result.marked,
            file_name=result.marked_filename,
            mime=XLSX,
            key="import_marked",
            icon=":material/download:",
        )
    if result.warnings:
        with st.expander(f"提示（{len(result.warnings)} 条，不影响导入）", icon=":material/warning:", expanded=True):
            for warning in result.warnings:
                st.markdown(f"- {md(warning)}")
    if result.accepted:
        st.subheader("第三步：提交审核")
        st.markdown("导入的幼儿为“已保存”状态。请到“幼儿信息”核对后提交审核，县级审核通过后生成学籍号。")
        st.page_link("portal/pages/kindergarten/children.py", label="去“幼儿信息”提交审核", icon=":material/send:")


result = st.session_state.get(RESULT)
if result is not None:
    show_result(result)
