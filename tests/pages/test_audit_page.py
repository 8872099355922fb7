"""The auditor's page (R6.5): filters, the session column, export, verification of the chain."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlmodel import select

from portal.auth.actor import SYSTEM_ACTOR
from portal.clock import to_local, utcnow
from portal.data import db
from portal.data.models import AuditLog
from portal.services import audit
from portal.services.audit import AuditFilter, export_entries, list_entries
from portal.services.errors import PermissionDenied, ServiceError
from portal.services.login import authenticate
from tests.conftest import DEMO_PASSWORD, actor_for
from tests.pages.conftest import ROOT, click, login, texts

PAGE = str(ROOT / "portal/pages/admin/audit_log.py")


def open_page(at):  # type: ignore[no-untyped-def]
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def test_the_auditor_filters_by_user_outcome_object_and_day(app_demo: str) -> None:
    authenticate("demo-county", "Wrong#Password1")
    at = open_page(login("demo-auditor", DEMO_PASSWORD))
    frame = at.dataframe[0].value
    assert {"编号", "结果", "会话", "借用单"} <= set(frame.columns)
    assert frame["用户名"].iloc[0] == "demo-auditor" and frame["结果"].iloc[0] == "成功"

    at.text_input(key="audit_user").input("demo-county").run()
    assert set(at.dataframe[0].value["用户名"]) == {"demo-county"}
    at.selectbox(key="audit_outcome").select("成功").run()
    assert "没有符合条件的审计记录" in texts(at)  # the county's only row is its failed login
    at.selectbox(key="audit_outcome").select("全部").run()
    at.text_input(key="audit_user").input("").run()

    at.selectbox(key="audit_object_type").select("用户").run()
    at.text_input(key="audit_object_id").input("demo-county").run()  # no such object id: ids are numbers
    assert "没有符合条件的审计记录" in texts(at)
    at.text_input(key="audit_object_id").input("").run()
    assert set(at.dataframe[0].value["操作"]) <= {"创建用户", "登录"}

    today = to_local(utcnow()).date()  # type: ignore[union-attr]
    at.date_input(key="audit_from").set_value(today + timedelta(days=1)).run()
    assert "没有符合条件的审计记录" in texts(at)
    at.date_input(key="audit_to").set_value(today).run()
    assert "开始日期不能晚于结束日期" in texts(at)
    at.date_input(key="audit_from").set_value(today).run()
    assert not at.exception and len(at.dataframe[0].value) > 0


def test_the_auditor_verifies_the_chain_and_sees_where_it_breaks(app_demo: str) -> None:
    at = open_page(login("demo-auditor", DEMO_PASSWORD))
    assert [b.label for b in at.get("download_button")] == ["导出筛选结果（CSV）", "导出筛选结果（Excel）"]
    click(at, "核验审计链")
    assert "审计链完整" in texts(at)
    with db.get_engine().begin() as conn:  # what only someone with the database's owner rights could do
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET detail = '改过' WHERE id = 2"))
    click(at, "核验审计链")
    assert "审计链在第 2 条记录处断开" in texts(at)


def test_the_export_carries_the_filtered_rows_neutralised_and_is_audited(demo: str) -> None:
    auditor = actor_for("demo-auditor")
    with db.session_scope(write=True) as session:
        audit.record(session, SYSTEM_ACTOR, "demo_load", detail='=HYPERLINK("http://x")')
    data = export_entries(auditor, AuditFilter(action="demo_load"), "csv")
    assert data.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert lines[0][:6] == ["编号", "时间", "用户名", "姓名", "角色", "操作"]
    assert [line[5] for line in lines[1:]] == ["加载演示数据", "加载演示数据"]
    assert lines[-1][9] == '\'=HYPERLINK("http://x")'
    book = load_workbook(io.BytesIO(export_entries(auditor, AuditFilter(action="demo_load"), "xlsx")))
    sheet = book.worksheets[0]
    assert sheet.max_row == 3 and sheet.cell(row=3, column=10).value == '\'=HYPERLINK("http://x")'
    with db.session_scope() as session:
        exported = session.exec(select(AuditLog).where(AuditLog.action == "data_export")).all()
    assert len(exported) == 2 and "审计日志（操作：加载演示数据）：2 行" in exported[0].detail
    with pytest.raises(ServiceError, match="格式"):
        export_entries(auditor, fmt="pdf")
    with pytest.raises(PermissionDenied):
        export_entries(actor_for("demo-sysadmin"))


def test_the_filters_keep_to_the_auditors_scope_and_page(demo: str) -> None:
    auditor = actor_for("demo-auditor")
    everything = list_entries(auditor, limit=1000)
    first = list_entries(auditor, limit=3)
    second = list_entries(auditor, limit=3, before_id=first.next_cursor)
    assert [e.id for e in first.entries + second.entries] == [e.id for e in everything.entries][:6]
    assert list_entries(auditor, filters=AuditFilter(outcome="failure")).total == 0
    with pytest.raises(ServiceError, match="结果"):
        list_entries(auditor, filters=AuditFilter(outcome="unknown"))
