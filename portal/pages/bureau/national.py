"""全国汇总 (R8.5): the ministry's national deployment. The progress table per province from each
province's latest exchange package (institutions, reported %, reviewed %, numbered against the
education statistics %, the package's date), the children numbered in two provinces, and the log
of packages imported and duplicates reports issued. Packages are imported at the command line
(``python -m portal exchange import``)."""

import pandas as pd
import streamlit as st

from portal.clock import format_local
from portal.services import exchange
from portal.services.progress import percent
from portal.ui.guard import require_page
from portal.ui.layout import page_header, service_errors

actor = require_page("national_dashboard")
page_header("全国汇总", actor)
st.caption(
    "各省按期报送数据交换包（已签名、带校验和），教育部导入后在此汇总：每省取最新一期。"
    "学籍数据只以哈希标识报送，用于全国查重；与外省重复的幼儿由教育部出具查重报告，退回有关省份作为问题学籍处理。"
)

with service_errors():
    board = exchange.national_dashboard(actor)
    total = board.total
    top = st.columns(4)
    top[0].metric("已报送省份", f"{len(board.rows)} 个")
    top[1].metric("学前机构", f"{total.institutions} 个")
    top[2].metric(
        "已获得学籍的幼儿", f"{total.numbered} 人", help=f"占教育统计在园幼儿数 {percent(total.numbered_pct)}"
    )
    top[3].metric("跨省重复学籍", f"{total.duplicates} 人")
    if not board.rows:
        st.info("还没有导入任何省份的数据交换包。", icon=":material/info:")
    else:
        st.subheader("各省进度")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "省份": r.province_name,
                        "系统内学前机构总数（个）": r.institutions,
                        "机构基本信息已上报数（个）": r.reported,
                        "上报占比": percent(r.reported_pct),
                        "已审核数（个）": r.reviewed,
                        "审核占比": percent(r.reviewed_pct),
                        "教育统计在园幼儿数（人）": "" if r.baseline is None else str(r.baseline),
                        "已获得学籍的幼儿数（人）": r.numbered,
                        "学籍占比": percent(r.numbered_pct),
                        "跨省重复（人）": r.duplicates,
                        "数据交换包": f"第 {r.sequence} 期",
                        "生成时间": format_local(r.package_created_at) if r.package_created_at else "",
                        "导入时间": format_local(r.imported_at) if r.imported_at else "",
                    }
                    for r in [*board.rows, total]
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    st.subheader("导入与查重报告记录")
    if not board.log:
        st.caption("暂无记录。")
    else:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "时间": format_local(r.recorded_at),
                        "省份": r.province_name,
                        "类别": f"{r.direction}{r.kind}",
                        "期号": r.sequence,
                        "文件生成时间": format_local(r.package_created_at),
                        "幼儿（条）": r.children,
                        "说明": r.summary,
                    }
                    for r in board.log
                ]
            ),
            hide_index=True,
            width="stretch",
        )
