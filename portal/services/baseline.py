"""The education statistics' baseline (统计在园幼儿数 per county and year, and the institution count
where the bureau keeps one): the denominators of the progress table (MISSION.md R5.1).

The provincial system administrator imports it from an Excel or CSV file (columns 县区代码, 年度,
统计在园幼儿数, and optionally 机构数), all rows or none, and corrects a single figure; every import
and correction is audited with what it replaced.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from openpyxl import load_workbook
from sqlmodel import Session, col, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, require
from portal.auth.roles import Level
from portal.clock import utcnow
from portal.data import db
from portal.data.models import Region, StatBaseline
from portal.services import audit, uploads
from portal.services.errors import ServiceError, ValidationError

COLUMNS = ("县区代码", "年度", "统计在园幼儿数", "机构数")
MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class BaselineRow:
    county_code: str
    county_name: str
    city_name: str
    year: int
    children: int
    institutions: int | None


@dataclass(frozen=True)
class ImportReport:
    added: int
    changed: int
    unchanged: int
    years: Sequence[int]


def _require_province_admin(actor: Actor) -> None:
    require(actor, Action.IMPORT_REGIONS)
    if actor.level is not Level.PROVINCE:
        raise ServiceError("统计基数由省级系统管理员导入和更正。")


MAX_FIGURE = 999_999_999  # nine digits, as the import reads them; the column is a 32-bit integer
MAX_ROWS = 20_000  # the country has under 3,000 counties: a file of a few years fits easily
MAX_COLUMNS = 50


def _rows_of(filename: str, data: bytes) -> list[list[str]]:
    """The cells of the uploaded sheet as stripped text. A damaged file, a zip bomb, a sheet that
    declares a million rows and a CSV that the csv module cannot read are refused with a Chinese
    message before they are read into memory."""
    if not data:
        raise ServiceError("文件是空的。")
    if len(data) > MAX_BYTES:
        raise ServiceError("文件超过 5 MB，请检查是否选错了文件。")
    name = filename.lower()
    if name.endswith(".xlsx"):
        uploads.check_zip(data)
        try:
            sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
            rows: list[list[str]] = []
            for row in sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True):
                rows.append(["" if v is None else str(v).strip() for v in row])
                if len(rows) > MAX_ROWS:
                    raise ServiceError(f"工作表超过 {MAX_ROWS} 行（含空行）：请删除多余的行后再导入。")
        except ServiceError:
            raise
        except Exception as exc:  # a damaged or renamed file
            raise ServiceError("无法读取该 Excel 文件，请确认是 .xlsx 格式。") from exc
        return rows
    if name.endswith(".csv"):
        return uploads.csv_rows(data, max_rows=MAX_ROWS, max_columns=MAX_COLUMNS)
    raise ServiceError("请上传 .xlsx 或 .csv 文件。")


def _integer(value: str) -> int | None:
    """A non-negative whole number of at most nine digits (full-width digits read as digits),
    or None."""
    value = value.replace(",", "").strip()
    if value.endswith(".0"):
        value = value[:-2]
    return int(value) if value.isdecimal() and len(value) <= 9 else None


def import_baseline(actor: Actor, filename: str, data: bytes) -> ImportReport:
    """Import the baseline; refused as a whole (with the rows named) if any row is wrong."""
    _require_province_admin(actor)
    rows = [r for r in _rows_of(filename, data) if any(r)]
    if not rows:
        raise ServiceError("文件是空的。")
    header = rows[0]
    missing = [c for c in COLUMNS[:3] if c not in header]
    if missing:
        raise ServiceError(f"第一行应为列名，缺少：{'、'.join(missing)}（列名：{'、'.join(COLUMNS)}，机构数可不填）。")
    index = {name: header.index(name) for name in COLUMNS if name in header}
    with db.session_scope(write=True) as session:
        counties = {
            r.code: r
            for r in session.exec(
                select(Region).where(Region.province_code == actor.province_code, col(Region.county_code).is_not(None))
            ).all()
            if r.county_code == r.code
        }
        errors: dict[str, str] = {}
        parsed: dict[tuple[str, int], tuple[int, int | None]] = {}
        for number, row in enumerate(rows[1:], start=2):

            def cell(name: str, row: list[str] = row) -> str:
                position = index.get(name)
                return row[position] if position is not None and position < len(row) else ""

            code, year, children = cell("县区代码"), _integer(cell("年度")), _integer(cell("统计在园幼儿数"))
            institutions_text = cell("机构数")
            institutions = _integer(institutions_text) if institutions_text else None
            problems = []
            if code not in counties:
                shown = code if len(code) <= 20 else code[:20] + "…"
                problems.append(f"县区代码“{shown}”不是本省的县区")
            if year is None or not 2000 <= year <= 2100:
                problems.append("年度应为四位年份")
            if children is None:
                problems.append("统计在园幼儿数应为非负整数")
            if institutions_text and institutions is None:
                problems.append("机构数应为非负整数")
            if not problems and (code, year) in parsed:
                problems.append(f"与前面的行重复（{code}，{year} 年）")
            if problems:
                errors[f"第{number}行"] = f"第 {number} 行：{'；'.join(problems)}。"
            else:
                parsed[(code, year or 0)] = (children or 0, institutions)
        if errors:
            raise ValidationError(errors)
        added = changed = unchanged = 0
        for (code, year), (children, institutions) in parsed.items():
            existing = session.get(StatBaseline, (code, year))
            if existing is None:
                region = counties[code]
                session.add(
                    StatBaseline(
                        county_code=code,
                        year=year,
                        province_code=region.province_code,
                        city_code=region.city_code or code,
                        children=children,
                        institutions=institutions,
                        updated_by=actor.user_id,
                    )
                )
                added += 1
            elif (existing.children, existing.institutions) == (children, institutions):
                unchanged += 1
            else:
                existing.children, existing.institutions = children, institutions
                existing.updated_by, existing.updated_at = actor.user_id, utcnow()
                session.add(existing)
                changed += 1
        years = sorted({year for _, year in parsed})
        audit.record(
            session,
            actor,
            "baseline_import",
            object_type="baseline",
            detail=(
                f"{uploads.display_name(filename)}：{'、'.join(map(str, years))} 年，"
                f"新增 {added}，更新 {changed}，未变 {unchanged}"
            ),
        )
    return ImportReport(added, changed, unchanged, years)


def correct_baseline(actor: Actor, county_code: str, year: int, children: int, institutions: int | None) -> None:
    """Correct one county's figures of one year (the row must exist: new years come by import)."""
    _require_province_admin(actor)
    if children < 0 or (institutions is not None and institutions < 0):
        raise ValidationError({"children": "人数和机构数不能为负数。"})
    if children > MAX_FIGURE or (institutions is not None and institutions > MAX_FIGURE):
        raise ValidationError({"children": "人数和机构数不能超过 9 位数。"})
    with db.session_scope(write=True) as session:
        row = session.get(StatBaseline, (county_code, year))
        if row is None or row.province_code != actor.province_code:
            raise ServiceError("该县区该年度没有统计基数，请先导入。")
        before = {"children": row.children, "institutions": row.institutions}
        row.children, row.institutions = children, institutions
        row.updated_by, row.updated_at = actor.user_id, utcnow()
        session.add(row)
        audit.record(
            session,
            actor,
            "baseline_correct",
            object_type="baseline",
            object_id=f"{county_code}:{year}",
            before=before,
            after={"children": children, "institutions": institutions},
        )


def list_baseline(actor: Actor, year: int | None = None) -> tuple[list[int], list[BaselineRow]]:
    """(the years imported, newest first; the rows of ``year`` or of the newest year)."""
    _require_province_admin(actor)
    with db.session_scope() as session:
        years = sorted(
            set(session.exec(select(StatBaseline.year).where(StatBaseline.province_code == actor.province_code)).all()),
            reverse=True,
        )
        if not years:
            return [], []
        year = year if year in years else years[0]
        return years, _rows(session, actor.province_code or "", year)


def _rows(session: Session, province_code: str, year: int) -> list[BaselineRow]:
    names = {r.code: r.name for r in session.exec(select(Region).where(Region.province_code == province_code)).all()}
    found = session.exec(
        select(StatBaseline)
        .where(StatBaseline.province_code == province_code, StatBaseline.year == year)
        .order_by(col(StatBaseline.county_code))
    ).all()
    return [
        BaselineRow(
            r.county_code, names.get(r.county_code, ""), names.get(r.city_code, ""), r.year, r.children, r.institutions
        )
        for r in found
    ]
