"""经费测算 on screen: a province's finance user computes a run of the small province of
tests/services/test_funding.py and reads its totals, an institution's children (masked) and the
workbook; a wrong period is refused on screen; other roles do not have the page."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from portal.data import db
from portal.data.models import AuditLog, FundingRun
from tests.conftest import DEMO_PASSWORD
from tests.pages.conftest import click, login, registered_pages, texts
from tests.services.test_funding import YEAR, D, S, build_province


def widget(widgets: object, label: str) -> object:
    found = [w for w in widgets if w.label == label]  # type: ignore[attr-defined]
    assert found, f"no widget {label!r}"
    return found[0]


def runs() -> int:
    with db.session_scope() as session:
        return session.exec(select(func.count()).select_from(FundingRun)).one()


def test_a_finance_user_computes_a_run_and_reads_it(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    province = build_province(monkeypatch)
    at = login("fin-province", DEMO_PASSWORD)
    assert "经费测算" in registered_pages(at)
    shown = texts(at)
    assert "按基准日所在园计" in shown and "郑州市" in shown and "700.25" in shown
    assert "还没有测算记录" in shown

    # A period that starts after the reference date: refused on screen, nothing computed.
    widget(at.number_input, "测算年度").set_value(YEAR)
    widget(at.date_input, "基准日").set_value(S)
    widget(at.date_input, "测算期起始日（留空为测算年度 1 月 1 日）").set_value(D)
    at = click(at, "开始测算")
    assert not at.exception, at.exception
    assert "不能早于测算期起始日" in texts(at) and runs() == 0

    widget(at.date_input, "基准日").set_value(D)
    widget(at.date_input, "测算期起始日（留空为测算年度 1 月 1 日）").set_value(S)
    widget(at.text_input, "备注").input("年度测算")
    at = click(at, "开始测算")
    assert not at.exception, at.exception
    assert "测算完成" in texts(at) and runs() == 1
    assert "合计金额（元） 11,005.10" in texts(at)
    counties = at.dataframe[1].value
    assert list(counties["名称"]) == ["中原区", "中牟县", "兰考县", "合计"]
    assert list(counties["合计（元）"]) == ["1,000.00", "6,853.50", "3,151.60", "11,005.10"]

    # By city, then an institution's children, masked.
    at.radio(key="funding_level").set_value("city").run()
    assert not at.exception, at.exception
    cities = at.dataframe[1].value
    assert list(cities["合计（元）"]) == ["7,853.50", "3,151.60", "11,005.10"]
    at.selectbox(key=f"funding_institution_{province_run_id()}").set_value(province.places["B"]).run()
    assert "计入 3 人，合计 4,453.00 元" in texts(at)
    kids = at.dataframe[-1].value
    assert set(kids["姓名"]) == {"李*涵", "周*桐", "赵*轩"}
    assert all("*" in number for number in kids["学籍号"])

    # The workbook: generated, and its download audited.
    at = click(at, "生成 Excel")
    assert not at.exception, at.exception
    with db.session_scope() as session:
        assert (
            session.exec(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.object_type == "funding_run", AuditLog.action == "data_export")
            ).one()
            == 1
        )


def province_run_id() -> int:
    with db.session_scope() as session:
        run_id = session.exec(select(FundingRun.id)).first()
        assert run_id is not None
        return run_id


def test_other_roles_do_not_have_the_page(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    build_province(monkeypatch)
    at = login("reviewer-410122", DEMO_PASSWORD)
    assert "经费测算" not in registered_pages(at)
    at = login("clerk-4101229001", DEMO_PASSWORD)
    assert "经费测算" not in registered_pages(at)
