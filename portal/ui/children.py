"""Blocks of the children's screens: the masked child table, the child form drawn from ``CHILD``
(the class as a choice of this school year's classes), the "full number" action that asks for a
reason, and the side-by-side view of a problem record (问题学籍)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st
from dateutil.relativedelta import relativedelta

from portal.auth.actor import Actor
from portal.auth.policy import Action, may
from portal.clock import format_local
from portal.data.child_fields import CHILD, FLAGS, ORIGIN_FIELDS, PERSONAL
from portal.data.fields import FieldSpec
from portal.services import children, history, problems
from portal.services.children import ChildDetail, ChildRow, ClassRow
from portal.services.problems import DisputeView, Side
from portal.services.workflow import local_today
from portal.ui.layout import service_errors
from portal.ui.text import md

RED = "color: #c62828; font-weight: 600"
HIGHLIGHT = "background-color: #fff3cd"

# The form's groups: (heading, fields, columns).
FORM_GROUPS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    (
        "基本信息",
        (
            "name",
            "gender",
            "birth_date",
            "document_type",
            "document_number",
            "nationality",
            "ethnicity",
            "hukou_region",
            "address",
        ),
        2,
    ),
    (
        "监护人",
        (
            "guardian1_relation",
            "guardian1_name",
            "guardian1_phone",
            "guardian2_relation",
            "guardian2_name",
            "guardian2_phone",
        ),
        3,
    ),
    ("在园信息", ("enrolment_date", "class_name"), 2),
)
NEW_CHILD_DEFAULTS = {"document_type": "居民身份证", "nationality": "中国", "ethnicity": "汉族"}
REVEAL_LABELS = {
    "document_number": "证件号码",
    "student_number": "学籍号",
    "guardian1_phone": "监护人一电话",
    "guardian2_phone": "监护人二电话",
    "origin_number": "外省转入·原学籍号",
}


# --- the table ------------------------------------------------------------------------------------


def deadline_note(row: ChildRow) -> str:
    """The deadline note ("已超期") of a record not submitted in time; empty otherwise."""
    return "已超期" if row.overdue else ""


def child_frame(rows: Sequence[ChildRow], *, with_institution: bool = False) -> pd.DataFrame:
    """Children as a table: personal numbers masked, the state in words, overdue records noted."""
    records = []
    for r in rows:
        record: dict[str, Any] = {"编号": r.id}
        if with_institution:
            record["幼儿园"] = r.institution_name
        record.update(
            {
                "姓名": r.name,
                "状态": r.state_label,
                "建档提醒": deadline_note(r),
                "性别": r.gender,
                "出生日期": r.birth_date.isoformat(),
                "班级": r.class_name or "—",
                "证件类型": r.document_type,
                "证件号码": r.document_masked or "—",
                "学籍号": r.student_number_masked or "—",
                "入园日期": r.enrolment_date.isoformat(),
                "学籍来源": r.origin_mark,
                "驳回理由": r.return_reason or "",
            }
        )
        records.append(record)
    return pd.DataFrame(records)


def child_table(rows: Sequence[ChildRow], *, with_institution: bool = False) -> None:
    """The table, overdue notes in red (nothing when there are no rows); the columns of the
    return reason and of the out-of-province mark only when a row has one."""
    frame = child_frame(rows, with_institution=with_institution)
    for optional in ("学籍来源", "驳回理由"):
        if not frame[optional].any():
            frame = frame.drop(columns=[optional])
    styled = frame.style.map(lambda v: RED if v else "", subset=["建档提醒"]).map(
        lambda v: RED if v in (children.STATE_LABELS["returned"], children.STATE_LABELS["problem"]) else "",
        subset=["状态"],
    )
    st.dataframe(
        styled,
        hide_index=True,
        width="stretch",
        column_config={
            "编号": st.column_config.NumberColumn(width=50),
            "性别": st.column_config.TextColumn(width=40),
            "建档提醒": st.column_config.TextColumn(help="入园后超过建档期限仍未提交审核"),
        },
    )


def state_metrics(counts: dict[str, int], overdue: int) -> None:
    """How many records in each state, and how many are overdue."""
    shown = ("saved", "submitted", "approved", "returned", "problem")
    columns = st.columns(len(shown) + 1)
    for column, state in zip(columns, shown, strict=False):
        column.metric(children.STATE_LABELS[state], f"{counts.get(state, 0)} 名")
    columns[-1].metric("超期未提交", f"{overdue} 名")


def child_label(row: ChildRow) -> str:
    """A child in a choice list: name, class, state, masked document number."""
    parts = [row.name, row.class_name or "未分班", row.state_label]
    if row.document_masked:
        parts.append(row.document_masked)
    if row.origin_mark:
        parts.append(row.origin_mark)
    return f"{row.id} · " + "，".join(parts)


def origin_note(row: ChildRow) -> None:
    """The out-of-province mark of one record, with what it means for the student number."""
    if not row.origin_mark:
        return
    if row.student_number_masked:
        st.caption(f"{row.origin_mark}：沿用外省学籍号 {row.student_number_masked}。")
    else:
        st.caption(f"{row.origin_mark}：县级审核通过后沿用外省学籍号，不另行生成。")


# --- the form ------------------------------------------------------------------------------------


def _input(spec: FieldSpec, value: Any, key: str, *, placeholder: str = "", help_text: str = "") -> Any:
    label = f"{spec.label}{' *' if spec.required else ''}"
    help_text = help_text or spec.help or ""
    match spec.kind:
        case "date":
            today = local_today()
            initial = date.fromisoformat(value) if value else None
            if spec.name == "birth_date":
                low, high = date(today.year - 10, 1, 1), today
            else:
                low, high = date(today.year - 10, 1, 1), today + relativedelta(months=3)
            return st.date_input(
                label, value=initial, min_value=low, max_value=high, format="YYYY-MM-DD", key=key, help=help_text
            )
        case "choice":
            options = list(spec.choices)
            index = options.index(value) if value in options else None
            return st.selectbox(label, options, index=index, placeholder="请选择", key=key, help=help_text or None)
        case "bool":
            return st.checkbox(spec.label, value=bool(value), key=key)
    return st.text_input(
        label,
        value=value or "",
        max_chars=spec.max_length,
        placeholder=placeholder,
        key=key,
        help=help_text or None,
    )


def child_form(key: str, classes: Sequence[ClassRow], values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The child's form, to be drawn inside ``st.form``; returns the values for ``save_child``.

    ``values`` are a stored record's (personal numbers masked): those number fields start empty
    and stay empty unless the clerk types a new number, so the service keeps the stored ones.
    """
    editing = values is not None
    values = dict(values) if values is not None else dict(NEW_CHILD_DEFAULTS)
    raw: dict[str, Any] = {}
    class_labels = {c.name: c.label for c in classes}

    def field(name: str) -> Any:
        spec = CHILD.spec(name)
        widget_key = f"{key}_{name}"
        if name == "class_name":
            options = list(class_labels)
            current = values.get(name)
            return st.selectbox(
                "班级 *",
                options,
                index=options.index(current) if current in options else None,
                format_func=lambda n: class_labels.get(n, n),
                placeholder="请选择本学年的班级" if options else "本学年还没有班级",
                key=widget_key,
            )
        if name in PERSONAL and editing:
            masked = values.get(name) or ""
            return _input(
                spec,
                "",
                widget_key,
                placeholder=f"已登记 {masked}，不修改请留空" if masked else "",
                help_text="为保护个人信息，已登记的号码不再显示；需要更正时请填写完整的新号码。",
            )
        return _input(spec, values.get(name), widget_key)

    for heading, names, width in FORM_GROUPS:
        st.markdown(f"**{heading}**")
        columns = st.columns(width)
        for index, name in enumerate(names):
            with columns[index % width]:
                raw[name] = field(name)
    st.markdown("**资助政策标记**")
    columns = st.columns(len(FLAGS))
    for column, (name, _label) in zip(columns, FLAGS, strict=True):
        with column:
            raw[name] = field(name)
    with st.expander("外省转入", expanded=bool(values.get("origin_province")), icon=":material/flight_land:"):
        st.caption(
            "从外省幼儿园转入、已有外省学籍号的幼儿填写这两项（一人一号、籍随人走）：县级审核通过后沿用原学籍号，"
            "不另行生成。本省幼儿园之间的转园请办理转园手续。"
        )
        columns = st.columns(len(ORIGIN_FIELDS))
        for column, name in zip(columns, ORIGIN_FIELDS, strict=True):
            with column:
                raw[name] = field(name)
    return raw


def clear_form(key: str) -> None:
    """Forget what was typed into a form drawn by ``child_form`` (after a successful save)."""
    for spec in CHILD.fields:
        st.session_state.pop(f"{key}_{spec.name}", None)


# --- the full number, with a reason -----------------------------------------------------------


def reveal_panel(actor: Actor, detail: ChildDetail, key: str) -> None:
    """The "查看完整号码" action: one number of one child in the clear, after a stated reason (audited)."""
    if not may(actor, Action.REVEAL_PERSONAL):
        return
    row = detail.row
    present = {
        "document_number": row.document_masked,
        "student_number": row.student_number_masked,
        "guardian1_phone": detail.values.get("guardian1_phone"),
        "guardian2_phone": detail.values.get("guardian2_phone"),
        # Before approval the number brought from another province; after it, the student number.
        "origin_number": detail.values.get("origin_number") if not row.student_number_masked else "",
    }
    options = {name: f"{REVEAL_LABELS[name]}（{masked}）" for name, masked in present.items() if masked}
    if not options:
        return
    with st.expander("查看完整号码", icon=":material/visibility:"):
        st.caption("完整号码只在核对证件时查看。须先填写理由，查看人、时间和理由将记入审计日志。")
        with st.form(f"{key}_reveal"):
            field_name = st.selectbox("要查看的号码", list(options), format_func=options.get, key=f"{key}_reveal_field")
            reason = st.text_input(
                "查看理由 *", key=f"{key}_reveal_reason", placeholder="例如：与家长核对户口簿上的身份证号码"
            )
            shown = st.form_submit_button("查看完整号码", key=f"{key}_reveal_go", icon=":material/visibility:")
        if shown:
            with service_errors():
                value = children.reveal(actor, row.id, field_name, reason)
                st.info(
                    f"{row.name}的{REVEAL_LABELS[field_name]}：{value}（本次查看已记入审计日志）",
                    icon=":material/lock_open:",
                )


def detail_table(detail: ChildDetail) -> None:
    """A record's fields, masked, as label and value."""
    row = detail.row
    pending = "尚未生成（县级审核通过后沿用外省学籍号）" if row.origin_mark else "尚未生成（县级审核通过后生成）"
    facts = [
        ("状态", row.state_label),
        ("学籍号", row.student_number_masked or pending),
        *([("学籍来源", row.origin_mark)] if row.origin_mark else []),
        *detail.shown(),
    ]
    st.dataframe(
        pd.DataFrame(facts, columns=["项目", "内容"]),
        hide_index=True,
        width="stretch",
        height=35 * (len(facts) + 1) + 3,
    )


# --- problem records side by side ------------------------------------------------------------------


def side_title(side: Side, role: str, own_institution_id: int | None) -> str:
    mine = "（本园）" if own_institution_id and side.institution_id == own_institution_id else ""
    return f"{role}：{side.institution_name}{mine}"


def dispute_compare(view: DisputeView, own_institution_id: int | None = None) -> None:
    """Both records field by field, the differing rows highlighted."""
    left = side_title(view.claimant, "问题学籍", own_institution_id)
    right = side_title(view.holder, "原有记录", own_institution_id)
    rows = [
        ("所在地区", view.claimant.county_name, view.holder.county_name),
        ("记录状态", view.claimant.child.state_label, view.holder.child.state_label),
        ("学籍号", view.claimant.child.student_number_masked or "—", view.holder.child.student_number_masked or "—"),
    ]
    holder_values = dict(view.holder.values)
    rows += [(label, value, holder_values.get(label, "—")) for label, value in view.claimant.values]
    frame = pd.DataFrame(rows, columns=["项目", left, right])
    styled = frame.style.apply(
        lambda r: [HIGHLIGHT if r[left] != r[right] else "" for _ in r],
        axis=1,
    )
    st.dataframe(styled, hide_index=True, width="stretch", height=35 * (len(rows) + 1) + 3)
    st.caption("底色标出的是两条记录不一致的项目。号码均已隐去中间部分。")


def proof_list(actor: Actor, view: DisputeView, key: str) -> None:
    """The proof (佐证) each side filed, each file downloadable (the download is audited)."""
    for side, role in ((view.claimant, "问题学籍一方"), (view.holder, "原有记录一方")):
        if not side.proofs:
            st.caption(f"{role}（{md(side.institution_name)}）尚未提交佐证。")
            continue
        st.markdown(f"**{role}（{md(side.institution_name)}）的佐证**")
        for proof in side.proofs:
            st.caption(f"{format_local(proof.uploaded_at)} · {md(proof.note)}")
            st.download_button(
                f"{md(proof.filename)}（{proof.size // 1024 + 1} KB）",
                data=lambda proof_id=proof.id: problems.read_proof(actor, proof_id or 0).data,
                file_name=proof.filename,
                mime=proof.content_type,
                key=f"{key}_proof_{proof.id}",
                icon=":material/download:",
            )


def dispute_summary(view: DisputeView) -> str:
    return (
        f"问题学籍 {view.id} · {view.claimant.child.name} · {view.kind_label} · {view.state_label}"
        f"（{view.level_label}仲裁）"
    )


def dispute_outcome(view: DisputeView) -> None:
    """What was decided, by whom and why (nothing while open)."""
    if view.state == "decided":
        st.success(
            f"仲裁结果：{view.outcome_label}。理由：{md(view.reason)}（{md(view.decided_by)}，"
            f"{format_local(view.decided_at)}）",
            icon=":material/gavel:",
        )
    elif view.state == "closed":
        st.info(f"已解决：{view.outcome_label}（{format_local(view.decided_at)}）", icon=":material/task_alt:")


def history_panel(actor: Actor, child_id: int) -> None:
    """The record's history (学籍变动记录): every request about it, at whichever kindergarten."""
    with st.expander("学籍变动记录", icon=":material/history:"):
        entries = history.child_history(actor, child_id)
        if not entries:
            st.caption("该记录还没有提交过任何申请。")
            return
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "时间": format_local(e.at),
                        "业务": e.kind_label,
                        "机构": e.institution_name,
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
