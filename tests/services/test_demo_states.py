"""The full demo: institution information in every state, so that each queue has work in it."""

from __future__ import annotations

from portal.services import children, problems, registry, transfers, workflow
from portal.services.demo import load_demo
from tests.conftest import DEMO_PASSWORD, actor_for, load_henan_regions


def test_every_queue_has_work_and_every_state_occurs(database: str) -> None:
    load_henan_regions()
    load_demo(DEMO_PASSWORD)
    township, county = actor_for("demo-township"), actor_for("demo-county")
    assert [r.kind_label for r in workflow.queue(township).rows] == ["机构信息上报"]
    assert [r.title for r in workflow.queue(township, overdue=True).rows] == [
        "中牟县官渡镇第一小学附设幼儿班·机构基本信息"
    ]
    assert [r.title for r in workflow.overdue(actor_for("demo-city"))] == [
        "中牟县官渡镇第一小学附设幼儿班·机构基本信息",
        "转园：张欣怡（中牟县官渡镇小庙王村幼儿园 → 中牟县实验幼儿园）",
    ]
    assert sorted(r.kind_label for r in workflow.queue(county).rows) == [
        "幼儿信息审核",
        "幼儿信息审核",
        "机构信息上报",
        "机构信息异动报备",
        "机构信息异动申报",
        "监管信息报送",
        "转园（转出）",
    ]
    _, states = registry.institution_sections(actor_for("demo-clerk"))
    assert [s.status for s in states] == ["待审核", "已驳回", "草稿"]
    assert states[0].approved is not None and states[1].last_return_reason
    statuses = {
        s.status
        for code in ("4101220003", "4101220004", "4101220005")
        for s in registry.institution_sections(county, _institution_id(code))[1]
    }
    assert {"未填报", "待审核", "已审核"} <= statuses


def _institution_id(code: str) -> int:
    from sqlmodel import select

    from portal.data import db
    from portal.data.models import Institution

    with db.session_scope() as session:
        return session.exec(select(Institution.id).where(Institution.code == code)).one() or 0


def test_children_in_every_state_and_a_problem_record_for_the_city(database: str) -> None:
    load_henan_regions()
    load_demo(DEMO_PASSWORD)
    clerk = actor_for("demo-clerk")
    assert children.state_counts(clerk) == {
        "saved": 2,
        "submitted": 2,
        "approved": 7,
        "returned": 1,
        "problem": 1,
        "graduated": 2,
        "left": 1,
    }
    assert [c.name for c in children.list_classes(clerk, children.school_year_of(workflow.local_today()))] == [
        "小一班",
        "中一班",
        "大一班",
        "托一班",
    ]
    rows = children.list_children(clerk).rows
    assert {r.student_number_masked[:7] for r in rows if r.state == "approved"} == {"G410122", "J410122", "J130102"}
    assert all("*" in r.document_masked for r in rows if r.document_masked)
    assert [r.name for r in children.overdue_children(clerk)]  # a record not submitted in time
    assert next(r for r in rows if r.state == "returned").return_reason
    (dispute,) = problems.list_disputes(actor_for("demo-city"))
    assert dispute.level == "city" and dispute.may_arbitrate
    assert (dispute.claimant.institution_name, dispute.holder.institution_name) == (
        "中牟县官渡镇小庙王村幼儿园",
        "郑州市中原区伊河路幼儿园",
    )
    assert problems.list_disputes(actor_for("demo-county")) == []  # across counties: above the county
    transfer, change = workflow.queue(actor_for("demo-reviewer")).rows  # the kindergarten's reviewer decides
    assert change.kind_label == "幼儿关键信息变更" and "王梓涵" in change.title
    assert transfer.kind_label == "转园（转出）" and "张欣怡" in transfer.title  # or the clerk, on the 转园 page


def test_a_childs_life_graduates_leavers_and_transfers_at_every_stage(database: str) -> None:
    load_henan_regions()
    load_demo(DEMO_PASSWORD)
    clerk, county = actor_for("demo-clerk"), actor_for("demo-county")
    closed = {r.name: r.state for r in children.list_children(clerk, state="graduated").rows}
    closed |= {r.name: r.state for r in children.list_children(clerk, state="left").rows}
    assert closed == {"徐子墨": "graduated", "何雨萱": "graduated", "吴佳琪": "left"}
    stages = {r.child_name: (r.direction, r.state) for r in transfers.list_transfers(clerk)}
    assert stages == {
        "张欣怡": ("转出", "sender"),
        "马浩宇": ("转出", "out_county"),
        "高梓萌": ("转入", "receiver"),
        "罗一鸣": ("转入", "completed"),
    }
    assert [r.child_name for r in transfers.overdue_transfers(county)] == ["张欣怡"]
    rows = {r.name: r for r in children.list_children(clerk).rows}
    assert "罗一鸣" in rows
    assert rows["田语桐"].student_number_masked.startswith("J130102")  # the number from 河北省, kept
