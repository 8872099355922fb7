"""Shared pieces of the transfer screens: the table of transfers and one transfer's history."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from portal.auth.actor import Actor
from portal.clock import format_local
from portal.services import transfers
from portal.services.transfers import TransferRow
from portal.ui.layout import service_errors


def deadline_text(row: TransferRow) -> str:
    if row.days_left is None:
        return ""
    if row.overdue:
        return "已逾期"
    return f"剩 {row.days_left} 个工作日"


def transfer_frame(rows: Sequence[TransferRow], *, with_direction: bool = False, hide: str = "") -> pd.DataFrame:
    """The transfers as a table; ``hide`` leaves out one column (the kindergarten's own side)."""
    records = []
    for r in rows:
        record = {"编号": r.id}
        if with_direction:
            record["方向"] = r.direction
        record.update(
            {
                "幼儿": r.child_name,
                "学籍号": r.student_number,
                "转出园": r.from_name,
                "转入园": r.to_name,
                "状态": r.state_label,
                "本步期限": str(r.step_due or ""),
                "办结期限": str(r.due_date),
                "剩余": deadline_text(r),
                "发起日期": str(r.started_on),
                "转园原因": r.reason,
                "结果说明": r.closed_reason,
            }
        )
        record.pop(hide, None)
        records.append(record)
    return pd.DataFrame(records)


def transfer_table(rows: Sequence[TransferRow], *, with_direction: bool = False, hide: str = "") -> None:
    if not rows:
        st.caption("暂无转园记录。")
        return
    st.dataframe(transfer_frame(rows, with_direction=with_direction, hide=hide), hide_index=True, width="stretch")


def step_note(row: TransferRow, verb: str) -> str:
    """The deadline line of a transfer waiting for this kindergarten, red when it has passed."""
    if row.overdue:
        return f":red[**已逾期**：本步应在 {row.step_due} 前{verb}，整个转园须在 {row.due_date} 前办结]"
    return f"本步期限：{row.step_due}　办结期限：{row.due_date}"


def history_panel(actor: Actor, rows: Sequence[TransferRow], key: str) -> None:
    """Pick a transfer and see every step of it (who, when, with what reason)."""
    if not rows:
        return
    labels = {r.id: f"{r.id} · {r.child_name}（{r.from_name} → {r.to_name}，{r.state_label}）" for r in rows}
    with st.expander("查看转园办理记录", icon=":material/history:"):
        chosen = st.selectbox("选择转园", list(labels), format_func=labels.get, key=f"{key}_history")
        with service_errors():
            entries = transfers.transfer_history(actor, chosen)
            st.dataframe(
                pd.DataFrame(
                    [
                        {
                            "时间": format_local(e.at),
                            "步骤": e.step,
                            "操作": e.action,
                            "办理人": e.who,
                            "理由/说明": e.reason,
                        }
                        for e in entries
                    ]
                ),
                hide_index=True,
                width="stretch",
            )
