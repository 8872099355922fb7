"""统计基数: the provincial system administrator imports the education statistics' figures per
county and year (the denominators of the progress table) and corrects a single figure."""

import pandas as pd
import streamlit as st

from portal.services import baseline
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash

FLASH = "baseline_flash"

actor = require_page("admin_baseline")
page_header("统计基数", actor)
st.markdown(
    "进度表中的“教育统计在园幼儿数”来自教育事业统计。上传 Excel（.xlsx）或 CSV 文件（UTF-8 或 GBK），"
    "第一行为列名 `县区代码,年度,统计在园幼儿数,机构数`（机构数可不填），每个县区每年一行。"
    "已有的县区和年度将被更新；文件中只要有一行有误，整个文件都不会导入。"
)
st.code("县区代码,年度,统计在园幼儿数,机构数\n410122,2026,21350,186\n410102,2026,30512,", language="text")
show_flash(FLASH)

upload = st.file_uploader("选择统计基数文件", type=["xlsx", "csv"], key="baseline_file")
if upload is not None and st.button("导入", type="primary", key="baseline_import"):
    with service_errors():
        report = baseline.import_baseline(actor, upload.name, upload.getvalue())
        flash_and_rerun(
            FLASH,
            f"导入完成（{'、'.join(map(str, report.years))} 年）：新增 {report.added} 个县区，"
            f"更新 {report.changed} 个，{report.unchanged} 个未变。",
        )

with service_errors():
    years, rows = baseline.list_baseline(actor, st.session_state.get("baseline_year"))
    if not years:
        st.info("尚未导入统计基数：进度表的“学籍号获取率”将显示为空。", icon=":material/info:")
    else:
        st.selectbox("年度", years, key="baseline_year")
        st.caption(f"共 {len(rows)} 个县区，合计统计在园幼儿 {sum(r.children for r in rows):,} 人。")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "县区代码": r.county_code,
                        "地市": r.city_name,
                        "县区": r.county_name,
                        "统计在园幼儿数": r.children,
                        "机构数": r.institutions,
                    }
                    for r in rows
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        labels = {r.county_code: f"{r.county_code} {r.city_name}{r.county_name}" for r in rows}
        with st.expander("更正一个县区的数字", icon=":material/edit:"):
            with st.form("baseline_correct"):
                code = st.selectbox("县区", list(labels), format_func=labels.get, key="baseline_county")
                current = next(r for r in rows if r.county_code == code)
                children = st.number_input("统计在园幼儿数", min_value=0, value=current.children, step=1)
                institutions = st.number_input(
                    "机构数（不填为 0 表示未提供）", min_value=0, value=current.institutions or 0, step=1
                )
                if st.form_submit_button("保存更正", type="primary"):
                    baseline.correct_baseline(actor, code, current.year, int(children), int(institutions) or None)
                    flash_and_rerun(FLASH, f"已更正 {labels[code]} {current.year} 年的统计基数。")
