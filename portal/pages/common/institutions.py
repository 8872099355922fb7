"""机构名录: the institutions in the user's scope, filtered and paged on the server."""

import pandas as pd
import streamlit as st

from portal.data.choices import INSTITUTION_KINDS
from portal.data.fields import display
from portal.services import registry, workflow
from portal.services.institutions import list_institutions
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.home import request_table
from portal.ui.layout import page_header, yes_no
from portal.ui.paging import KeysetPager
from portal.ui.text import md

actor = require_page("institutions")
page_header("机构名录", actor)

left, right = st.columns([2, 1])
search = left.text_input("按名称或机构标识码查找", key="inst_search", placeholder="例如：官渡镇 或 4101220001")
kind = right.selectbox("办学类型", ["全部", *INSTITUTION_KINDS], key="inst_kind")
kind_filter = None if kind == "全部" else kind

page_size = get_settings().page_size
pager = KeysetPager("inst_pager", (search, kind_filter))
result = list_institutions(actor, search=search, kind=kind_filter, after_code=pager.cursor, limit=page_size)
if not result.rows:
    st.info("没有符合条件的机构。")
else:
    frame = pd.DataFrame(
        [
            {
                "机构标识码": r.code,
                "机构名称": r.name,
                "办学类型": r.kind,
                "举办性质": r.ownership,
                "普惠性": yes_no(r.inclusive),
                "城乡分类": r.urban_rural,
                "所在县区": r.county_name,
                "所在乡镇": r.township_name or "—",
                "乡镇中心园": yes_no(r.is_township_central),
            }
            for r in result.rows
        ]
    )
    st.dataframe(frame, hide_index=True, width="stretch")
pager.controls(result.next_after, result.total, page_size)

if result.rows:
    st.subheader("机构详情")
    names = {r.id: f"{r.code} · {r.name}" for r in result.rows}
    chosen = st.selectbox("查看机构", list(names), format_func=names.get, key="inst_open")
    _institution, sections = registry.institution_sections(actor, chosen)
    for state in sections:
        with st.expander(f"{state.section.label}：{state.status}"):
            if state.approved is None:
                st.caption("尚无审核通过的信息。")
            else:
                st.caption(md(state.accountability))
                st.dataframe(
                    pd.DataFrame(
                        [(spec.label, display(spec, state.approved.get(spec.name))) for spec in state.section.fields],
                        columns=["项目", "已审核的值"],
                    ),
                    hide_index=True,
                    width="stretch",
                )
    st.markdown("**申请记录**")
    request_table(workflow.institution_history(actor, chosen), "该机构还没有提交过申请。")
