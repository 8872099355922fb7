"""Importing children from an Excel workbook or a CSV file (MISSION.md R3.9; issue 4).

The template, the column mapping and the export are derived from the child field spec ``CHILD``
(DESIGN.md pattern 5), and every row is checked by ``children.check_child``, the same rules as the
form. A whole file is one unit of work: rows with errors are refused and nothing is written for
them, the accepted rows become saved drafts, and one audit row records the import. A crash or a
killed process leaves no half-written batch.

Re-importing a file is safe: rows are matched within the institution by the document's keyed
hash (children without a document: name + gender + birth date), so a second import updates the
drafts it changed and reports the rest as unchanged instead of creating duplicates.

Files are checked before they are read: size, type by content (not only by name), zip bombs
(declared sizes and compression ratio, then a capped streaming read), formulas, headers, row count.

Speed: the workbook is parsed with calamine, rows are checked and encrypted in chunks, and written
with Core ``INSERT``/``UPDATE`` executemany; existing records are looked up with batched ``IN``.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import bindparam, update
from sqlalchemy import func as sa_func
from sqlmodel import Session, col, func, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, require, scope_filter
from portal.clock import utcnow
from portal.data import bulk, counters, crypto, db
from portal.data.child_fields import CHILD, PERSONAL
from portal.data.choices import DocumentType
from portal.data.fields import FieldSpec, display
from portal.data.models import Child, Institution, SchoolClass
from portal.services import audit, children, exports, uploads, workflow
from portal.services.errors import NotFound, ServiceError
from portal.services.identity import check_character
from portal.settings import get_settings

DATA_SHEET = CHILD.label  # 幼儿信息
NOTES_SHEET = "说明"
OPTIONS_SHEET = "选项"
ERROR_COLUMN = "错误说明"
REQUIRED_MARK = "*"
MARK_AUTHOR = "导入检查"
CHUNK = 1000  # rows checked, encrypted and written per step (and per progress report)
ERROR_FILL = "FFC7CE"  # light red
EXAMPLE_FILL = "EDEDED"  # light grey
MAX_WARNINGS = 100

# Zip bomb limits: the total uncompressed size of a workbook, and the compression ratio allowed
# for a member above RATIO_FLOOR bytes (real sheets compress 5–30 times, bombs a thousand times).
UNZIP_MAX_BYTES = 200 * 1024 * 1024
UNZIP_MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_FORMULA = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?f[\s/>]")
_CELL_REF = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?c\s[^>]*?\br=["']([A-Z]{1,3}[0-9]+)["']""")
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]0{1,2}:00(?::00)?)?")
_TRUE = {"是", "Y", "YES", "TRUE", "1", "√", "有"}
_FALSE = {"否", "N", "NO", "FALSE", "0", "×", "无", ""}

SPECS: dict[str, FieldSpec] = {spec.label: spec for spec in CHILD.fields}
SPECS_BY_NAME: dict[str, FieldSpec] = {spec.name: spec for spec in CHILD.fields}
TEXT_FORMAT_FIELDS = frozenset(PERSONAL)

ProgressCallback = Callable[[int, int], None]


def header_of(spec: FieldSpec) -> str:
    """A column's header in the template: the field's label, required ones marked with *."""
    return f"{REQUIRED_MARK}{spec.label}" if spec.required else spec.label


def _label_of(header: Any) -> str:
    """A header cell as a field label: stars, spaces and a "（必填）" note removed."""
    text = re.sub(r"\s+", "", str(header or "")).replace("＊", "*").replace("(必填)", "").replace("（必填）", "")
    return text.strip("*")


# --- results ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int  # the row's number in the sheet (the header is row 1 in the template)
    name: str
    messages: dict[str, str]  # column label -> what is wrong

    @property
    def summary(self) -> str:
        return "；".join(f"{label}：{message}" for label, message in self.messages.items())


@dataclass(frozen=True)
class ImportResult:
    total: int
    inserted: int
    updated: int
    unchanged: int
    refused: int
    errors: list[RowError]
    warnings: list[str]
    duplicates_elsewhere: int  # accepted rows whose ID number another institution in the province claims
    marked: bytes | None  # the upload back as .xlsx with refused rows marked; None when nothing refused
    marked_filename: str

    @property
    def accepted(self) -> int:
        return self.inserted + self.updated + self.unchanged


def marked_name(filename: str) -> str:
    """幼儿导入.csv -> 幼儿导入_错误标注.xlsx"""
    stem = PurePosixPath(uploads.display_name(filename, "幼儿导入")).stem or "幼儿导入"
    return f"{stem}_{ERROR_COLUMN.replace('说明', '标注')}.xlsx"


# --- the template -------------------------------------------------------------------------------------

EXAMPLE_BIRTH = date(2022, 3, 15)
_EXAMPLE_BODY = f"410122{EXAMPLE_BIRTH:%Y%m%d}003"  # sequence 003: odd, a boy
EXAMPLE: dict[str, Any] = {
    "name": "王小明",
    "gender": "男",
    "birth_date": EXAMPLE_BIRTH,
    "document_type": DocumentType.RESIDENT_ID.value,
    "document_number": _EXAMPLE_BODY + check_character(_EXAMPLE_BODY),
    "nationality": "中国",
    "ethnicity": "汉族",
    "hukou_region": "河南省郑州市中牟县",
    "address": "中牟县官渡镇小庙王村 8 号",
    "guardian1_relation": "母亲",
    "guardian1_name": "王芳",
    "guardian1_phone": "13937131234",
    "guardian2_relation": "父亲",
    "guardian2_name": "王建国",
    "guardian2_phone": "13837131234",
    "enrolment_date": date(2025, 9, 1),
    "class_name": "小一班",
    "flag_poverty": False,
    "flag_disabled": False,
    "flag_left_behind": True,
    "flag_orphan": False,
}


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index)


def _instructions() -> list[str]:
    settings = get_settings()
    return [
        "幼儿信息导入模板 使用说明",
        "",
        f"1. 在“{DATA_SHEET}”工作表中每行填写一名幼儿。第 1 行是表头：请勿修改列名；列的顺序可以调整，"
        "不需要的非必填列可以删除。",
        f"2. 列名前带“{REQUIRED_MARK}”的为必填项。",
        "3. 第 2 行（灰色）是示例，导入时会被跳过：可以在它下面直接填写，也可以删除或改写这一行。",
        "4. 证件号码和电话列已设为“文本”格式，请不要改成数字格式，否则 Excel 会把 18 位证件号码的末几位变成 0。",
        "5. 日期请按“2022-03-15”的格式填写。性别、证件类型、民族、监护人关系等请从下拉列表中选择；"
        "“是/否”列可以留空（视为“否”）。",
        "6. 班级须是本学年已在“班级管理”中建立的班级名称。",
        "7. 证件类型为“无证件”时，证件号码不填。",
        "8. 姓名可以含生僻字（如“𠮷”）和间隔号“·”，请按户口簿填写。从外省转入的幼儿同时填写“外省转入·原省份”和"
        "“外省转入·原学籍号”（审核通过后沿用该学籍号），其他幼儿这两列不填。",
        f"9. 单元格中不能使用公式；文件不超过 {settings.import_max_mb} MB、{settings.import_max_rows} 行。"
        "也可以另存为 CSV（UTF-8 或 GBK 编码）后导入。",
        "10. 同一文件可以重复导入：已导入但未提交的幼儿按证件号码更新，不会重复登记；"
        "已提交或已审核的幼儿不能通过导入修改。",
        "11. 有错误的行不会导入：系统会返回一份标注了错误的工作簿（错误的单元格标红并附批注，"
        f"末尾增加“{ERROR_COLUMN}”列），改正后可以重新导入整份文件。",
        "12. 导入的幼儿为“已保存”状态，核对无误后请在“幼儿信息”页面提交审核。",
        "",
        "各列说明：",
    ]


def template_workbook() -> bytes:
    """The import template (.xlsx): one column per field of ``CHILD`` with its Chinese label,
    required columns marked, drop-down lists for choices and 是/否, one example row, text format
    for document numbers and phones, an instructions sheet and a hidden sheet of options."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.worksheet.datavalidation import DataValidation

    settings = get_settings()
    last_row = settings.import_max_rows + 1
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = DATA_SHEET
    notes = workbook.create_sheet(NOTES_SHEET)
    options = workbook.create_sheet(OPTIONS_SHEET)
    options.sheet_state = "hidden"

    bold, red = Font(bold=True), Font(bold=True, color="C00000")
    grey = PatternFill(fill_type="solid", start_color=EXAMPLE_FILL, end_color=EXAMPLE_FILL)
    choice_specs = [spec for spec in CHILD.fields if spec.kind == "choice"]
    for index, spec in enumerate(choice_specs, start=1):
        options.cell(row=1, column=index, value=spec.label).font = bold
        for offset, choice in enumerate(spec.choices, start=2):
            options.cell(row=offset, column=index, value=choice)
    option_column = {spec.name: _column_letter(i) for i, spec in enumerate(choice_specs, start=1)}

    for index, spec in enumerate(CHILD.fields, start=1):
        letter = _column_letter(index)
        cell = sheet.cell(row=1, column=index, value=header_of(spec))
        cell.font = red if spec.required else bold
        cell.alignment = Alignment(horizontal="center")
        note = "必填。" if spec.required else "选填。"
        if spec.help:
            note += spec.help
        cell.comment = Comment(note, MARK_AUTHOR)
        sheet.column_dimensions[letter].width = max(10, min(30, 2.2 * len(spec.label) + 4))
        example = EXAMPLE.get(spec.name)
        value_cell = sheet.cell(
            row=2, column=index, value=("是" if example else "否") if spec.kind == "bool" else example
        )
        value_cell.fill = grey
        if spec.name in TEXT_FORMAT_FIELDS:
            sheet.column_dimensions[letter].number_format = "@"
            value_cell.number_format = "@"
            sheet.column_dimensions[letter].width = 22
        elif spec.kind == "date":
            sheet.column_dimensions[letter].number_format = "yyyy-mm-dd"
            value_cell.number_format = "yyyy-mm-dd"
            sheet.column_dimensions[letter].width = 13
        cells = f"{letter}2:{letter}{last_row}"
        validation: DataValidation | None = None
        if spec.kind == "choice":
            source = option_column[spec.name]
            validation = DataValidation(
                type="list", formula1=f"'{OPTIONS_SHEET}'!${source}$2:${source}${len(spec.choices) + 1}"
            )
            validation.error = f"请从下拉列表中选择{spec.label}。"
        elif spec.kind == "bool":
            validation = DataValidation(type="list", formula1='"是,否"')
            validation.error = f"{spec.label}请选择“是”或“否”。"
        elif spec.kind == "date":
            validation = DataValidation(
                type="date", operator="between", formula1="DATE(2000,1,1)", formula2="DATE(2100,12,31)"
            )
            validation.error = f"{spec.label}请填写日期，格式如 2022-03-15。"
        if validation is not None:
            validation.allow_blank = True
            validation.showErrorMessage = True
            validation.errorTitle = "输入有误"
            validation.add(cells)
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "B2"

    notes.column_dimensions["A"].width = 18
    notes.column_dimensions["B"].width = 8
    notes.column_dimensions["C"].width = 90
    for line in _instructions():
        notes.append([line])
    notes["A1"].font = Font(bold=True, size=14)
    notes.append(["列名", "必填", "填写说明"])
    for cell in notes[notes.max_row]:
        cell.font = bold
    for spec in CHILD.fields:
        hint = spec.help
        if spec.kind == "choice":
            listed = "、".join(spec.choices) if len(spec.choices) <= 10 else "从下拉列表中选择"
            hint = f"{hint}；可选：{listed}" if hint else f"可选：{listed}"
        elif spec.kind == "bool":
            hint = "是 / 否，留空视为“否”"
        elif spec.kind == "date":
            hint = "日期，如 2022-03-15"
        elif spec.name in TEXT_FORMAT_FIELDS:
            hint = f"{hint}（文本格式）" if hint else "文本格式"
        notes.append([spec.label, "是" if spec.required else "", hint])

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- reading a file -----------------------------------------------------------------------------------


@dataclass
class _Table:
    """The cells of the uploaded sheet: ``rows[0]`` is the sheet's row 1."""

    kind: str  # "xlsx" or "csv"
    rows: list[list[Any]]
    sheet_name: str


@dataclass
class _Row:
    number: int  # the sheet's row number
    cells: list[Any]
    raw: dict[str, Any]
    pre_errors: dict[str, str]

    @property
    def name(self) -> str:
        return str(self.raw.get("name") or "").strip()


def _sniff(filename: str, data: bytes) -> str:
    """The kind of file, "xlsx" or "csv", judged by content and checked against the file's extension."""
    settings = get_settings()
    if not data or not data.strip():
        raise ServiceError("文件是空的：请上传填好的导入模板（.xlsx）或 CSV 文件。")
    limit = settings.import_max_mb * 1024 * 1024
    if len(data) > limit:
        raise ServiceError(
            f"文件太大（{len(data) / 1024 / 1024:.1f} MB），导入文件不能超过 {settings.import_max_mb} MB："
            "请删除多余的内容或分成几个文件导入。"
        )
    suffix = Path(filename or "").suffix.lower()
    if suffix == ".xls":
        raise ServiceError("不支持旧版 .xls 格式：请在 Excel 中“另存为” .xlsx 工作簿后再导入。")
    if suffix not in ("", ".xlsx", ".csv"):
        raise ServiceError(f"不支持 {suffix} 文件：只能导入 .xlsx 工作簿或 .csv 文件（可先下载导入模板）。")
    if data.startswith(ZIP_MAGIC):
        kind = "xlsx"
    elif data.startswith(b"%PDF"):
        raise ServiceError("这是一个 PDF 文件，不能导入：请上传按模板填写的 .xlsx 工作簿或 .csv 文件。")
    elif data.startswith(OLE_MAGIC):
        raise ServiceError("这是旧版 .xls 格式或设置了打开密码的工作簿：请取消密码并“另存为” .xlsx 工作簿后再导入。")
    elif data.startswith(b"PK"):
        raise ServiceError("文件已损坏或不完整，无法读取：请重新保存后再上传。")
    else:
        kind = "csv"
    if suffix == ".xlsx" and kind != "xlsx":
        raise ServiceError(
            "文件扩展名是 .xlsx，但内容不是 Excel 工作簿（可能是改了扩展名的其他文件）：请上传按模板填写的工作簿。"
        )
    if suffix == ".csv" and kind != "csv":
        raise ServiceError("文件扩展名是 .csv，但内容是压缩包或 Excel 工作簿：请上传真正的 CSV 文件，或改用 .xlsx。")
    return kind


def _corrupted() -> ServiceError:
    return ServiceError("文件已损坏或不完整（不是有效的 .xlsx 工作簿），无法读取：请在 Excel 中重新保存后再上传。")


def _too_big_unpacked() -> ServiceError:
    return ServiceError("工作簿解压后过大或压缩比异常（疑似“压缩炸弹”），已拒绝：请上传按模板填写的普通工作簿。")


def _sheet_names(archive: zipfile.ZipFile) -> dict[str, str]:
    """Worksheet member path -> sheet name, from workbook.xml and its relationships."""
    try:
        workbook = ET.fromstring(archive.read("xl/workbook.xml"))
        rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ET.ParseError):
        return {}
    targets: dict[str, str] = {}
    for rel in rels:
        target = rel.get("Target", "")
        path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        targets[rel.get("Id", "")] = path
    names: dict[str, str] = {}
    for element in workbook.iter():
        if element.tag.endswith("}sheet") or element.tag == "sheet":
            rid = next((v for k, v in element.attrib.items() if k.endswith("}id")), "")
            if rid in targets:
                names[targets[rid]] = element.get("name", "")
    return names


def _inspect_xlsx(data: bytes) -> dict[str, tuple[int, int]]:
    """Refuse zip bombs (declared sizes and ratio first, then a capped streaming read of every
    member, which also catches lying headers and corrupted data) and formulas in any cell.
    Returns each worksheet's extent, sheet name -> (rows, columns), as ``uploads.sheet_extent``
    reads it from the XML: calamine would allocate that rectangle whole."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
        raise _corrupted() from exc
    names = {info.filename for info in infos}
    if "xl/workbook.xml" not in names:
        if "word/document.xml" in names:
            raise ServiceError("这是一个 Word 文档，不能导入：请上传按模板填写的 .xlsx 工作簿。")
        if "ppt/presentation.xml" in names:
            raise ServiceError("这是一个 PowerPoint 演示文稿，不能导入：请上传按模板填写的 .xlsx 工作簿。")
        raise ServiceError("这是一个压缩包，但不是 Excel 工作簿：请上传按模板填写的 .xlsx 工作簿。")
    if sum(info.file_size for info in infos) > UNZIP_MAX_BYTES or len(infos) > 10_000:
        raise _too_big_unpacked()
    for info in infos:
        if info.file_size > RATIO_FLOOR and info.file_size > UNZIP_MAX_RATIO * max(info.compress_size, 1):
            raise _too_big_unpacked()
    budget = UNZIP_MAX_BYTES
    extents: dict[str, tuple[int, int]] = {}
    try:
        for info in infos:
            is_sheet = info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml")
            content = bytearray()
            with archive.open(info) as member:
                while chunk := member.read(1024 * 1024):
                    budget -= len(chunk)
                    if budget < 0:
                        raise _too_big_unpacked()
                    if is_sheet:
                        content += chunk
            if is_sheet:
                extents[info.filename] = uploads.sheet_extent(content)
                found = _FORMULA.search(content)
                if found:
                    refs = _CELL_REF.findall(content, 0, found.start())
                    where = f" {refs[-1].decode()} " if refs else "某个"
                    sheet = _sheet_names(archive).get(info.filename, PurePosixPath(info.filename).stem)
                    raise ServiceError(
                        f"工作表“{sheet}”的{where}单元格含有公式：导入文件中不能使用公式。"
                        "请把公式改成数值（复制后“选择性粘贴 → 数值”）后重新上传。"
                    )
    except ServiceError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, RuntimeError, NotImplementedError) as exc:
        raise _corrupted() from exc
    names = _sheet_names(archive)
    return {names.get(path, path): extent for path, extent in extents.items()}


def _read_xlsx(data: bytes) -> _Table:
    from python_calamine import CalamineWorkbook

    extents = _inspect_xlsx(data)
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = list(workbook.sheet_names)
        visible = [
            meta.name
            for meta in workbook.sheets_metadata
            if str(meta.visible).endswith("Visible") and str(meta.typ).endswith("WorkSheet")
        ]
        name = DATA_SHEET if DATA_SHEET in names else (visible or names or [""])[0]
        if not name:
            raise ServiceError("工作簿中没有工作表。")
        # Before calamine loads the sheet: it allocates rows × columns at once (a stray cell at
        # XFD1048576 would abort the process). A sheet not found by name: the largest one.
        _check_extent(*extents.get(name, max(extents.values(), default=(0, 0))))
        sheet = workbook.get_sheet_by_name(name)
        end_row, end_column = sheet.end or (0, 0)
        _check_extent(end_row + 1, end_column + 1)
        rows = sheet.to_python(skip_empty_area=False)
    except ServiceError:
        raise
    except Exception as exc:  # calamine raises its own error types for every kind of bad content
        raise _corrupted() from exc
    return _Table("xlsx", rows, name)


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ServiceError("不支持 UTF-16 编码的文本：请在 Excel 中另存为“CSV UTF-8（逗号分隔）”或 .xlsx。")
    if b"\x00" in data[:65536]:
        raise ServiceError("文件内容不是文本，也不是 Excel 工作簿：请上传按模板填写的 .xlsx 或 .csv 文件。")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ServiceError("无法识别 CSV 文件的编码：请保存为 UTF-8 或 GBK 编码后再导入。")


def _read_csv(data: bytes) -> _Table:
    text = _decode(data)
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","
    rows: list[list[Any]] = []
    empty: list[Any] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            rows.append(row if row else empty)  # blank lines share one list
            if len(rows) % 1000 == 0:
                _check_extent(len(rows), max(len(row), 1))
    except csv.Error as exc:
        raise ServiceError(f"CSV 文件格式有误，无法读取：{exc}") from exc
    _check_extent(len(rows), max((len(row) for row in rows), default=0))
    return _Table("csv", rows, DATA_SHEET)


MAX_COLUMNS = 200
BLANK_ROWS_ALLOWED = 10_000


def _check_extent(rows: int, columns: int) -> None:
    """Refuse a sheet whose used area is far larger than any real list of children, before it
    is read into memory (a stray cell at row 1,000,000, or a file of empty lines)."""
    limit = get_settings().import_max_rows
    if rows > limit + BLANK_ROWS_ALLOWED:
        raise ServiceError(
            f"表格有 {rows} 行（含空行），超过上限：一个文件最多 {limit} 名幼儿。"
            "请删除多余的行（包括下方的空行和格式），或分成几个文件导入。"
        )
    if columns > MAX_COLUMNS:
        raise ServiceError(f"表格有 {columns} 列，远多于导入模板的列：请删除多余的列后再导入。")


def _blank(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, str) and not value.strip())


def _find_header(rows: list[list[Any]]) -> int:
    """The index of the header row: the first of the first 20 rows that names the 姓名 column."""
    for index, row in enumerate(rows[:20]):
        if any(_label_of(cell) == CHILD.spec("name").label for cell in row):
            return index
    raise ServiceError(
        "找不到表头：第一行应为导入模板的列名（姓名、性别、出生日期……）。请下载导入模板，按模板的表头填写。"
    )


def _map_columns(header: list[Any]) -> dict[int, FieldSpec]:
    """Column index -> field, matched by label in any order; refuses missing required columns,
    unknown and repeated headers with a message naming them."""
    columns: dict[int, FieldSpec] = {}
    unknown: list[str] = []
    repeated: list[str] = []
    seen: set[str] = set()
    for index, cell in enumerate(header):
        label = _label_of(cell)
        if not label or label == ERROR_COLUMN:
            continue
        spec = SPECS.get(label)
        if spec is None:
            unknown.append(str(cell).strip())
        elif label in seen:
            repeated.append(label)
        else:
            seen.add(label)
            columns[index] = spec
    missing = [spec.label for spec in CHILD.fields if spec.required and spec.label not in seen]
    problems = []
    if missing:
        problems.append(f"缺少必填列：{'、'.join(missing)}")
    if unknown:
        problems.append(f"无法识别的列：{'、'.join(unknown)}")
    if repeated:
        problems.append(f"重复的列：{'、'.join(repeated)}")
    if problems:
        raise ServiceError(
            f"表头与导入模板不符（{'；'.join(problems)}）。没有导入任何数据：请按导入模板的列名填写表头后重新上传。"
        )
    return columns


def _text(value: Any) -> str:
    if type(value) is str:
        return (value.replace("\u3000", " ") if "\u3000" in value else value).strip()
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("\u3000", " ").strip()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _date_text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = _text(value)
    match = _DATE.fullmatch(text)
    if match:
        return f"{match[1]}-{int(match[2]):02d}-{int(match[3]):02d}"
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def _cell_value(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    """A sheet cell as the form's raw value, and the error that only a sheet can have."""
    if spec.kind == "text" and spec.name != "document_number":
        return _text(value), None
    if spec.kind == "date":
        return _date_text(value), None
    if spec.kind == "bool":
        text = _text(value).upper()
        if text in _TRUE:
            return True, None
        if text in _FALSE:
            return False, None
        return False, f"{spec.label}应填“是”或“否”。"
    if spec.name == "document_number" and isinstance(value, int | float) and abs(value) >= 1e15:
        return _text(value), "证件号码被 Excel 存成了数字，末几位已经丢失：请把该列设为“文本”格式后重新填写号码。"
    return _text(value), None


def _rows_values(rows: list[list[Any]], columns: dict[int, FieldSpec]) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Sheet rows as the form's raw values, and the errors that only a sheet can have, worked a
    column at a time: each distinct cell of a column (民族, 班级, 是/否 ...) is read once. A cell
    is told apart by its type too (1, 1.0 and True are equal in Python, not in a sheet)."""
    names = [spec.name for spec in columns.values()]
    width = max(columns) + 1
    if any(len(cells) < width for cells in rows):  # a short CSV line: its missing cells are empty
        rows = [cells if len(cells) >= width else [*cells, *[None] * (width - len(cells))] for cells in rows]
    sheet_columns = list(zip(*rows, strict=False)) if rows else [() for _ in range(width)]
    value_columns: list[list[Any]] = []
    row_errors: dict[int, dict[str, str]] = {}
    for index, spec in columns.items():
        column = sheet_columns[index]
        keys = list(zip(map(type, column), column, strict=True))
        outcome_of = {key: _cell_value(spec, key[1]) for key in set(keys)}
        outcomes = list(map(outcome_of.__getitem__, keys))
        value_columns.append([value for value, _error in outcomes])
        if any(error is not None for _value, error in outcome_of.values()):
            for row, (_value, error) in enumerate(outcomes):
                if error is not None:
                    row_errors.setdefault(row, {})[spec.name] = error
    return [
        (dict(zip(names, values, strict=True)), row_errors.get(row, {}))
        for row, values in enumerate(zip(*value_columns, strict=True))
    ]


def _is_example(raw: dict[str, Any]) -> bool:
    return (
        raw.get("name") == EXAMPLE["name"]
        and raw.get("document_number") == EXAMPLE["document_number"]
        and raw.get("birth_date") == EXAMPLE["birth_date"].isoformat()
    )


@dataclass
class _Parsed:
    table: _Table
    header_index: int
    columns: dict[int, FieldSpec]
    rows: list[_Row]
    skipped_example: int = 0


def _parse(filename: str, data: bytes) -> _Parsed:
    kind = _sniff(filename, data)
    table = _read_xlsx(data) if kind == "xlsx" else _read_csv(data)
    if not any(any(not _blank(c) for c in row) for row in table.rows):
        raise ServiceError("文件中没有任何内容：请在导入模板中填写幼儿信息后再上传。")
    header_index = _find_header(table.rows)
    columns = _map_columns(table.rows[header_index])
    limit = get_settings().import_max_rows
    body = [
        (index, table.rows[index])
        for index in range(header_index + 1, len(table.rows))
        if not all(_blank(cell) for cell in table.rows[index])
    ]
    too_many = f"文件中的幼儿超过 {limit} 行：请分成几个文件导入（每个文件不超过 {limit} 行）。"
    if len(body) > limit + 1:  # one row may be the template's example
        raise ServiceError(too_many)
    rows: list[_Row] = []
    skipped = 0
    for (index, cells), (raw, errors) in zip(body, _rows_values([cells for _i, cells in body], columns), strict=True):
        if _is_example(raw):
            skipped += 1
            continue
        rows.append(_Row(index + 1, cells, raw, errors))
    if len(rows) > limit:
        raise ServiceError(too_many)
    return _Parsed(table, header_index, columns, rows, skipped)


# --- importing ------------------------------------------------------------------------------------------


def _institution_for(session: Session, actor: Actor, institution_code: str | None) -> Institution:
    if institution_code is None:
        return children.own_institution(session, actor)
    institution = session.exec(select(Institution).where(Institution.code == institution_code.strip())).first()
    if institution is None:
        raise NotFound(f"机构标识码为 {institution_code} 的机构不存在。")
    require(actor, Action.MANAGE_CHILDREN, institution)
    return institution


def _lock_institution(session: Session, institution_id: int) -> None:
    """One import per institution at a time on PostgreSQL (SQLite writes are serial already)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(sa_func.pg_advisory_xact_lock(0x1D0C_0000_0000 + institution_id)))


@dataclass
class _Existing:
    id: int
    state: str
    content_hash: str


def _existing(
    session: Session, institution_id: int, id_hashes: Sequence[str], identity_hashes: Sequence[str]
) -> tuple[dict[str, _Existing], dict[str, _Existing]]:
    """The institution's records (not deleted) with these document hashes, and those without a
    document with these identity hashes, in batches of IN (...)."""
    table = Child.__table__
    by_document: dict[str, _Existing] = {}
    by_identity: dict[str, _Existing] = {}
    base = select(table.c.id, table.c.state, table.c.content_hash, table.c.id_hash, table.c.identity_hash).where(
        table.c.institution_id == institution_id, table.c.state != "deleted"
    )
    for start in range(0, len(id_hashes), 900):
        chunk = list(id_hashes[start : start + 900])
        for row in session.execute(base.where(table.c.id_hash.in_(chunk)).order_by(table.c.id)):
            by_document.setdefault(row.id_hash, _Existing(row.id, row.state, row.content_hash))
    for start in range(0, len(identity_hashes), 900):
        chunk = list(identity_hashes[start : start + 900])
        query = base.where(table.c.identity_hash.in_(chunk), table.c.id_hash.is_(None)).order_by(table.c.id)
        for row in session.execute(query):
            by_identity.setdefault(row.identity_hash, _Existing(row.id, row.state, row.content_hash))
    return by_document, by_identity


def _claimed_elsewhere(
    session: Session, province_code: str, institution_id: int, id_hashes: list[str], own_claims: set[str]
) -> set[str]:
    """Which document hashes another institution of the province claims (submitted, approved or
    problem records). The batched province-wide check first; hashes the institution claims itself
    are asked again without its own records."""
    found = children.duplicates_among(session, province_code, id_hashes)
    ambiguous = sorted(found & own_claims)
    if ambiguous:
        found -= set(ambiguous)
        table = Child.__table__
        for start in range(0, len(ambiguous), 900):
            chunk = ambiguous[start : start + 900]
            found.update(
                session.execute(
                    select(table.c.id_hash).where(
                        table.c.id_hash.in_(chunk),
                        table.c.province_code == province_code,
                        table.c.state.in_(children.CLAIMING),
                        table.c.institution_id != institution_id,
                    )
                ).scalars()
            )
    return found


def _messages(errors: dict[str, str]) -> dict[str, str]:
    """Field name -> message as column label -> message."""
    out: dict[str, str] = {}
    for name, message in errors.items():
        label = SPECS_BY_NAME[name].label if name in SPECS_BY_NAME else name
        out[label] = message
    return out


def _chunks(rows: list[_Row], size: int) -> Iterator[list[_Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def import_children(
    actor: Actor,
    filename: str,
    data: bytes,
    *,
    today: date | None = None,
    progress: ProgressCallback | None = None,
    institution_code: str | None = None,
) -> ImportResult:
    """Import children from an .xlsx workbook or a CSV file (UTF-8 with or without BOM, or GBK)
    into the actor's institution (or, with ``institution_code``, into that institution: for the
    operator's command line; the permission check still applies to a real actor).

    Bad files raise ServiceError with a Chinese message and change nothing. Otherwise every row is
    checked by the form's rules; refused rows are reported (and marked in a copy of the workbook),
    accepted rows are saved as drafts or update the matching draft, all in one transaction with
    one audit row. ``progress(done, total)`` is called after every chunk of rows; if it raises,
    nothing is written.
    """
    today = today or workflow.local_today()
    with db.session_scope() as session:
        _institution_for(session, actor, institution_code)  # who may import, before reading the file
    parsed = _parse(filename, data)
    total = len(parsed.rows)
    errors: dict[int, RowError] = {}
    warnings: list[str] = []
    if parsed.skipped_example:
        warnings.append(f"模板中的示例行（{EXAMPLE['name']}）已跳过，没有导入。")
    inserted = updated = unchanged = 0
    duplicates_elsewhere = 0
    table = Child.__table__
    with db.session_scope(write=True) as session:
        institution = _institution_for(session, actor, institution_code)
        assert institution.id is not None
        _lock_institution(session, institution.id)
        classes = children.class_lookup(session, institution.id, children.school_year_of(today))
        class_names = frozenset(classes)
        class_ids = {name: row.id for name, row in classes.items()}
        known_region = children.known_region_lookup(session)
        # A first import (nothing to match yet) skips the per-chunk look-ups of existing records.
        had_children = (
            session.execute(
                select(table.c.id).where(table.c.institution_id == institution.id, table.c.state != "deleted").limit(1)
            ).first()
            is not None
        )
        created_by = None if actor.is_system or not actor.user_id else actor.user_id
        now = utcnow()
        seen: dict[str, int] = {}  # document or identity key -> the row number that took it
        accepted_hashes: list[str] = []
        own_claims: set[str] = set()
        late = 0
        months = get_settings().child_record_months
        overdue_before = (today - relativedelta(months=months)).isoformat()  # as list_children's "overdue"
        new_row = {
            "state": "saved",
            "return_reason": "",
            "version": 1,
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
        }
        update_statement = update(table).where(table.c.id == bindparam("b_id")).values(version=table.c.version + 1)
        done = 0
        # Each chunk's rows are stored while the next chunk is checked and encrypted (bulk.Writer).
        with bulk.Writer(session, table, shared=new_row) as writer:
            for chunk in _chunks(parsed.rows, CHUNK):
                staged: list[tuple[_Row, dict[str, Any]]] = []  # (row, the child table's columns)
                chunk_checked = children.check_children(
                    [row.raw for row in chunk],
                    class_names=class_names,
                    today=today,
                    known_region=known_region,
                    province_code=institution.province_code,
                )
                for row, checked in zip(chunk, chunk_checked, strict=True):
                    problems = {**checked.errors, **row.pre_errors}
                    if problems:
                        errors[row.number] = RowError(row.number, row.name, _messages(problems))
                        continue
                    values = checked.values
                    columns = children.column_values(values, institution, class_ids[values["class_name"]])
                    id_hash = columns["id_hash"]
                    key = id_hash or f"identity:{columns['identity_hash']}"
                    first = seen.setdefault(key, row.number)
                    if first != row.number:
                        what = "证件号码" if id_hash else "姓名、性别和出生日期（无证件）"
                        errors[row.number] = RowError(
                            row.number,
                            row.name,
                            _messages(
                                {
                                    "document_number"
                                    if id_hash
                                    else "name": f"与第 {first} 行的{what}相同：同一幼儿只能填写一行。"
                                }
                            ),
                        )
                        continue
                    for warning in checked.warnings:
                        warnings.append(f"第 {row.number} 行（{row.name}）：{warning}")
                    if values["enrolment_date"] < overdue_before:
                        late += 1
                    staged.append((row, columns))
                if had_children:
                    writer.flush()  # the look-up below needs the session
                by_document, by_identity = (
                    _existing(
                        session,
                        institution.id,
                        [c["id_hash"] for _r, c in staged if c["id_hash"]],
                        [c["identity_hash"] for _r, c in staged if not c["id_hash"]],
                    )
                    if had_children
                    else ({}, {})
                )
                inserts: list[dict[str, Any]] = []
                updates: list[dict[str, Any]] = []
                for row, columns in staged:
                    id_hash = columns["id_hash"]
                    match = by_document.get(id_hash) if id_hash else by_identity.get(columns["identity_hash"])
                    if match is None:
                        inserts.append(columns)
                    elif match.content_hash == columns["content_hash"]:
                        unchanged += 1
                        if id_hash and match.state in children.CLAIMING:
                            own_claims.add(id_hash)
                    elif match.state in ("saved", "returned"):
                        columns.update(updated_at=now, b_id=match.id)
                        updates.append(columns)
                    else:
                        label = children.STATE_LABELS.get(match.state, match.state)
                        message = (
                            f"该幼儿的记录{label}，不能通过导入修改：请在“幼儿信息”页面办理"
                            "（已提交、已审核的记录和问题学籍都不能用导入覆盖）。"
                        )
                        errors[row.number] = RowError(
                            row.number, row.name, _messages({"document_number" if id_hash else "name": message})
                        )
                        continue
                    if id_hash:
                        accepted_hashes.append(id_hash)
                counters.touch(session, institution.id)  # Core writes: the ORM does not see them
                if inserts:
                    writer.write(inserts)
                    inserted += len(inserts)
                if updates:
                    writer.flush()
                    session.execute(update_statement, updates)
                    updated += len(updates)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if accepted_hashes:
            duplicates_elsewhere = len(
                _claimed_elsewhere(session, institution.province_code, institution.id, accepted_hashes, own_claims)
            )
        warnings.extend(_capacity_warnings(session, institution.id, classes))
        if late:
            warnings.append(f"{late} 名幼儿入园已超过建档期限，请尽快核对并提交审核。")
        if duplicates_elsewhere:
            warnings.append(
                f"{duplicates_elsewhere} 名幼儿的证件号码已被本省其他机构的记录占用，提交审核时将进行查重，"
                "请先核实这些幼儿是否已转入本园。"
            )
        refused = len(errors)
        audit.record(
            session,
            actor,
            "child_import",
            object_type="institution",
            object_id=institution.id,
            after={
                "filename": uploads.display_name(filename),
                "total": total,
                "inserted": inserted,
                "updated": updated,
                "unchanged": unchanged,
                "refused": refused,
                "duplicates_elsewhere": duplicates_elsewhere,
            },
            detail=(
                f"导入幼儿信息（{uploads.display_name(filename)[:100]}）：总行数 {total}，"
                f"新增 {inserted}，更新 {updated}，未变 {unchanged}，拒绝 {refused}"
            ),
        )
    row_errors = [errors[number] for number in sorted(errors)]
    if len(warnings) > MAX_WARNINGS:
        more = len(warnings) - MAX_WARNINGS
        warnings = [*warnings[:MAX_WARNINGS], f"……另有 {more} 条提示未列出。"]
    return ImportResult(
        total=total,
        inserted=inserted,
        updated=updated,
        unchanged=unchanged,
        refused=len(row_errors),
        errors=row_errors,
        warnings=warnings,
        duplicates_elsewhere=duplicates_elsewhere,
        marked=_marked_workbook(parsed, data, row_errors) if row_errors else None,
        marked_filename=marked_name(filename),
    )


def _capacity_warnings(session: Session, institution_id: int, classes: dict[str, SchoolClass]) -> list[str]:
    if not classes:
        return []
    by_id = {row.id: row for row in classes.values()}
    counts = session.exec(
        select(Child.class_id, func.count())
        .where(
            Child.institution_id == institution_id,
            col(Child.class_id).in_(list(by_id)),
            col(Child.state).not_in(children.CLOSED),
        )
        .group_by(col(Child.class_id))
    ).all()
    return [
        f"班级“{by_id[class_id].name}”现有 {count} 人，超过额定人数 {by_id[class_id].capacity}。"
        for class_id, count in counts
        if class_id in by_id and count > by_id[class_id].capacity
    ]


# --- the marked workbook ------------------------------------------------------------------------------


def _workbook_from_rows(rows: list[list[Any]], title: str) -> Any:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            if _blank(value):
                continue
            if isinstance(value, str):  # a CSV cell may hold control characters no workbook can
                value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
            cell = sheet.cell(row=r, column=c, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # a CSV cell starting with "=" stays text, never a formula
                cell.number_format = "@"
    return workbook


def _marked_workbook(parsed: _Parsed, data: bytes, row_errors: Sequence[RowError]) -> bytes:
    """The upload back as .xlsx (a CSV becomes a workbook) with every refused row filled light
    red, a comment on each wrong cell and a 错误说明 column summing the row's problems."""
    from openpyxl import load_workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.comments import Comment
    from openpyxl.styles import Font, PatternFill

    workbook = None
    if parsed.table.kind == "xlsx":
        try:
            workbook = load_workbook(io.BytesIO(data), rich_text=False)
            if parsed.table.sheet_name not in workbook.sheetnames:
                workbook = None
        except Exception:  # openpyxl reads less than calamine: fall back to the cells we have
            workbook = None
    if workbook is None:
        workbook = _workbook_from_rows(parsed.table.rows, parsed.table.sheet_name)
    sheet = workbook[parsed.table.sheet_name]
    header_row = parsed.header_index + 1
    header = parsed.table.rows[parsed.header_index]
    error_column = next((i + 1 for i, cell in enumerate(header) if _label_of(cell) == ERROR_COLUMN), None)
    if error_column is None:
        error_column = max(len(header), sheet.max_column) + 1
    column_of = {spec.label: index + 1 for index, spec in parsed.columns.items()}
    fill = PatternFill(fill_type="solid", start_color=ERROR_FILL, end_color=ERROR_FILL)
    refused = {error.row: error for error in row_errors}
    # Cells stored as text by the sheet stay text: openpyxl would read "=..." strings as formulas.
    for row in sheet.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                cell.data_type = "s"
    header_cell = sheet.cell(row=header_row, column=error_column, value=ERROR_COLUMN)
    header_cell.font = Font(bold=True, color="C00000")
    sheet.column_dimensions[_column_letter(error_column)].width = 60
    for number in range(header_row + 1, sheet.max_row + 1):
        error = refused.get(number)
        summary_cell = sheet.cell(row=number, column=error_column)
        if error is None:
            if summary_cell.value is not None:  # a mark left from an earlier import of this file
                summary_cell.value = None
                for cell in sheet[number]:
                    if cell.comment is not None and cell.comment.author == MARK_AUTHOR:
                        cell.comment = None
                    if cell.fill is not None and cell.fill.start_color.rgb in (ERROR_FILL, f"00{ERROR_FILL}"):
                        cell.fill = PatternFill(fill_type=None)
            continue
        for column in range(1, error_column):
            sheet.cell(row=number, column=column).fill = fill
        for label, message in error.messages.items():
            column = column_of.get(label)
            if column is not None:
                comment = Comment(ILLEGAL_CHARACTERS_RE.sub("\ufffd", message), MARK_AUTHOR)
                comment.width, comment.height = 300, 100
                sheet.cell(row=number, column=column).comment = comment
        summary_cell.value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", error.summary)
        summary_cell.data_type = "s"
        summary_cell.fill = fill
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- export -----------------------------------------------------------------------------------------------


def export_children(actor: Actor, *, institution_id: int | None = None) -> bytes:
    """The children in the actor's scope (not deleted) as .xlsx with the template's columns,
    personal numbers masked (DESIGN.md pattern 7). The download is audited."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    require(actor, Action.VIEW_CHILDREN)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(DATA_SHEET)
    bold = Font(bold=True)
    headers = ["机构", *(spec.label for spec in CHILD.fields), "学籍号", "状态"]
    header_cells = []
    for label in headers:
        cell = WriteOnlyCell(sheet, value=label)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)

    def text_cell(value: str) -> Any:
        cell = WriteOnlyCell(sheet, value=exports.neutralise(value))
        cell.data_type = "s"
        return cell

    conditions: list[Any] = [scope_filter(actor, Child), col(Child.state).not_in(children.CLOSED)]
    if institution_id:
        conditions.append(col(Child.institution_id) == institution_id)
    count = 0
    with db.session_scope(write=True) as session:
        query = (
            select(Child, SchoolClass.name, Institution.name)
            .join(Institution, col(Institution.id) == col(Child.institution_id))
            .outerjoin(SchoolClass, col(SchoolClass.id) == col(Child.class_id))
            .where(*conditions)
            .order_by(col(Child.id))
        )
        for child, class_name, institution_name in session.exec(query):
            values = children.form_values(child, class_name or "")
            shown = [display(spec, values.get(spec.name)) for spec in CHILD.fields]
            number = children.number_of(child)
            sheet.append(
                [
                    text_cell(institution_name),
                    *(text_cell("" if v == "—" else v) for v in shown),
                    text_cell(crypto.mask(number, 7, 4) if number else ""),
                    text_cell(children.STATE_LABELS[child.state]),
                ]
            )
            count += 1
        audit.record(
            session,
            actor,
            "child_export",
            object_type="institution" if institution_id else "",
            object_id=institution_id or "",
            detail=f"导出 {count} 名幼儿的信息（证件号码、电话已遮盖）",
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
