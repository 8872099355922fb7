"""乡镇导入: the provincial system administrator adds the townships of counties from a CSV file."""

import streamlit as st

from portal.services.regions import import_townships
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.text import md

actor = require_page("admin_townships")
page_header("乡镇导入", actor)
st.markdown(
    "上传 CSV 文件（UTF-8 或 GBK 编码），第一行为表头 `代码,名称`，每行一个乡镇："
    "乡镇代码为 9 位数字，前 6 位是所属县级区划代码。已有的乡镇代码将更新名称。"
    "文件中只要有一行有误，整个文件都不会导入。"
)
st.code("代码,名称\n410122101,官渡镇\n410122102,狼城岗镇", language="text")
show_flash("township_flash")
upload = st.file_uploader("选择乡镇 CSV 文件", type=["csv"], key="township_file")
if upload is not None and st.button("导入", type="primary", key="township_import"):
    with service_errors():
        report = import_townships(actor, upload.getvalue())
        if report.ok:
            flash_and_rerun("township_flash", f"导入完成：新增 {report.added} 个乡镇，更新 {report.updated} 个。")
        st.error(f"文件有 {len(report.errors)} 处错误，未导入任何数据：")
        for line in report.errors:
            st.markdown(f"- {md(line)}")
