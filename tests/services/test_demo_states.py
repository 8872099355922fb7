"""The full demo: institution information in every state, so that each queue has work in it."""

from __future__ import annotations

from portal.services import registry, workflow
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
        "中牟县官渡镇第一小学附设幼儿班·机构基本信息"
    ]
    assert sorted(r.kind_label for r in workflow.queue(county).rows) == [
        "机构信息上报",
        "机构信息异动报备",
        "机构信息异动申报",
        "监管信息报送",
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
