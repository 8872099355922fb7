"""Regions: loading the official division codes, importing townships, looking regions up."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, require
from portal.data import db
from portal.data.models import Region
from portal.data.regions import cpca_regions
from portal.data.text import text_problem
from portal.services import audit, uploads
from portal.services.errors import ServiceError
from portal.settings import get_settings


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def load_official_regions(actor: Actor) -> ImportReport:
    """Load (or refresh) every province, city and county from the cpca package. Idempotent."""
    require(actor, Action.IMPORT_REGIONS)
    report = ImportReport()
    with db.session_scope(write=True) as session:
        existing = {r.code: r for r in session.exec(select(Region).where(Region.source == "cpca")).all()}
        for rec in cpca_regions():
            row = existing.get(rec.code)
            values = {
                "name": rec.name,
                "level": rec.level,
                "parent_code": rec.parent_code,
                "province_code": rec.province_code,
                "city_code": rec.city_code,
                "county_code": rec.county_code,
                "longitude": rec.longitude,
                "latitude": rec.latitude,
            }
            if row is None:
                session.add(Region(code=rec.code, source="cpca", **values))
                report.added += 1
            elif any(getattr(row, k) != v for k, v in values.items()):
                for key, value in values.items():
                    setattr(row, key, value)
                session.add(row)
                report.updated += 1
            # Parents come before children; flush so the foreign key holds on every database.
            if rec.level != "county":
                session.flush()
        audit.record(
            session,
            actor,
            "region_import",
            object_type="region",
            detail=f"国家行政区划：新增 {report.added}，更新 {report.updated}",
        )
    return report


MAX_BYTES = 5 * 1024 * 1024  # a province has a few thousand townships: well under 1 MB
MAX_ROWS = 100_000
MAX_COLUMNS = 50


TOWNSHIP_HEADERS = {"code": ("code", "乡镇代码", "代码"), "name": ("name", "乡镇名称", "名称")}


def import_townships(actor: Actor, data: bytes) -> ImportReport:
    """Add or rename the townships (乡镇) listed in a CSV file with columns 代码,名称 (or code,name).

    A township code has 9 digits, the first 6 being its county's code (GB/T 10114); 12-digit
    codes ending in 000 are accepted. Every line is checked first: one bad line and nothing is
    written, and the report lists every bad line.
    """
    require(actor, Action.IMPORT_REGIONS)
    if len(data) > MAX_BYTES:
        raise ServiceError("文件超过 5 MB：乡镇文件每行一个乡镇，请检查是否选错了文件。")
    rows = uploads.csv_rows(data, max_rows=MAX_ROWS, max_columns=MAX_COLUMNS)
    if not rows:
        raise ServiceError("文件为空：第一行应为表头“代码,名称”。")
    header = [h.lower() for h in rows[0]]
    index: dict[str, int] = {}
    for key, names in TOWNSHIP_HEADERS.items():
        for i, h in enumerate(header):
            if h in names:
                index[key] = i
    if set(index) != {"code", "name"}:
        raise ServiceError("表头不正确：第一行应为“代码,名称”（或 code,name）。")

    report = ImportReport()
    parsed: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line_no, row in enumerate(rows[1:], start=2):
        if not any(row):
            continue
        code = row[index["code"]] if len(row) > index["code"] else ""
        name = row[index["name"]] if len(row) > index["name"] else ""
        if len(code) == 12 and code.endswith("000"):
            code = code[:9]
        if not (len(code) == 9 and code.isascii() and code.isdigit()):
            shown = code if len(code) <= 20 else code[:20] + "…"
            report.errors.append(f"第 {line_no} 行：乡镇代码“{shown}”应为 9 位数字（半角）。")
            continue
        if not name or len(name) > 64:
            report.errors.append(f"第 {line_no} 行：乡镇名称不能为空，且不超过 64 个字。")
            continue
        if problem := text_problem(name, "乡镇名称"):
            report.errors.append(f"第 {line_no} 行：{problem}")
            continue
        if code in seen:
            report.errors.append(f"第 {line_no} 行：乡镇代码 {code} 在文件中重复。")
            continue
        seen.add(code)
        parsed.append((code, name))
    if not parsed and not report.errors:
        raise ServiceError("文件中没有乡镇数据。")

    with db.session_scope(write=True) as session:
        counties = {
            r.code: r
            for r in session.exec(select(Region).where(col(Region.code).in_({c[:6] for c, _ in parsed}))).all()
        }
        for code, _name in parsed:
            county = counties.get(code[:6])
            if county is None or county.county_code is None:
                report.errors.append(f"乡镇 {code}：所属县级区划 {code[:6]} 不存在。")
            elif county.province_code != code[:2] or (
                actor.province_code and actor.province_code != county.province_code
            ):
                report.errors.append(f"乡镇 {code}：不在本省范围内。")
        if report.errors:
            return report
        existing = {
            r.code: r for r in session.exec(select(Region).where(col(Region.code).in_([c for c, _ in parsed]))).all()
        }
        for code, name in parsed:
            county = counties[code[:6]]
            row = existing.get(code)
            if row is None:
                session.add(
                    Region(
                        code=code,
                        name=name,
                        level="township",
                        parent_code=county.code,
                        province_code=county.province_code,
                        city_code=county.city_code,
                        county_code=county.county_code,
                        source="import",
                    )
                )
                report.added += 1
            elif row.name != name:
                row.name = name
                session.add(row)
                report.updated += 1
        audit.record(
            session,
            actor,
            "township_import",
            object_type="region",
            detail=f"乡镇：新增 {report.added}，更新 {report.updated}",
        )
    return report


def full_region_name(session: Session, region: Region) -> str:
    """河南省郑州市中牟县: the names from the province down to ``region``."""
    names = [region.name]
    parent_code = region.parent_code
    while parent_code:
        parent = session.get(Region, parent_code)
        if parent is None:
            break
        names.append(parent.name)
        parent_code = parent.parent_code
    return "".join(reversed(names))


def deployment_name() -> str:
    """The deployment's name as the screens say it: the province's name, or 全国 for the ministry."""
    settings = get_settings()
    if settings.deployment == "national":
        return "全国"
    with db.session_scope() as session:
        province = session.get(Region, settings.province_code + "0000")
        return province.name if province else settings.province_code
