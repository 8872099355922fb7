"""The education statistics' baseline: imported by the provincial administrator (all rows or none),
corrected one figure at a time, audited, and used by the progress table."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from sqlmodel import func, select

from portal.auth.actor import Actor
from portal.data import db
from portal.data.models import AuditLog, StatBaseline
from portal.services import baseline, progress
from portal.services.errors import ServiceError, ValidationError

GOOD = "县区代码,年度,统计在园幼儿数,机构数\n410122,2026,21350,186\n410102,2026,30512,\n"


def rows() -> int:
    with db.session_scope() as session:
        return session.exec(select(func.count()).select_from(StatBaseline)).one()


def test_import_in_gbk_then_again_unchanged_and_the_table_uses_it(actors: dict[str, Actor]) -> None:
    admin = actors["sysadmin"]
    report = baseline.import_baseline(admin, "2026年统计.csv", GOOD.encode("gbk"))
    assert (report.added, report.changed, report.unchanged, list(report.years)) == (2, 0, 0, [2026])
    again = baseline.import_baseline(admin, "2026年统计.csv", GOOD.encode("utf-8-sig"))
    assert (again.added, again.changed, again.unchanged) == (0, 0, 2)
    years, listed = baseline.list_baseline(admin)
    assert years == [2026] and [(r.county_name, r.children, r.institutions) for r in listed] == [
        ("中原区", 30512, None),
        ("中牟县", 21350, 186),
    ]
    table = progress.progress_table(actors["city"])
    assert table.baseline_year == 2026 and table.total.baseline == 21350 + 30512
    assert next(r for r in table.rows if r.code == "410122").baseline == 21350


def test_an_excel_file_works_too(actors: dict[str, Actor]) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["县区代码", "年度", "统计在园幼儿数"])
    sheet.append(["419001", 2025, 30901])  # 济源: a city-level unit that is its own county
    buffer = io.BytesIO()
    book.save(buffer)
    report = baseline.import_baseline(actors["sysadmin"], "jiyuan.xlsx", buffer.getvalue())
    assert report.added == 1


def test_a_bad_row_refuses_the_whole_file(actors: dict[str, Actor]) -> None:
    bad = GOOD + "999999,2026,100,\n410105,26,abc,\n410122,2026,5,\n"
    with pytest.raises(ValidationError) as refused:
        baseline.import_baseline(actors["sysadmin"], "bad.csv", bad.encode())
    messages = list(refused.value.errors.values())
    assert messages == [
        "第 4 行：县区代码“999999”不是本省的县区。",
        "第 5 行：年度应为四位年份；统计在园幼儿数应为非负整数。",
        "第 6 行：与前面的行重复（410122，2026 年）。",
    ]
    assert rows() == 0
    with pytest.raises(ServiceError, match="缺少：统计在园幼儿数"):
        baseline.import_baseline(actors["sysadmin"], "x.csv", "县区代码,年度\n410122,2026\n".encode())
    with pytest.raises(ServiceError, match=r"\.xlsx 或 \.csv"):
        baseline.import_baseline(actors["sysadmin"], "x.txt", b"abc")


def test_only_the_provincial_administrator_and_corrections_are_audited(actors: dict[str, Actor]) -> None:
    with pytest.raises(Exception, match="无权"):
        baseline.import_baseline(actors["province"], "x.csv", GOOD.encode())
    admin = actors["sysadmin"]
    baseline.import_baseline(admin, "x.csv", GOOD.encode())
    baseline.correct_baseline(admin, "410122", 2026, 21400, 190)
    with pytest.raises(ServiceError, match="没有统计基数"):
        baseline.correct_baseline(admin, "410122", 2020, 1, None)
    with pytest.raises(ValidationError):
        baseline.correct_baseline(admin, "410122", 2026, -1, None)
    with db.session_scope() as session:
        row = session.get(StatBaseline, ("410122", 2026))
        audit = session.exec(select(AuditLog).where(AuditLog.action == "baseline_correct")).one()
    assert row is not None and (row.children, row.institutions) == (21400, 190)
    assert '"children": 21350' in (audit.before or "")
