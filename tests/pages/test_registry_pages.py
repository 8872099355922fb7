"""The registry through the screens: the clerk fills and submits, the township and the county
approve; a change declaration is returned with a reason the clerk then reads."""

from __future__ import annotations

from datetime import date

from streamlit.testing.v1 import AppTest

from portal.services import registry
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.pages.conftest import ROOT, login, texts
from tests.services.test_registry_workflow import BASE

REGISTRY = str(ROOT / "portal/pages/kindergarten/registry.py")
QUEUE = str(ROOT / "portal/pages/common/review_queue.py")


def fill_base(at: AppTest, values: dict) -> None:
    for name, value in values.items():
        key = f"registry_base_{name}"
        if name == "founded":
            at.date_input(key=key).set_value(date.fromisoformat(value))
        elif name == "authority":
            at.selectbox(key=key).select(value)
        elif name == "boarding":
            at.checkbox(key=key).set_value(value)
        else:
            at.text_input(key=key).input(value)


def open_queue(username: str) -> AppTest:
    at = login(username, DEMO_PASSWORD)
    at.switch_page(QUEUE).run()
    assert not at.exception, at.exception
    return at


def test_clerk_submits_township_and_county_approve(app_demo: str) -> None:
    at = login("demo-clerk", DEMO_PASSWORD)
    at.switch_page(REGISTRY).run()
    assert at.tabs[0].label == "机构基本信息（未填报）"
    at.text_input(key="registry_base_address").input("官渡镇小庙王村")
    at.button(key="registry_base_submit").click().run()
    assert "联系电话为必填项。" in texts(at)  # nothing submitted with gaps
    fill_base(at, BASE)
    at.button(key="registry_base_submit").click().run()
    assert "机构基本信息已提交（机构信息上报）" in texts(at)
    assert at.tabs[0].label == "机构基本信息（待审核）"

    township = open_queue("demo-township")
    assert township.dataframe[0].value["事项"].tolist() == ["中牟县官渡镇小庙王村幼儿园·机构基本信息"]
    assert "乡镇中心园初审" in township.dataframe[0].value["当前步骤"].tolist()
    township.button(key="decide_approve").click().run()
    assert "已审核通过" in texts(township)
    assert "没有等待您处理的申请。" in texts(township)

    county = open_queue("demo-county")
    changes = county.dataframe[1].value  # the diff under the queue table
    assert ("园长姓名", "—", "王秀英") in list(changes.itertuples(index=False, name=None))
    county.button(key="decide_approve").click().run()
    assert "已审核通过" in texts(county)

    at.run()
    assert at.tabs[0].label == "机构基本信息（已审核）"
    assert "填报人 陈静，审核人 张伟" in texts(at)


def test_returned_change_declaration_shows_the_reason(app_demo: str) -> None:
    clerk = actor_for("demo-clerk")
    first = registry.submit_section(clerk, "base", BASE)
    from portal.services import workflow

    workflow.decide(actor_for("demo-township"), first.id or 0, "approve")
    workflow.decide(actor_for("demo-county"), first.id or 0, "approve")

    at = login("demo-clerk", DEMO_PASSWORD)
    at.switch_page(REGISTRY).run()
    at.text_input(key="registry_base_license_no").input("教民141012279999")
    at.button(key="registry_base_submit").click().run()
    assert "机构信息异动申报" in texts(at)

    county = open_queue("demo-county")
    county.button(key="decide_return").click().run()
    assert "驳回必须填写理由。" in texts(county)
    county.text_area(key=f"reason_{county.selectbox(key='queue_open').value}").input("许可证号与原件不符，请核对")
    county.button(key="decide_return").click().run()
    assert "已驳回" in texts(county)

    at.run()
    assert at.tabs[0].label == "机构基本信息（已驳回）"
    assert "上次提交被驳回，理由：许可证号与原件不符，请核对" in texts(at)


def test_batch_approval_needs_a_confirmation(app_demo: str) -> None:
    from tests.services.test_registry_workflow import CONDITIONS

    clerk = actor_for("demo-clerk")
    ids = [registry.submit_section(clerk, s, v).id for s, v in (("base", BASE), ("conditions", CONDITIONS))]
    at = open_queue("demo-township")
    assert at.dataframe[0].value["编号"].tolist() == ids
    at.multiselect(key="queue_batch_ids").set_value(ids)
    at.button(key="queue_batch_approve").click().run()
    assert "批量通过前请勾选确认。" in texts(at)
    at.multiselect(key="queue_batch_ids").set_value(ids)
    at.checkbox(key="queue_batch_confirm").check()
    at.button(key="queue_batch_approve").click().run()
    assert "已通过 2 条申请。" in texts(at)
    assert "没有等待您处理的申请。" in texts(at)
    assert open_queue("demo-county").dataframe[0].value["编号"].tolist() == ids


def test_county_opens_an_institution_and_sees_its_information_and_history(app_demo: str) -> None:
    from portal.services import workflow

    request = registry.submit_section(actor_for("demo-clerk"), "base", BASE)
    workflow.decide(actor_for("demo-township"), request.id or 0, "approve")
    workflow.decide(actor_for("demo-county"), request.id or 0, "approve")
    at = login("demo-county", DEMO_PASSWORD)
    at.switch_page(str(ROOT / "portal/pages/common/institutions.py")).run()
    at.selectbox(key="inst_open").select(request.institution_id).run()
    assert [e.label for e in at.expander] == ["机构基本信息：已审核", "办学条件：未填报", "建筑信息：未填报"]
    assert "填报人 陈静，审核人 张伟" in texts(at)
    values = dict(at.dataframe[1].value.itertuples(index=False, name=None))
    assert values["园长姓名"] == "王秀英" and values["是否提供寄宿"] == "否"
    history = at.dataframe[-1].value
    assert history["状态"].tolist() == ["审核通过"] and history["类型"].tolist() == ["机构信息上报"]


def test_the_bureau_home_lists_overdue_requests(app_demo: str) -> None:
    from portal.services import workflow

    request = registry.submit_section(actor_for("demo-clerk"), "base", BASE)
    workflow.decide(actor_for("demo-township"), request.id or 0, "approve", today=date(2026, 9, 1))
    at = login("demo-city", DEMO_PASSWORD)
    overdue = next(d.value for d in at.dataframe if "事项" in getattr(d.value, "columns", []))
    assert overdue["事项"].tolist() == ["中牟县官渡镇小庙王村幼儿园·机构基本信息"]
    assert overdue["剩余工作日"].iloc[0] < 0
