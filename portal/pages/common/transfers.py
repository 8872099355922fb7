"""转园监管: the transfers with either side in the bureau's region; the overdue ones first (a step
past its deadline is flagged to the counties on both sides). The county's reviews are done in the
review queue."""

import streamlit as st

from portal.services import transfers
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.layout import page_header, service_errors
from portal.ui.transfers import history_panel, transfer_table

actor = require_page("transfers")
page_header("转园监管", actor)
settings = get_settings()
st.caption(
    "本辖区转出或转入的转园。跨县区的转园由转出地、转入地县级教育行政部门依次在“审核队列”中审核；"
    f"每一步 {settings.transfer_step_days} 个工作日，整个转园 {settings.transfer_days} 个工作日内办结，"
    "逾期未办结的自动终止。"
)

with service_errors():
    overdue = transfers.overdue_transfers(actor)
    if overdue:
        st.warning(f"有 {len(overdue)} 个转园已逾期，请督促相关幼儿园或审核人员办理。", icon=":material/schedule:")
        transfer_table(overdue)
    labels = {"open": "办理中", "closed": "已办结", "all": "全部"}
    shown = st.segmented_control("状态", list(labels), format_func=labels.get, default="open", key="transfers_filter")
    closed = [s for s in transfers.STATE_LABELS if s not in transfers.OPEN]
    states = {"open": list(transfers.OPEN), "closed": closed}.get(shown or "all")
    rows = transfers.list_transfers(actor, states=states)
    st.caption(f"共 {len(rows)} 个")
    transfer_table(rows)
    history_panel(actor, rows, "bureau_transfers")
