"""The monthly update's reminder on the kindergarten's home from the 20th, the county's list of its
institutions behind on its 工作台, and the month-end snapshot the bureaus' home page catches up."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import func, select

from portal.data import db
from portal.data.models import MonthEndSnapshot
from portal.services import snapshots, workflow
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.factories import with_class
from tests.pages.conftest import login
from tests.services.test_children import enter


@pytest.fixture
def saved_record(app_demo: str) -> None:
    clerk = actor_for("demo-clerk")
    with_class(clerk)
    enter(clerk)
    snapshots._checked.clear()


def on(monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    monkeypatch.setattr(workflow, "local_today", lambda: day)


def test_the_kindergarten_is_reminded_from_the_20th(saved_record: None, monkeypatch: pytest.MonkeyPatch) -> None:
    on(monkeypatch, date(2026, 11, 19))
    at = login("demo-clerk", DEMO_PASSWORD)
    assert not any("日截止" in w.value for w in at.warning)
    assert any("本月幼儿信息变动录入并提交" in i.value for i in at.info)  # the calendar's task, as before
    on(monkeypatch, date(2026, 11, 21))
    at = login("demo-clerk", DEMO_PASSWORD)
    reminders = [w.value for w in at.warning if "日截止" in w.value]
    assert len(reminders) == 1 and "11 月 25 日截止（还有 4 天）" in reminders[0]
    assert not any("本月幼儿信息变动录入并提交" in i.value for i in at.info)  # said once, as the reminder


def test_the_county_sees_its_institutions_behind_and_the_snapshot_is_taken(
    saved_record: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    on(monkeypatch, date(2026, 11, 19))
    at = login("demo-county", DEMO_PASSWORD)
    assert not at.exception, at.exception
    assert "本月信息变动未完成的机构" not in [s.value for s in at.subheader]
    with db.session_scope() as session:  # the home page took the month-end due (the real clock)
        assert session.exec(select(func.count()).select_from(MonthEndSnapshot)).one() > 0
    on(monkeypatch, date(2026, 11, 20))
    at = login("demo-county", DEMO_PASSWORD)
    assert "本月信息变动未完成的机构" in [s.value for s in at.subheader]
    listed = next(d.value for d in at.dataframe if "未提交记录" in d.value.columns)
    assert listed["机构名称"].tolist() == ["中牟县官渡镇小庙王村幼儿园"]
    assert listed["未提交记录"].tolist() == [1]
