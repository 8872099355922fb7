"""学年工作 through AppTest: the month's tasks, and the promotion previewed, adjusted and applied once."""

from __future__ import annotations

from datetime import date

from streamlit.testing.v1 import AppTest

from portal.services import children, workflow
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.factories import child_values
from tests.pages.conftest import ROOT, click, login, texts

PAGE = str(ROOT / "portal/pages/kindergarten/cycle.py")


def open_cycle() -> AppTest:
    at = login("demo-clerk", DEMO_PASSWORD)
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_promotion_preview_adjust_and_apply_once(app_demo: str) -> None:
    clerk = actor_for("demo-clerk")
    today = workflow.local_today()
    year = children.school_year_of(today)
    for name, grade in (("小一班", "小班"), ("中一班", "中班")):
        children.create_class(clerk, {"name": name, "grade": grade, "school_year": year})
    small = children.save_child(clerk, child_values(enrolment_date=today.isoformat()), today=today).child_id
    children.save_child(
        clerk,
        child_values(name="王小红", gender="女", sequence=2, class_name="中一班", birth=date(2022, 1, 5)),
        today=today,
    )
    at = open_cycle()
    assert "本月幼儿信息变动录入并提交" in texts(at)
    (preview,) = [d.value for d in at.dataframe if "新班级" in d.value.columns]  # the editable plan
    assert dict(zip(preview["姓名"], preview["新班级"], strict=True)) == {"李小明": "中一班", "王小红": "大一班"}
    click(at, "升班")
    assert "请先勾选确认。" in [e.value for e in at.error]
    assert children.list_classes(clerk, f"{int(year[:4]) + 1}-{int(year[:4]) + 2}") == []  # nothing applied
    at.checkbox(key="cycle_promote_ok").check()
    click(at, "升班")
    assert not at.exception, at.exception
    assert "已完成升班" in texts(at)
    next_year = {c.name: c for c in children.list_classes(clerk, f"{int(year[:4]) + 1}-{int(year[:4]) + 2}")}
    assert {name: c.grade for name, c in next_year.items()} == {"中一班": "中班", "大一班": "大班"}
    assert children.get_child(clerk, small).row.class_name == "中一班"
    assert "已完成升入" in texts(at)  # the second time the page says it is done: no button to apply twice
    assert not [b for b in at.button if b.label == "升班"]


def test_leaving_is_declared_for_the_county_and_a_bad_one_refused(app_demo: str) -> None:
    clerk, county = actor_for("demo-clerk"), actor_for("demo-county")
    today = workflow.local_today()
    children.create_class(clerk, {"name": "小一班", "grade": "小班", "school_year": children.school_year_of(today)})
    child_id = children.save_child(clerk, child_values(enrolment_date=today.isoformat()), today=today).child_id
    children.submit_children(clerk)
    workflow.decide(county, workflow.queue(county).rows[0].id, "approve")
    at = open_cycle()
    click(at, "提交离园申请")  # no reason
    assert any("请填写离园原因" in e.value for e in at.error)
    assert workflow.queue(county).total == 0  # nothing filed
    at.text_area(key="cycle_leave_reason").input("随父母迁往外省")
    click(at, "提交离园申请")
    assert not at.exception, at.exception
    assert "等待县级审核" in texts(at)
    (row,) = workflow.queue(county).rows
    assert row.kind_label == "幼儿离园" and row.title == "离园：李小明"
    assert children.get_child(clerk, child_id).row.state == "approved"  # until the county decides
