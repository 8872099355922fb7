"""Supervision forms on the screens: the designer publishes, the clerk fills and submits,
the designer follows the fill rate."""

from __future__ import annotations

from datetime import date, timedelta

from portal.services import supervision, workflow
from portal.services.supervision import FieldInput
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.pages.conftest import ROOT, login, texts

FORMS = str(ROOT / "portal/pages/admin/forms.py")
CLERK_PAGE = str(ROOT / "portal/pages/kindergarten/supervision.py")


def test_designer_publishes_clerk_fills_and_submits(app_demo: str) -> None:
    designer = actor_for("demo-sysadmin")
    form = supervision.design_form(
        designer,
        title="幼儿园收费情况",
        description="按实际收费填写",
        due_date=workflow.local_today() + timedelta(days=10),
        fields=[
            FieldInput("保育教育费", "number", True),
            FieldInput("收费已公示", "bool"),
            FieldInput("核定日期", "date", True),
        ],
    )
    at = login("demo-sysadmin", DEMO_PASSWORD)
    at.switch_page(FORMS).run()
    assert "幼儿园收费情况（草稿" in " ".join(e.label for e in at.expander)
    at.button(key=f"form_publish_{form.id}").click().run()
    assert "表单“幼儿园收费情况”已发布。" in texts(at)

    clerk = login("demo-clerk", DEMO_PASSWORD)
    clerk.switch_page(CLERK_PAGE).run()
    prefix = f"supervision_{form.id}"
    clerk.text_input(key=f"{prefix}_f1").input("不详")
    clerk.button(key=f"{prefix}_submit").click().run()
    assert "保育教育费应为数字。" in texts(clerk)
    clerk.text_input(key=f"{prefix}_f1").input("650")
    clerk.checkbox(key=f"{prefix}_f2").check()
    clerk.date_input(key=f"{prefix}_f3").set_value(date(2026, 8, 20))
    clerk.button(key=f"{prefix}_submit").click().run()
    assert "“幼儿园收费情况”已提交。" in texts(clerk)
    assert "幼儿园收费情况（待审核" in " ".join(e.label for e in clerk.expander)

    [row] = workflow.queue(actor_for("demo-county"), kind="supervision").rows
    workflow.decide(actor_for("demo-county"), row.id, "approve")
    at.run()
    rates = next(d.value for d in at.dataframe if "区域" in getattr(d.value, "columns", []))
    assert rates.loc[rates["区域"] == "郑州市", "审核通过"].iloc[0] == 1
