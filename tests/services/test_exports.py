"""Exports (§17): formula-like cells neutralised, personal numbers masked, each export audited with
its row count."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlmodel import select

from portal.auth.actor import Actor
from portal.data import db
from portal.data.models import AuditLog
from portal.services import child_import, progress
from portal.services.exports import neutralise
from tests.factories import resident_id, with_class
from tests.services.test_children import enter


def test_a_formula_like_text_is_neutralised_and_nothing_else() -> None:
    assert [neutralise(v) for v in ("=1+1", "+8613937131234", "-2", "@SUM(A1)", "\t=x")] == [
        "'=1+1",
        "'+8613937131234",
        "'-2",
        "'@SUM(A1)",
        "'\t=x",
    ]
    assert [neutralise(v) for v in ("李明", "中牟县=", 5, -5, None, "")] == ["李明", "中牟县=", 5, -5, None, ""]


def test_the_childrens_export_neutralises_and_masks(actors: dict[str, Actor]) -> None:
    clerk = actors["clerk"]
    with_class(clerk)
    enter(clerk, address='=HYPERLINK("http://example.com","点我")')
    data = child_import.export_children(clerk)
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    cells = [str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None]
    assert '\'=HYPERLINK("http://example.com","点我")' in cells
    assert not any(c.startswith("=") for c in cells)
    assert resident_id() not in "".join(cells)  # the ID number only masked
    assert resident_id()[:6] + "********" + resident_id()[-4:] in cells


def test_a_progress_table_download_is_audited_with_its_row_count(actors: dict[str, Actor]) -> None:
    table = progress.progress_table(actors["city"])
    progress.record_download(actors["city"], table)
    with db.session_scope() as session:
        row = session.exec(select(AuditLog).where(AuditLog.action == "data_export")).one()
    assert (
        row.username == "demo-city"
        and row.detail == f"郑州市学前教育机构信息上报及审核情况统计表：{len(table.rows) + 1} 行"
    )
