"""Importing children from Excel and CSV (issue 4, R3.9): the template, row checks, the marked
workbook, bad files, idempotent re-imports, all-or-nothing batches, encryption at rest, rare
characters end to end."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import func, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.policy import PermissionDenied
from portal.data import db
from portal.data.child_fields import CHILD
from portal.data.models import AuditLog, Child
from portal.services import child_import, children
from portal.services.child_import import ERROR_COLUMN, ERROR_FILL, header_of, import_children, template_workbook
from portal.services.errors import ServiceError
from portal.services.identity import check_document
from portal.settings import reset_settings_cache
from tests.factories import TODAY, child_values, clerk_of, resident_id, with_class

INSTITUTION = "4101220002"  # the demo clerk's kindergarten
LABEL = {spec.name: spec.label for spec in CHILD.fields}


# --- helpers ------------------------------------------------------------------------------------------


def many(count: int, **changes: Any) -> list[dict[str, Any]]:
    """``count`` valid children with distinct resident ID numbers and phones."""
    rows = []
    for index in range(count):
        birth = date(2021, 1, 1) + timedelta(days=index // 400)
        rows.append(
            child_values(
                name=f"李{'明华强军芳丽'[index % 6]}{'一二三四五六七八九十'[index // 6 % 10]}",
                birth=birth,
                sequence=index % 400 + 1,
                guardian1_phone=f"139{index:08d}",
                **changes,
            )
        )
    return rows


def cell_value(spec_name: str, value: Any) -> Any:
    if isinstance(value, bool):
        return "是" if value else "否"
    return value


def xlsx(rows: list[dict[str, Any]], headers: list[str] | None = None, *, extra: dict[str, Any] | None = None) -> bytes:
    """A workbook like the template: headers in row 1, one child a row (every cell as text)."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "幼儿信息"
    specs = list(CHILD.fields)
    sheet.append(headers or [header_of(spec) for spec in specs])
    for row in rows:
        sheet.append([cell_value(spec.name, row.get(spec.name, "")) for spec in specs])
    for ref, value in (extra or {}).items():
        sheet[ref] = value
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: list[dict[str, Any]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([spec.label for spec in CHILD.fields])
    for row in rows:
        writer.writerow([cell_value(spec.name, row.get(spec.name, "")) for spec in CHILD.fields])
    return out.getvalue().encode(encoding)


def child_count() -> int:
    with db.session_scope() as session:
        return session.exec(select(func.count()).select_from(Child)).one()


def import_audits() -> list[AuditLog]:
    with db.session_scope() as session:
        return list(session.exec(select(AuditLog).where(AuditLog.action == "child_import")).all())


@pytest.fixture
def clerk(actors: dict[str, Actor]) -> Actor:
    with_class(actors["clerk"])
    with_class(actors["clerk"], "大一班", "大班")
    return actors["clerk"]


# --- the template -------------------------------------------------------------------------------------


def test_template_has_headers_validations_an_example_and_instructions() -> None:
    workbook = load_workbook(io.BytesIO(template_workbook()))
    assert workbook.sheetnames == ["幼儿信息", "说明", "选项"]
    assert workbook["选项"].sheet_state == "hidden"
    sheet = workbook["幼儿信息"]
    headers = [cell.value for cell in sheet[1]]
    assert headers == [header_of(spec) for spec in CHILD.fields]
    assert "*姓名" in headers and "证件号码" in headers and "*民族" in headers  # required ones marked
    validated = {}
    for validation in sheet.data_validations.dataValidation:
        for ref in str(validation.sqref).split():
            validated[ref.split(":")[0].rstrip("0123456789")] = validation
    letters = {spec.name: sheet.cell(row=1, column=i).column_letter for i, spec in enumerate(CHILD.fields, start=1)}
    for spec in CHILD.fields:
        if spec.kind in ("choice", "bool"):
            validation = validated[letters[spec.name]]
            assert validation.type == "list", spec.name
    ethnicity = validated[letters["ethnicity"]].formula1
    assert ethnicity.startswith("'选项'!") and "$59" in ethnicity  # 58 ethnicities on the options sheet
    assert validated[letters["flag_orphan"]].formula1 == '"是,否"'
    options = workbook["选项"]
    ethnicity_column = next(c for c in options[1] if c.value == "民族").column_letter
    assert [options[f"{ethnicity_column}{r}"].value for r in (2, 59)] == ["汉族", "外国血统中国籍人士"]
    # The example row: valid, with a correctly check-digited resident ID number, kept as text.
    example = {spec.name: sheet.cell(row=2, column=i).value for i, spec in enumerate(CHILD.fields, start=1)}
    number = example["document_number"]
    assert isinstance(number, str) and len(number) == 18
    assert check_document(child_import.DocumentType.RESIDENT_ID, number, today=TODAY).ok
    assert sheet[f"{letters['document_number']}2"].number_format == "@"
    assert sheet.column_dimensions[letters["guardian1_phone"]].number_format == "@"
    notes = "\n".join(str(c.value) for row in workbook["说明"].iter_rows() for c in row if c.value)
    assert "必填" in notes and "示例" in notes and "公式" in notes and ERROR_COLUMN in notes


def test_template_re_imports_cleanly(clerk: Actor) -> None:
    template = template_workbook()
    result = import_children(clerk, "幼儿导入模板.xlsx", template, today=TODAY)
    assert (result.total, result.accepted, result.refused, result.errors) == (0, 0, 0, [])
    assert any("示例" in w for w in result.warnings)
    # The same template with the example row replaced by a real child imports that child.
    workbook = load_workbook(io.BytesIO(template))
    sheet = workbook["幼儿信息"]
    sheet["A2"] = "赵小雨"
    sheet["E2"] = resident_id(birth=date(2022, 3, 15), sequence=7)
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = import_children(clerk, "幼儿导入模板.xlsx", buffer.getvalue(), today=TODAY)
    assert (result.total, result.inserted, result.refused) == (1, 1, 0), result.errors
    page = children.list_children(clerk)
    assert [row.name for row in page.rows] == ["赵小雨"]
    detail = children.get_child(clerk, page.rows[0].id)
    assert detail.values["guardian2_name"] == "王建国" and detail.values["flag_left_behind"] is True
    assert detail.row.state == "saved"


# --- rows: accepted, refused, marked ------------------------------------------------------------------


def test_good_and_bad_rows_are_counted_and_the_bad_ones_marked(clerk: Actor) -> None:
    rows = many(3)
    bad_id = dict(rows[0], name="钱多多", document_number=rows[0]["document_number"][:-1] + "0")
    bad_class = dict(many(4)[3], class_name="火箭班", gender="男")
    bad_gender = dict(many(5)[4], gender="未知")
    data = xlsx([rows[0], bad_id, rows[1], bad_class, rows[2], bad_gender])
    result = import_children(clerk, "幼儿导入.xlsx", data, today=TODAY)
    assert (result.total, result.inserted, result.updated, result.unchanged, result.refused) == (6, 3, 0, 0, 3)
    assert result.accepted == 3
    assert [e.row for e in result.errors] == [3, 5, 7]
    assert [e.name for e in result.errors] == ["钱多多", bad_class["name"], bad_gender["name"]]
    assert "校验位" in result.errors[0].messages["证件号码"]
    assert "火箭班" in result.errors[1].messages["班级"]
    assert "性别" in result.errors[2].messages["性别"]
    assert result.marked_filename == "幼儿导入_错误标注.xlsx"
    assert child_count() == 3
    assert {r.state for r in children.list_children(clerk).rows} == {"saved"}
    (audit,) = import_audits()
    assert "幼儿导入.xlsx" in audit.detail and "新增 3" in audit.detail and "拒绝 3" in audit.detail

    assert result.marked is not None
    sheet = load_workbook(io.BytesIO(result.marked))["幼儿信息"]
    headers = [c.value for c in sheet[1]]
    assert headers[-1] == ERROR_COLUMN
    error_column = len(headers)
    column = {spec.label: i for i, spec in enumerate(CHILD.fields, start=1)}
    for number in (3, 5, 7):
        assert sheet.cell(row=number, column=1).fill.start_color.rgb.endswith(ERROR_FILL)
        assert sheet.cell(row=number, column=error_column).value
    for number in (2, 4, 6):
        assert not sheet.cell(row=number, column=1).fill.start_color.rgb.endswith(ERROR_FILL)
        assert sheet.cell(row=number, column=error_column).value is None
    assert "校验位" in sheet.cell(row=3, column=column["证件号码"]).comment.text
    assert "火箭班" in sheet.cell(row=5, column=column["班级"]).comment.text
    assert sheet.cell(row=5, column=column["姓名"]).comment is None
    assert "证件号码" in sheet.cell(row=3, column=error_column).value

    # The marked workbook, corrected, imports again: the fixed rows go in, the rest are unchanged.
    workbook = load_workbook(io.BytesIO(result.marked))
    fixed = workbook["幼儿信息"]
    fixed.cell(row=3, column=column["证件号码"]).value = resident_id(birth=date(2021, 1, 1), sequence=300)
    fixed.cell(row=5, column=column["班级"]).value = "大一班"
    buffer = io.BytesIO()
    workbook.save(buffer)
    again = import_children(clerk, result.marked_filename, buffer.getvalue(), today=TODAY)
    assert (again.inserted, again.unchanged, again.refused) == (2, 3, 1)
    assert again.marked is not None
    remarked = load_workbook(io.BytesIO(again.marked))["幼儿信息"]
    assert remarked.cell(row=3, column=len(headers)).value is None  # the old mark is cleared
    assert remarked.cell(row=3, column=column["证件号码"]).comment is None
    assert remarked.cell(row=7, column=len(headers)).value


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_csv_in_utf8_with_or_without_bom_and_gbk(clerk: Actor, encoding: str) -> None:
    rows = [*many(2), dict(many(3)[2], ethnicity="火星族")]
    result = import_children(clerk, "幼儿.csv", csv_bytes(rows, encoding), today=TODAY)
    assert (result.total, result.inserted, result.refused) == (3, 2, 1)
    assert result.errors[0].row == 4 and "民族" in result.errors[0].messages
    assert result.marked is not None and result.marked_filename == "幼儿_错误标注.xlsx"
    sheet = load_workbook(io.BytesIO(result.marked)).active
    assert sheet["A2"].value == rows[0]["name"] and sheet.cell(row=4, column=1).fill.start_color.rgb.endswith(
        ERROR_FILL
    )
    assert sheet.cell(row=4, column=len(CHILD.fields) + 1).value.startswith("民族")
    assert sheet.cell(row=2, column=5).value == rows[0]["document_number"]  # kept as text


def test_headers_in_any_order_optional_columns_left_out_and_dates_in_common_formats(clerk: Actor) -> None:
    wanted = ["class_name", "name", "gender", "birth_date", "document_type", "document_number", "nationality"]
    wanted += ["ethnicity", "address", "guardian1_relation", "guardian1_name", "guardian1_phone", "enrolment_date"]
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append([LABEL[name] for name in wanted])
    values = child_values()
    values.update(birth_date="2022/3/15", enrolment_date="2026年9月1日")
    sheet.append([values[name] for name in wanted])
    second = many(2)[1]
    second.update(birth_date=date.fromisoformat(second["birth_date"]), enrolment_date=date(2026, 9, 1))
    sheet.append([second[name] for name in wanted])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = import_children(clerk, "乱序.xlsx", buffer.getvalue(), today=TODAY)
    assert (result.inserted, result.refused) == (2, 0), result.errors


def test_an_id_number_stored_as_a_number_is_refused_with_a_hint(clerk: Actor) -> None:
    row = child_values()
    data = xlsx([row], extra={"E2": float(row["document_number"])})
    result = import_children(clerk, "数字.xlsx", data, today=TODAY)
    assert result.refused == 1 and "文本" in result.errors[0].messages["证件号码"]


def test_a_phone_stored_as_a_number_is_read_as_digits(clerk: Actor) -> None:
    data = xlsx([child_values()], extra={"L2": 13937131234})
    assert import_children(clerk, "电话.xlsx", data, today=TODAY).inserted == 1


# --- idempotent re-imports ------------------------------------------------------------------------------


def test_re_import_is_idempotent_and_updates_only_drafts(clerk: Actor, actors: dict[str, Actor]) -> None:
    rows = many(4)
    no_document = child_values(name="欧阳无证", document_type="无证件", document_number="", birth=date(2022, 5, 1))
    rows.append(no_document)
    first = import_children(clerk, "a.xlsx", xlsx(rows), today=TODAY)
    assert (first.inserted, first.refused) == (5, 0), first.errors
    again = import_children(clerk, "a.xlsx", xlsx(rows), today=TODAY)
    assert (again.total, again.inserted, again.updated, again.unchanged, again.refused) == (5, 0, 0, 5, 0)
    assert child_count() == 5

    ids = {row.name: row.id for row in children.list_children(clerk).rows}
    children.submit_children(clerk, [ids[rows[0]["name"]]], today=TODAY)
    changed = [dict(r) for r in rows]
    changed[0]["address"] = "新地址 1 号"  # submitted: refused
    changed[1]["address"] = "新地址 2 号"  # saved: updated
    changed[4]["address"] = "新地址 5 号"  # saved, no document: matched by identity, updated
    result = import_children(clerk, "a.xlsx", xlsx(changed), today=TODAY)
    assert (result.inserted, result.updated, result.unchanged, result.refused) == (0, 2, 2, 1)
    assert result.errors[0].row == 2 and "已提交" in result.errors[0].messages["证件号码"]
    assert child_count() == 5
    detail = children.get_child(clerk, ids[rows[1]["name"]])
    assert detail.values["address"] == "新地址 2 号"
    with db.session_scope() as session:
        assert session.get(Child, ids[rows[1]["name"]]).version == 2  # type: ignore[union-attr]
    # The submitted record, unchanged, is reported unchanged, not refused.
    result = import_children(clerk, "a.xlsx", xlsx(rows[:1]), today=TODAY)
    assert (result.unchanged, result.refused) == (1, 0)


def test_the_same_id_twice_in_one_file_refuses_the_second(clerk: Actor) -> None:
    row = child_values()
    twin = dict(row, name="李小红", guardian1_name="王芳")
    result = import_children(clerk, "twice.xlsx", xlsx([row, twin]), today=TODAY)
    assert (result.inserted, result.refused) == (1, 1)
    assert result.errors[0].row == 3 and "第 2 行" in result.errors[0].messages["证件号码"]


def test_an_id_claimed_by_another_institution_is_accepted_and_counted(clerk: Actor) -> None:
    other = clerk_of("4101220004")
    with_class(other)
    row = child_values()
    children.save_child(other, row, today=TODAY)
    children.submit_children(other, today=TODAY)
    result = import_children(clerk, "dup.xlsx", xlsx([row, many(2)[1]]), today=TODAY)
    assert (result.inserted, result.duplicates_elsewhere) == (2, 1)
    assert any("其他机构" in w for w in result.warnings)
    # Its own submitted records do not count as "elsewhere".
    children.submit_children(clerk, today=TODAY)
    result = import_children(clerk, "dup.xlsx", xlsx([row, many(2)[1]]), today=TODAY)
    assert (result.unchanged, result.duplicates_elsewhere) == (2, 1)


# --- permissions --------------------------------------------------------------------------------------


def test_only_the_institutions_clerk_imports(clerk: Actor, actors: dict[str, Actor]) -> None:
    data = xlsx(many(1))
    with pytest.raises(PermissionDenied):
        import_children(actors["county"], "a.xlsx", data, today=TODAY)
    with pytest.raises(PermissionDenied):
        import_children(clerk_of("4101220004"), "a.xlsx", data, today=TODAY, institution_code=INSTITUTION)
    result = import_children(SYSTEM_ACTOR, "a.xlsx", data, today=TODAY, institution_code=INSTITUTION)
    assert result.inserted == 1
    with db.session_scope() as session:
        assert session.exec(select(Child.created_by)).one() is None  # the operator is not a user
    with pytest.raises(ServiceError, match="不存在"):
        import_children(SYSTEM_ACTOR, "a.xlsx", data, today=TODAY, institution_code="4101229999")
    assert child_count() == 1


# --- bad files ----------------------------------------------------------------------------------------


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _bomb() -> bytes:
    """A workbook whose sheet unpacks to 300 MB of spaces (a few hundred kilobytes packed)."""
    template = zipfile.ZipFile(io.BytesIO(template_workbook()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in template.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                with archive.open(info.filename, "w", force_zip64=True) as member:
                    block = b" " * (1024 * 1024)
                    for _ in range(300):
                        member.write(block)
            else:
                archive.writestr(info.filename, template.read(info.filename))
    return buffer.getvalue()


def _lying_bomb() -> bytes:
    """A member of 50 MB whose directory entries claim 1 kB (sizes forged in both headers)."""
    real = 50 * 1024 * 1024
    data = bytearray(_zip({"xl/workbook.xml": b"<workbook/>", "xl/worksheets/sheet1.xml": b"<" * real}))
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if int.from_bytes(data[start + offset : start + offset + 4], "little") == real:
                data[start + offset : start + offset + 4] = (1024).to_bytes(4, "little")
            start += 4
    return bytes(data)


def _formula() -> bytes:
    return xlsx([child_values()], extra={"C2": "=DATE(2022,3,15)"})


def _wrong_headers() -> bytes:
    headers = [header_of(spec) for spec in CHILD.fields if spec.name not in ("birth_date", "ethnicity")]
    return xlsx([], headers=[*headers, "身高"])


def _docx() -> bytes:
    return _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})


def _corrupt_xlsx() -> bytes:
    members = {n: zipfile.ZipFile(io.BytesIO(template_workbook())).read(n) for n in ("[Content_Types].xml",)}
    return _zip({**members, "xl/workbook.xml": b"this is not xml <<<", "xl/worksheets/sheet1.xml": b"<<<"})


def _big_csv() -> bytes:
    line = ",".join(str(child_values().get(spec.name, "")) for spec in CHILD.fields) + "\n"
    header = ",".join(spec.label for spec in CHILD.fields) + "\n"
    return (header + line * (20 * 1024 * 1024 // len(line.encode()) + 1)).encode()


BAD_FILES = {
    "empty": ("幼儿.xlsx", lambda: b"", "空的"),
    "blank csv": ("幼儿.csv", lambda: b"\r\n\r\n", "空的"),
    "truncated": ("幼儿.xlsx", lambda: template_workbook()[:5000], "损坏"),
    "corrupted": ("幼儿.xlsx", _corrupt_xlsx, "损坏"),
    "pdf": ("幼儿.pdf", lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", ".pdf"),
    "pdf named xlsx": ("幼儿.xlsx", lambda: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
    "docx": ("幼儿.docx", _docx, ".docx"),
    "docx named xlsx": ("幼儿.xlsx", _docx, "Word"),
    "txt": ("幼儿.txt", lambda: csv_bytes([child_values()]), ".txt"),
    "csv named xlsx": ("幼儿.xlsx", lambda: csv_bytes([child_values()]), "不是 Excel"),
    "xlsx named csv": ("幼儿.csv", template_workbook, "CSV"),
    "old xls": ("幼儿.xls", lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, ".xls"),
    "binary": ("幼儿.csv", lambda: bytes(range(256)) * 10, "不是文本"),
    "wrong headers": ("幼儿.xlsx", _wrong_headers, "缺少必填列：出生日期、民族；无法识别的列：身高"),
    "no header": ("幼儿.csv", lambda: "甲,乙\n1,2\n".encode(), "找不到表头"),
    "formula": ("幼儿.xlsx", _formula, "C2 单元格含有公式"),
    "20 MB": ("幼儿.csv", _big_csv, "不能超过 10 MB"),
    "stray cell far below": ("幼儿.xlsx", lambda: xlsx([child_values()], extra={"B40000": "x"}), "40000 行（含空行）"),
    "empty lines": ("幼儿.csv", lambda: csv_bytes([child_values()]) + b"\r\n" * 40000, "含空行"),
    "too many columns": ("幼儿.xlsx", lambda: xlsx([child_values()], extra={"ZZ2": "x"}), "702 列"),
    "zip bomb": ("幼儿.xlsx", _bomb, "压缩炸弹"),
    "dense zip": (
        "幼儿.xlsx",
        lambda: _zip({"xl/workbook.xml": b"<workbook/>", "xl/a.xml": b" " * 20_000_000}),
        "压缩炸弹",
    ),
    "lying zip bomb": ("幼儿.xlsx", _lying_bomb, "已拒绝|损坏"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_files_are_refused_with_a_clear_message_and_change_nothing(clerk: Actor, case: str) -> None:
    filename, make, expected = BAD_FILES[case]
    data = make()
    with pytest.raises(ServiceError, match=expected):
        import_children(clerk, filename, data, today=TODAY)
    assert child_count() == 0 and import_audits() == []


def test_too_many_rows_are_refused(clerk: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTAL_IMPORT_MAX_ROWS", "3")
    reset_settings_cache()
    with pytest.raises(ServiceError, match="超过 3 行"):
        import_children(clerk, "many.csv", csv_bytes(many(4)), today=TODAY)
    assert import_children(clerk, "few.csv", csv_bytes(many(3)), today=TODAY).inserted == 3


def test_formula_detection_reads_the_sheet_xml_not_the_validations(clerk: Actor) -> None:
    # The template's drop-down lists are <formula1> elements of data validations, not cell formulas.
    assert b"<formula1>" in zipfile.ZipFile(io.BytesIO(template_workbook())).read("xl/worksheets/sheet1.xml")
    with pytest.raises(ServiceError, match="“幼儿信息”的 C2"):
        import_children(clerk, "f.xlsx", _formula(), today=TODAY)


# --- all or nothing -------------------------------------------------------------------------------------


def test_progress_is_reported_and_a_failure_mid_import_writes_nothing(clerk: Actor) -> None:
    chunk = child_import.CHUNK
    total = 2 * chunk + 200
    data = csv_bytes(many(total))
    calls: list[tuple[int, int]] = []

    def fail_after_first_chunk(done: int, total: int) -> None:
        calls.append((done, total))
        if done > chunk:
            raise RuntimeError("the page went away")

    with pytest.raises(RuntimeError):
        import_children(clerk, "big.csv", data, today=TODAY, progress=fail_after_first_chunk)
    assert calls == [(chunk, total), (2 * chunk, total)]
    assert child_count() == 0 and import_audits() == []

    calls.clear()
    result = import_children(clerk, "big.csv", data, today=TODAY, progress=lambda d, t: calls.append((d, t)))
    assert result.inserted == total and calls == [(chunk, total), (2 * chunk, total), (total, total)]


def test_a_killed_import_process_leaves_no_partial_batch(clerk: Actor, database: str, tmp_path: Path) -> None:
    path = tmp_path / "幼儿.csv"
    path.write_bytes(csv_bytes(many(8000)))
    process = subprocess.Popen(
        [sys.executable, "-m", "portal", "import-children", str(path), "--institution", INSTITUTION],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DATABASE_URL": database},
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        while line and "已处理" not in line:
            line = process.stderr.readline()
        assert f"已处理 {child_import.CHUNK}/8000" in line, line
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    assert child_count() == 0 and import_audits() == []


# --- personal data and rare characters -----------------------------------------------------------------


def _stored_bytes(database: str) -> bytes:
    """Everything the database holds: the SQLite file and its log, or every PostgreSQL row as text."""
    if database.startswith("sqlite"):
        path = Path(make_url(database).database or "")
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    with db.session_scope() as session:
        tables = session.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))
        return "\n".join(
            str(row[0])
            for (table,) in tables.all()
            for row in session.execute(text(f'SELECT t::text FROM "{table}" t'))
        ).encode()


def test_numbers_are_encrypted_at_rest(clerk: Actor, database: str) -> None:
    rows = many(30)
    rows[0]["guardian2_relation"], rows[0]["guardian2_name"], rows[0]["guardian2_phone"] = (
        "父亲",
        "李强",
        "0371-69875321",
    )
    result = import_children(clerk, "secret.xlsx", xlsx(rows), today=TODAY)
    assert result.inserted == 30
    raw = _stored_bytes(database)
    assert rows[0]["name"].encode() in raw  # the scan does see the rows (names are not secret)
    secrets = [r["document_number"] for r in rows] + [r["guardian1_phone"] for r in rows] + ["0371-69875321"]
    for secret in secrets:
        assert secret.encode() not in raw, secret
    for row in rows[:5]:
        found = children.find_by_document(clerk, "居民身份证", row["document_number"])
        assert [r.name for r in found] == [row["name"]]
        assert found[0].document_masked == row["document_number"][:6] + "********" + row["document_number"][-4:]


def test_rare_characters_round_trip_from_workbook_to_screen_and_export(clerk: Actor) -> None:
    names = ["张𠮷", "阿依古丽·买买提", "𠮷𡈼·𠀀"]
    rows = many(3)
    for row, name in zip(rows, names, strict=True):
        row["name"] = name
    rows[1]["ethnicity"] = "维吾尔族"
    rows[2]["guardian1_name"] = "𠮷祥"
    result = import_children(clerk, "生僻字.xlsx", xlsx(rows), today=TODAY)
    assert (result.inserted, result.refused) == (3, 0), result.errors
    listed = children.list_children(clerk).rows
    assert [row.name for row in listed] == names
    assert children.get_child(clerk, listed[2].id).values["guardian1_name"] == "𠮷祥"
    assert [row.name for row in children.list_children(clerk, name="𠮷").rows] == ["张𠮷", "𠮷𡈼·𠀀"]
    exported = load_workbook(io.BytesIO(child_import.export_children(clerk)))["幼儿信息"]
    column = [c.value for c in exported[1]].index("姓名") + 1
    assert [exported.cell(row=r, column=column).value for r in (2, 3, 4)] == names
    document = [c.value for c in exported[1]].index("证件号码") + 1
    assert "*" in exported.cell(row=2, column=document).value  # masked in the export
    # A CSV in UTF-8 carries them too; the same rows again are unchanged.
    again = import_children(clerk, "生僻字.csv", csv_bytes(rows), today=TODAY)
    assert (again.unchanged, again.refused) == (3, 0)
    # The look-alike dot is folded into the middle dot.
    dotted = dict(many(4)[3], name="阿依古丽•买买提")
    result = import_children(clerk, "dot.csv", csv_bytes([dotted]), today=TODAY)
    assert result.inserted == 1
    assert children.list_children(clerk, name="阿依古丽·买买提").total == 2
