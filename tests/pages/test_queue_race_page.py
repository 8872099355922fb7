"""A reviewer's click acts only on the request the reviewer had open: when another reviewer
decided it meanwhile, the redrawn queue opens the next request, and the click does not decide it."""

from __future__ import annotations

from sqlmodel import select

from portal.data import db
from portal.data.models import Request
from portal.services import children, workflow
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.factories import child_values, with_class
from tests.pages.conftest import ROOT, login, texts

QUEUE = str(ROOT / "portal/pages/common/review_queue.py")


def _state(request_id: int) -> str:
    with db.session_scope() as session:
        return session.exec(select(Request.state).where(Request.id == request_id)).one()


def test_a_click_on_a_request_decided_meanwhile_decides_nothing_else(app_demo: str) -> None:
    clerk = actor_for("demo-clerk")
    with_class(clerk)
    saved = [
        children.save_child(clerk, child_values(name=name, sequence=index + 1)).child_id
        for index, name in enumerate(["李小明", "李小刚", "李小强"])
    ]
    children.submit_children(clerk, saved)
    at = login("demo-county", DEMO_PASSWORD)
    at.switch_page(QUEUE).run()
    assert not at.exception, at.exception
    options = at.selectbox(key="queue_open").options
    assert len(options) >= 2, "the demo county queue holds several requests"
    opened = int(at.selectbox(key="queue_open").value)
    following = [int(option.split(" · ")[0]) for option in options if int(option.split(" · ")[0]) != opened]

    # Another reviewer of the county decides the opened request first.
    workflow.decide(actor_for("demo-county"), opened, "approve", "")
    before = {request_id: _state(request_id) for request_id in following}

    [approve] = [button for button in at.button if button.label == "审核通过"]
    approve.click().run()
    assert not at.exception, at.exception
    assert {request_id: _state(request_id) for request_id in following} == before
    assert f"您刚才打开的申请 {opened} 已由其他审核人处理或已撤回" in texts(at)
    assert int(at.selectbox(key="queue_open").value) != opened

    # Deciding the request now open is the reviewer's own doing: no notice about it afterwards.
    now_open = int(at.selectbox(key="queue_open").value)
    [approve] = [button for button in at.button if button.label == "审核通过"]
    approve.click().run()
    assert _state(now_open) == "approved"
    assert "已由其他审核人处理" not in texts(at)
