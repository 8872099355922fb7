"""关键信息变更 through AppTest: the clerk's page (the child picked, the key fields prefilled with the
number masked, a refused submission that writes nothing, the list of requests) and the
institution reviewer's queue (its page set, the masked diff, approval). Uploads cannot be driven
in AppTest: the submission itself is tested at service level (tests/services/test_key_changes.py)."""

from __future__ import annotations

from sqlmodel import select
from streamlit.testing.v1 import AppTest

from portal.auth.actor import Actor
from portal.data import db
from portal.data.models import Child, EvidenceFile, Request
from portal.services import children, key_changes, workflow
from tests.conftest import DEMO_PASSWORD
from tests.factories import child_values, resident_id
from tests.pages.conftest import ROOT, click, login, registered_pages, texts
from tests.services.test_key_changes import FILES, institution_reviewer

PAGE = "portal/pages/kindergarten/key_changes.py"
QUEUE = "portal/pages/common/review_queue.py"
MASKED = resident_id()[:6] + "********" + resident_id()[-4:]


def open_page(username: str, page: str = PAGE) -> AppTest:
    at = login(username, DEMO_PASSWORD)
    at.switch_page(str(ROOT / page)).run()
    assert not at.exception, at.exception
    return at


def approved_child(actors: dict[str, Actor]) -> int:
    clerk = actors["clerk"]
    children.create_class(
        clerk, {"name": "小一班", "grade": "小班", "school_year": children.school_year_of(workflow.local_today())}
    )
    child_id = children.save_child(clerk, child_values()).child_id
    children.submit_children(clerk)
    page = workflow.queue(actors["county"], kind=children.KIND_CHILD)
    workflow.decide_many(actors["county"], [r.id for r in page.rows], "approve")
    return child_id


def written() -> tuple[int, int]:
    with db.session_scope() as session:
        requests = session.exec(select(Request).where(Request.kind == key_changes.KIND_KEY_CHANGE)).all()
        files = session.exec(select(EvidenceFile)).all()
        return len(requests), len(files)


def test_the_page_without_approved_children(actors: dict[str, Actor]) -> None:
    at = open_page("demo-clerk")
    shown = texts(at)
    assert "关键信息变更" in [t.value for t in at.title]
    assert "学籍号不变" in shown and "县级教育行政部门可随时查看" in shown
    assert "没有符合条件的审核通过的幼儿" in shown
    assert "本园还没有关键信息变更申请" in shown


def test_prefilled_form_and_a_refused_submission_writes_nothing(actors: dict[str, Actor]) -> None:
    child_id = approved_child(actors)
    at = open_page("demo-clerk")
    prefix = f"key_change_{child_id}"
    assert at.text_input(key=f"{prefix}_name").value == "李小明"
    assert at.selectbox(key=f"{prefix}_gender").value == "男"
    number = at.text_input(key=f"{prefix}_document_number")
    assert number.value == "" and MASKED in (number.placeholder or "")
    assert resident_id() not in texts(at)
    at.text_input(key=f"{prefix}_name").input("李晓明")
    at.text_area(key=f"{prefix}_reason").input("监护人申请更正姓名")
    at = click(at, "提交变更申请")
    assert not at.exception, at.exception
    assert any("请上传监护人的申请书" in e.value for e in at.error)
    assert written() == (0, 0)
    with db.session_scope() as session:
        child = session.get(Child, child_id)
        assert child is not None and child.name == "李小明"


def test_the_list_and_the_institution_reviewers_queue(actors: dict[str, Actor]) -> None:
    child_id = approved_child(actors)
    request = key_changes.request_key_change(
        actors["clerk"], child_id, {"name": "李晓明"}, "监护人申请更正姓名，附户口簿", FILES
    )
    at = open_page("demo-clerk")
    listing = at.dataframe[-1].value
    assert list(listing["幼儿"]) == ["李小明"] and list(listing["状态"]) == ["待审核"]
    assert list(listing["变更项目"]) == ["姓名"] and list(listing["当前步骤"]) == ["本园审核"]

    reviewer = institution_reviewer()
    at = login(reviewer.username, DEMO_PASSWORD)
    assert registered_pages(at) == {"本园概况", "审核队列", "通报", "通知公告", "帮助与支持", "我的账户"}
    at.switch_page(str(ROOT / QUEUE)).run()
    assert not at.exception, at.exception
    diff = next(d.value for d in at.dataframe if "原值" in d.value.columns)
    assert ("姓名", "李小明", "李晓明") in [tuple(r) for r in diff.itertuples(index=False)]
    assert "幼儿关键信息变更" in texts(at)
    at.text_area(key=f"reason_{request.id}").input("材料齐全")
    at = click(at, "审核通过")
    assert not at.exception, at.exception
    with db.session_scope() as session:
        child = session.get(Child, child_id)
        assert child is not None and child.name == "李晓明" and child.state == "approved"
