"""转园 through AppTest: the receiving clerk starts (a mismatch refused, nothing written), the
sending clerk agrees, the receiver completes into a class; the county's supervision page flags an
overdue transfer."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import func, select
from streamlit.testing.v1 import AppTest

from portal.auth.actor import Actor
from portal.auth.roles import Level
from portal.data import db
from portal.data.models import Transfer
from portal.services import children, transfers, workflow
from tests.conftest import DEMO_PASSWORD
from tests.factories import reviewer_of
from tests.pages.conftest import ROOT, click, login, texts
from tests.services.test_transfers import OTHER_COUNTY, SAME_COUNTY, numbered, receiver_with_class, stored

PAGE = "portal/pages/kindergarten/transfers.py"
BUREAU_PAGE = "portal/pages/common/transfers.py"


def open_page(username: str, page: str = PAGE) -> AppTest:
    at = login(username, DEMO_PASSWORD)
    at.switch_page(str(ROOT / page)).run()
    assert not at.exception, at.exception
    return at


def transfers_written() -> int:
    with db.session_scope() as session:
        return session.exec(select(func.count()).select_from(Transfer)).one()


def start(at: AppTest, number: str, name: str, class_id: int) -> AppTest:
    at.text_input(key="transfer_number").input(number)
    at.text_input(key="transfer_name").input(name)
    at.selectbox(key="transfer_class").select(class_id)
    at.text_input(key="transfer_reason").input("随父母迁居")
    return click(at, "发起转园")


def test_a_transfer_started_agreed_and_completed_on_the_pages(actors: dict[str, Actor]) -> None:
    child_id, number = numbered(actors)
    receiver, class_id = receiver_with_class(SAME_COUNTY)
    at = open_page(receiver.username)
    assert "转园办理" in [t.value for t in at.title]
    assert "学籍号不变" in texts(at)
    start(at, number, "李小名", class_id)
    assert not at.exception, at.exception
    assert transfers.MISMATCH in [e.value for e in at.error]
    assert transfers_written() == 0
    start(at, number, "李小明", class_id)
    assert any("已发起转园" in s.value for s in at.success)
    assert transfers_written() == 1

    home = open_page("demo-clerk", "portal/pages/kindergarten/home.py")
    assert "有 1 个转园等待本园办理：李小明（待本园同意）" in texts(home)
    sender = open_page("demo-clerk")
    assert "待本园同意" in texts(sender) and "李小明" in texts(sender)
    click(sender, "同意")
    assert not sender.exception, sender.exception
    assert any("已同意" in s.value for s in sender.success)

    at = open_page(receiver.username)
    assert "待本园办理转入" in texts(at)
    assert at.selectbox(key=f"complete_{transfers.list_transfers(receiver)[0].id}").value == class_id
    click(at, "办理转入")
    assert not at.exception, at.exception
    assert any("已转入本园" in s.value for s in at.success)
    moved = stored(child_id)
    assert moved.institution_id == receiver.institution_id and children.number_of(moved) == number

    # The record's history, on the receiver's children page: reviewed at the old kindergarten,
    # then the transfer.
    at = open_page(receiver.username, "portal/pages/kindergarten/children.py")
    at.selectbox(key="children_open").select(child_id).run()
    history = next(d.value for d in at.dataframe if "业务" in d.value.columns)
    assert list(history["业务"])[:2] == ["幼儿信息审核", "幼儿信息审核"]
    assert set(history["机构"]) == {"中牟县官渡镇小庙王村幼儿园", "中牟县实验幼儿园"}
    assert list(history["业务"])[-1] == "转园（转入）"


def test_the_sender_refuses_without_a_reason_and_is_told(actors: dict[str, Actor]) -> None:
    _, number = numbered(actors)
    receiver, class_id = receiver_with_class(SAME_COUNTY)
    transfer_id = transfers.start_transfer(receiver, number, "李小明", class_id, "迁居")
    sender = open_page("demo-clerk")
    click(sender, "拒绝")
    assert "拒绝转园必须填写理由。" in [e.value for e in sender.error]
    assert transfers.list_transfers(receiver)[0].state == "sender"
    sender.text_input(key=f"refuse_reason_{transfer_id}").input("家长未办理离园手续")
    click(sender, "拒绝")
    assert transfers.list_transfers(receiver)[0].state == "refused"


def test_the_county_sees_an_overdue_transfer_flagged(actors: dict[str, Actor]) -> None:
    _, number = numbered(actors)
    receiver, class_id = receiver_with_class(OTHER_COUNTY)
    started = workflow.local_today() - timedelta(days=14)
    transfers.start_transfer(receiver, number, "李小明", class_id, "迁居", today=started)
    reviewer_of(Level.COUNTY, "410102")
    for username in ("demo-county", "reviewer-410102"):
        at = open_page(username, BUREAU_PAGE)
        shown = texts(at)
        assert "有 1 个转园已逾期" in shown, shown
        home = open_page(username, "portal/pages/bureau/home.py")
        assert "1 个转园逾期未办结" in texts(home)
