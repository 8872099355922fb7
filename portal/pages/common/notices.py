"""通知公告: the notices addressed to this user (unread first; opening one records the read
receipt); a bureau's leaders, reviewers and system administrators also publish notices to the
levels below and see, for each, who has read it and who has not yet."""

import pandas as pd
import streamlit as st

from portal.auth.policy import Action, may
from portal.clock import format_local
from portal.services import notices
from portal.settings import get_settings
from portal.ui.guard import require_page
from portal.ui.layout import flash_and_rerun, page_header, service_errors, show_flash
from portal.ui.paging import KeysetPager
from portal.ui.text import md

FLASH = "notices_flash"
OPEN = "notice_open"  # the id of the notice being read
FORM = "notice_form_round"  # a new form (empty fields) after each notice published
PAGE_SIZE = 20

actor = require_page("notices")
page_header("通知公告", actor)
show_flash(FLASH)
settings = get_settings()


def size_label(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size // 1024 + 1} KB"


def body_markdown(body: str) -> str:
    """The body as typed: every line kept (a hard line break), nothing read as Markdown."""
    return "  \n".join(md(line) for line in body.splitlines())


def render(view: notices.NoticeView, key: str) -> None:
    """A notice's title, source, body and attachments (each download read and audited on click)."""
    st.subheader(md(view.title), anchor=False)
    when = f"{md(view.source)} · {md(view.publisher_name)} 发布于 {format_local(view.published_at)}"
    if view.read_at is not None:
        when += f" · 您于 {format_local(view.read_at)} 首次阅读"
    st.caption(when)
    if view.withdrawn_at is not None:
        st.warning(f"本通知已于 {format_local(view.withdrawn_at)} 撤回，下级已看不到。", icon=":material/undo:")
    st.markdown(body_markdown(view.body))
    if view.attachments:
        st.markdown("**附件**")
    for row in view.attachments:
        st.download_button(
            f"{md(row.filename)}（{size_label(row.size)}）",
            data=lambda attachment_id=row.id: notices.read_attachment(actor, attachment_id).data,
            file_name=row.filename,
            mime=row.content_type,
            key=f"{key}_attachment_{row.id}",
            icon=":material/download:",
        )


def show_notice(notice_id: int) -> None:
    with service_errors():
        view = notices.open_notice(actor, notice_id)
        if st.button("返回通知列表", key="notice_back", icon=":material/arrow_back:"):
            st.session_state.pop(OPEN, None)
            st.rerun()
        with st.container(border=True):
            render(view, "notice")
        return
    st.session_state.pop(OPEN, None)  # gone (withdrawn, or not addressed to this user)


def received() -> None:
    opened = st.session_state.get(OPEN)
    if opened is not None:
        show_notice(opened)
        return
    pager = KeysetPager("notice_pager")
    page = notices.list_notices(actor, cursor=pager.cursor, limit=PAGE_SIZE)
    if not page.total:
        st.info("还没有发给您的通知。", icon=":material/info:")
        return
    st.caption(f"共 {page.total} 条通知，其中未读 {page.unread} 条；未读的排在前面。")
    for row in page.rows:
        with st.container(border=True):
            badge = ":red-badge[未读]" if row.unread else ":gray-badge[已读]"
            st.markdown(f"{badge} **{md(row.title)}**")
            files = f" · 附件 {row.attachments} 个" if row.attachments else ""
            st.caption(f"{md(row.source)} · {md(row.publisher_name)} 发布于 {format_local(row.published_at)}{files}")
            if st.button("阅读", key=f"notice_read_{row.id}", icon=":material/article:"):
                st.session_state[OPEN] = row.id
                st.rerun()
    pager.controls(page.next_cursor, page.total, PAGE_SIZE)


def publish() -> None:
    round_ = st.session_state.get(FORM, 0)
    st.caption(f"发送范围：{md(notices.audience_label(actor))}。发布后立即送达，下级在“通知公告”中阅读。")
    with st.form(f"notice_publish_{round_}"):
        title = st.text_input("标题 *", max_chars=notices.TITLE_MAX, key=f"notice_title_{round_}")
        body = st.text_area("正文 *", max_chars=notices.BODY_MAX, height=220, key=f"notice_body_{round_}")
        files = st.file_uploader(
            f"附件（最多 {notices.MAX_ATTACHMENTS} 个，每个不超过 {settings.notice_attachment_max_mb} MB；"
            "PDF、图片、Word、Excel 或 WPS 文件）",
            accept_multiple_files=True,
            key=f"notice_files_{round_}",
        )
        sent = st.form_submit_button("发布通知", type="primary", icon=":material/send:")
    if sent:
        with service_errors():
            notices.publish_notice(actor, title, body, [(f.name, f.getvalue()) for f in files or []])
            st.session_state[FORM] = round_ + 1
            flash_and_rerun(FLASH, f"通知“{title.strip()}”已发布，下级即可在“通知公告”中阅读。")


def receipts(notice_id: int) -> None:
    summary = notices.receipt_summary(actor, notice_id)
    columns = st.columns(len(summary.levels) + 1)
    columns[0].metric("合计已读", f"{summary.read} / {summary.addressed}")
    for column, level in zip(columns[1:], summary.levels, strict=True):
        column.metric(f"{level.label}已读", f"{level.read} / {level.addressed}")
    left, right = st.columns([1, 2])
    read = left.radio("名单", ["未读", "已读"], horizontal=True, key=f"notice_who_{notice_id}") == "已读"
    labels = {"": "全部层级", **{lv.level: lv.label for lv in summary.levels}}
    level = right.selectbox("层级", list(labels), format_func=labels.get, key=f"notice_level_{notice_id}")
    pager = KeysetPager(f"notice_people_{notice_id}", (read, level))
    people = notices.receipt_people(
        actor, notice_id, read=read, level=level or None, after=pager.cursor, limit=settings.page_size
    )
    if not people.rows:
        st.info("全部已读。" if not read else "还没有人阅读。", icon=":material/info:")
    else:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "姓名": p.real_name,
                        "用户名": p.username,
                        "单位": p.unit,
                        "角色": p.role,
                        **({"首次阅读时间": format_local(p.read_at)} if read else {}),
                    }
                    for p in people.rows
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    pager.controls(people.next_after, people.total, settings.page_size)


def sent() -> None:
    pager = KeysetPager("notice_sent_pager")
    page = notices.list_sent(actor, cursor=pager.cursor, limit=PAGE_SIZE)
    if not page.total:
        st.info("本单位还没有发布过通知。", icon=":material/info:")
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "标题": r.title,
                    "发布人": r.publisher_name,
                    "发布时间": format_local(r.published_at),
                    "附件": r.attachments,
                    "已读": f"{r.read} / {r.addressed}",
                    "状态": f"已撤回（{format_local(r.withdrawn_at)}）" if r.withdrawn_at else "有效",
                }
                for r in page.rows
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    pager.controls(page.next_before, page.total, PAGE_SIZE)
    titles = {r.id: f"{r.title}（{format_local(r.published_at)}）" for r in page.rows}
    chosen = st.selectbox("查看阅读情况", list(titles), format_func=titles.get, key="notice_sent_choice")
    if chosen is None:
        return
    with service_errors():
        with st.expander("正文与附件", icon=":material/article:"):
            render(notices.open_notice(actor, chosen), "notice_sent")
        receipts(chosen)
    row = next(r for r in page.rows if r.id == chosen)
    if row.withdrawn_at is None:
        confirm_key = f"notice_withdraw_confirm_{chosen}"
        if not st.session_state.get(confirm_key):
            if st.button("撤回该通知", key=f"notice_withdraw_{chosen}", icon=":material/undo:"):
                st.session_state[confirm_key] = True
                st.rerun()
        else:
            st.warning("撤回后下级将看不到这条通知（已读记录保留）。确定撤回吗？", icon=":material/warning:")
            yes, no, _ = st.columns([1, 1, 3])
            if yes.button("确认撤回", key=f"notice_withdraw_yes_{chosen}", type="primary", width="stretch"):
                st.session_state.pop(confirm_key, None)
                with service_errors():
                    notices.withdraw_notice(actor, chosen)
                    flash_and_rerun(FLASH, f"通知“{row.title}”已撤回。")
            if no.button("取消", key=f"notice_withdraw_no_{chosen}", width="stretch"):
                st.session_state.pop(confirm_key, None)
                st.rerun()


if may(actor, Action.PUBLISH_NOTICE):
    inbox, new, outbox = st.tabs(["收到的通知", "发布通知", "本单位已发布"])
    with inbox, service_errors():
        received()
    with new:
        publish()
    with outbox, service_errors():
        sent()
else:
    with service_errors():
        received()
