"""What every uploaded file goes through before a service reads it (issue 7).

- ``display_name``: the name the browser sent is for display only: its folders are dropped
  (``../../etc/passwd`` is shown as ``passwd``), characters no text may hold are replaced by ``_``
  and it is cut to 200 characters. Files are never stored under it.
- ``check_zip``: an .xlsx is a zip archive. Before any parser opens one, the archive's declared
  sizes, its members' compression ratios and then a capped streaming read of every member are
  checked, so that a small "zip bomb" that would expand to gigabytes is refused in milliseconds
  (a lying header is caught by the capped read).
- ``csv_rows``: a CSV file decoded (UTF-8 with or without BOM, or GBK/GB 18030) and read with a
  cap on rows and columns; the csv module's own errors (a field larger than its limit) become a
  Chinese message.

Uploads are read from memory (Streamlit hands the page the bytes): nothing is written to a
temporary file on the way, so there is nothing to clean up after a refusal.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
import zlib
from pathlib import PurePosixPath

from portal.data.text import without_bad_characters
from portal.services.errors import ServiceError

MAX_NAME = 200

# A workbook's limits: total uncompressed size, members, and the compression ratio allowed for a
# member above RATIO_FLOOR bytes (real sheets compress 5–30 times; bombs a thousand times).
UNZIP_MAX_BYTES = 200 * 1024 * 1024
UNZIP_MAX_MEMBERS = 10_000
UNZIP_MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024


def display_name(filename: str | None, default: str = "文件") -> str:
    """The uploaded file's name as shown and recorded: no folders, no control or direction
    characters, at most 200 characters; ``default`` when nothing is left."""
    text = str(filename or "").replace("\\", "/")
    name = PurePosixPath(without_bad_characters(text, "_")).name.strip()
    if name in ("", ".", ".."):
        return default
    return name[:MAX_NAME]


def corrupted() -> ServiceError:
    return ServiceError("文件已损坏或不完整（不是有效的 .xlsx 工作簿），无法读取：请在 Excel 中重新保存后再上传。")


def too_big_unpacked() -> ServiceError:
    return ServiceError("工作簿解压后过大或压缩比异常（疑似“压缩炸弹”），已拒绝：请上传按模板填写的普通工作簿。")


def check_zip(data: bytes, *, max_bytes: int = UNZIP_MAX_BYTES) -> None:
    """Refuse a zip archive that is damaged, not a workbook, or would expand past ``max_bytes``
    (declared sizes and ratios first, then a streaming read that stops at the budget)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as exc:
        raise corrupted() from exc
    names = {info.filename for info in infos}
    if "xl/workbook.xml" not in names:
        raise ServiceError("这是一个压缩包或其他 Office 文件，但不是 Excel 工作簿：请上传 .xlsx 工作簿。")
    if len(infos) > UNZIP_MAX_MEMBERS or sum(info.file_size for info in infos) > max_bytes:
        raise too_big_unpacked()
    for info in infos:
        if info.file_size > RATIO_FLOOR and info.file_size > UNZIP_MAX_RATIO * max(info.compress_size, 1):
            raise too_big_unpacked()
    budget = max_bytes
    try:
        for info in infos:
            with archive.open(info) as member:
                while chunk := member.read(1024 * 1024):
                    budget -= len(chunk)
                    if budget < 0:
                        raise too_big_unpacked()
    except ServiceError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, RuntimeError, NotImplementedError) as exc:
        raise corrupted() from exc


_TAG = re.compile(
    rb"""<(?:[A-Za-z_][\w.-]*:)?(row|c)\b(?:[^>]*?\br\s*=\s*["']([A-Za-z]{0,3})([0-9]{0,7})["'])?[^>]*>"""
)
_UNPREFIXED_TAG = re.compile(  # the same, for the usual sheet whose tags carry no namespace prefix
    rb"""<(row|c)\b(?:[^>]*?\br\s*=\s*["']([A-Za-z]{0,3})([0-9]{0,7})["'])?[^>]*>"""
)
_WINDOW = 1024 * 1024


def sheet_extent(xml: bytes | bytearray) -> tuple[int, int]:
    """(rows, columns) a worksheet's cells span, read from its XML as a spreadsheet reader will
    place them (a row or cell without a reference follows the one before it).

    A reader such as calamine allocates the whole rectangle at once: one cell at XFD1048576 is
    17 billion cells, and the allocation aborts the process. Checking this first is the guard.

    The tags are found a window of about a megabyte at a time (each window ends just after a
    ``>``, which no tag holds before its end, so no tag is cut), the memory held stays small."""
    rows = columns = row = column = 0
    indexes: dict[bytes, int] = {}
    tag = _TAG if b":c" in xml or b":row" in xml else _UNPREFIXED_TAG
    start, size = 0, len(xml)
    while start < size:
        end = xml.find(b">", start + _WINDOW)
        end = size if end < 0 else end + 1
        for name, letters, digits in tag.findall(xml, start, end):
            if name == b"row":
                row = int(digits) if digits else row + 1
                column = 0
            else:
                if letters:
                    column = indexes.get(letters) or indexes.setdefault(letters, _column_index(letters.decode("ascii")))
                    if digits:
                        row = int(digits) or 1
                else:
                    column += 1
                if column > columns:
                    columns = column
            if row > rows:
                rows = row
        start = end
    return rows, columns


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - ord("A") + 1
    return index


def decode_text(data: bytes) -> str:
    """A text file's content: UTF-8 (with or without BOM) or GB 18030 (which includes GBK)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ServiceError("不支持 UTF-16 编码的文本：请另存为 UTF-8 或 GBK 编码的 CSV 文件。")
    if b"\x00" in data:
        raise ServiceError("文件中含有空字符（NUL），不是普通的文本文件：请另存为 UTF-8 或 GBK 编码的 CSV 文件。")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ServiceError("无法识别文件的编码：请另存为 UTF-8 或 GBK 编码的 CSV 文件。")


def csv_rows(data: bytes, *, max_rows: int, max_columns: int) -> list[list[str]]:
    """The rows of a CSV file, each cell stripped; refused past ``max_rows`` rows or
    ``max_columns`` columns, or when the csv module cannot read it."""
    text = decode_text(data)
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline="")):
            if len(row) > max_columns:
                raise ServiceError(
                    f"文件第 {len(rows) + 1} 行有 {len(row)} 列，超过 {max_columns} 列：请检查是否选错了文件。"
                )
            rows.append([cell.strip() for cell in row])
            if len(rows) > max_rows:
                raise ServiceError(f"文件超过 {max_rows} 行：请检查是否选错了文件，或分成几个文件导入。")
    except csv.Error as exc:
        raise ServiceError(
            "CSV 文件格式有误，无法读取（可能有超长的单元格或未闭合的引号）：请检查文件后重新上传。"
        ) from exc
    return rows
