"""通知公告 and 帮助与支持 through AppTest: the province publishes a notice, the clerk sees it unread
and reads it, the province sees it counted; the help page for a clerk; a system administrator
sets their level's support contact (a bad phone number refused, nothing written)."""

from __future__ import annotations

from sqlmodel import delete, func, select
from streamlit.testing.v1 import AppTest

from portal.data import db
from portal.data.models import Notice, SupportContact
from portal.services import notices, support
from portal.ui.text import md
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.factories import TODAY
from tests.pages.conftest import ROOT, click, login, texts

NOTICES = "portal/pages/common/notices.py"
HELP = "portal/pages/common/help.py"


def open_page(username: str, page: str) -> AppTest:
    at = login(username, DEMO_PASSWORD)
    at.switch_page(str(ROOT / page)).run()
    assert not at.exception, at.exception
    return at


def notice_count() -> int:
    with db.session_scope() as session:
        return session.exec(select(func.count()).select_from(Notice)).one()


def test_the_province_publishes_a_notice_and_the_clerk_reads_it(app_demo: str) -> None:
    province = open_page("demo-province", NOTICES)
    assert [t.label for t in province.tabs] == ["收到的通知", "发布通知", "本单位已发布"]
    assert "还没有发给您的通知。" in texts(province)
    # An empty body is refused with the field named, nothing written.
    province.text_input(key="notice_title_0").input("关于信息采集的通知")
    click(province, "发布通知")
    assert not province.exception, province.exception
    assert "请填写通知正文。" in [e.value for e in province.error] and notice_count() == 0
    province.text_area(key="notice_body_0").input("请各园于月底前完成录入。\n逾期请说明原因。")
    click(province, "发布通知")
    assert not province.exception, province.exception
    assert any("已发布" in s.value for s in province.success) and notice_count() == 1
    assert province.text_input(key="notice_title_1").value == ""  # a fresh form

    with db.session_scope() as session:
        notice_id = session.exec(select(Notice.id).where(Notice.title == "关于信息采集的通知")).one()

    clerk = open_page("demo-clerk", NOTICES)
    assert not clerk.tabs and "发布通知" not in [b.label for b in clerk.button]
    assert ":red-badge[未读] **关于信息采集的通知**" in texts(clerk)
    clerk.button(key=f"notice_read_{notice_id}").click().run()
    assert not clerk.exception, clerk.exception
    shown = texts(clerk)
    assert "请各园于月底前完成录入。  \n逾期请说明原因。" in shown and "首次阅读" in shown
    unread = [r.title for r in notices.list_notices(actor_for("demo-clerk")).rows if r.unread]
    assert "关于信息采集的通知" not in unread
    click(clerk, "返回通知列表")
    assert ":gray-badge[已读] **关于信息采集的通知**" in texts(clerk)

    province.run()
    sent = next(d.value for d in province.dataframe if "已读" in d.value.columns)
    ours = sent[sent["标题"] == "关于信息采集的通知"].iloc[0]
    assert str(ours["已读"]).startswith("1 / ")
    province.selectbox(key="notice_sent_choice").set_value(notice_id).run()
    assert next(m for m in province.metric if m.label == "合计已读").value.startswith("1 / ")
    assert next(m for m in province.metric if m.label == "幼儿园已读").value.startswith("1 / ")
    province.radio(key=f"notice_who_{notice_id}").set_value("已读").run()
    people = next(d.value for d in province.dataframe if "首次阅读时间" in d.value.columns)
    assert list(people["姓名"]) == ["陈静"] and list(people["单位"]) == ["中牟县官渡镇小庙王村幼儿园"]


def test_a_notice_title_is_shown_as_typed_and_its_attachment_offered(app_demo: str) -> None:
    title = "**紧急** [点我](javascript:alert(1)) :red[注意]"
    pdf = b"%PDF-1.4\n%%EOF\n"
    notice_id = notices.publish_notice(actor_for("demo-county"), title, "# 不是标题\n- 不是列表", [("安排.pdf", pdf)])
    clerk = open_page("demo-clerk", NOTICES)
    assert f"**{md(title)}**" in texts(clerk)
    clerk.button(key=f"notice_read_{notice_id}").click().run()
    assert not clerk.exception, clerk.exception
    assert "\\# 不是标题  \n\\- 不是列表" in texts(clerk)
    assert [b.label for b in clerk.get("download_button")] == ["安排.pdf（1 KB）"]


def test_the_help_page_for_a_clerk(app_demo: str) -> None:
    with db.session_scope(write=True) as session:  # no contact set yet, whatever the demo brings
        session.exec(delete(SupportContact))  # type: ignore[call-overload]
    clerk = open_page("demo-clerk", HELP)
    shown = texts(clerk)
    assert "帮助与支持" in [t.value for t in clerk.title]
    assert "还没有设置技术支持联系方式" in shown and "切勿告诉任何人您的密码" in shown
    assert "**幼儿信息**：录入幼儿" in shown and "**转园**：" in shown and "**审核队列**" not in shown
    assert "保存联系方式" not in [b.label for b in clerk.button]
    support.seed_demo(TODAY)
    clerk.run()
    table = clerk.dataframe[0].value
    assert list(table["层级"]) == ["县级", "地市级", "省级"]


def test_a_system_administrator_sets_the_provinces_contact(app_demo: str) -> None:
    with db.session_scope(write=True) as session:  # no contact set yet, whatever the demo brings
        session.exec(delete(SupportContact))  # type: ignore[call-overload]
    admin = open_page("demo-sysadmin", HELP)
    assert admin.expander[0].label == "设置本级技术支持联系方式"
    assert "**用户账户**" in texts(admin)
    admin.text_input(key="support_unit").input("河南省教育厅信息中心")
    admin.text_input(key="support_phone").input("0371 6969")
    click(admin, "保存联系方式")
    assert not admin.exception, admin.exception
    assert any("只能由数字和连字符组成" in e.value for e in admin.error)
    with db.session_scope() as session:
        assert session.exec(select(func.count()).select_from(SupportContact)).one() == 0
    admin.text_input(key="support_phone").input("0371-69691001")
    click(admin, "保存联系方式")
    assert not admin.exception, admin.exception
    assert "本级技术支持联系方式已保存。" in [s.value for s in admin.success]
    table = admin.dataframe[0].value
    assert list(table["技术支持单位"]) == ["河南省教育厅信息中心"] and list(table["联系电话"]) == ["0371-69691001"]
