"""Progress bulletins (定期通报, MISSION.md R5.2): a bureau's leader issues, for a date, the ranked
progress table of the regions below, its charts and a short generated summary (who is first and
last, who moved most since the last bulletin), as an Excel workbook (with a native bar chart) and
a PDF (Chinese font embedded, the chart drawn in the PDF); both are archived and published to the
levels below, who see them in their portal.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font
from sqlmodel import col, or_, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, require
from portal.auth.roles import Duty, Level
from portal.data import db
from portal.data.models import Bulletin
from portal.services import exports, progress
from portal.services.errors import NotFound, ServiceError
from portal.settings import get_settings

# (collection file, face): TrueType outlines first (WenQuanYi Zen Hei embeds as a plain TrueType
# font); Noto Sans CJK's CFF outlines also work, but some viewers warn about them.
FONT_CANDIDATES = (
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "WenQuanYi Zen Hei", ".ttf"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC", ".otf"),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC", ".otf"),
)


@dataclass(frozen=True)
class BulletinRow:
    id: int
    title: str
    region_name: str
    as_of: date
    summary: str
    created_by_name: str
    created_at: datetime
    has_pdf: bool


# --- the summary ------------------------------------------------------------------------------


def _ranked(table: progress.ProgressTable) -> list[progress.ProgressRow]:
    return sorted(
        table.rows, key=lambda r: (-(r.numbered_pct if r.numbered_pct is not None else -1), -r.reviewed, r.code)
    )


def summary_text(table: progress.ProgressTable, previous: dict[str, float] | None, as_of: date) -> str:
    """First and last by the student-number ratio (the review ratio without a baseline), and who
    moved most since the previous bulletin."""
    rows = [r for r in table.rows if r.institutions]
    if not rows:
        return f"截至 {as_of:%Y年%m月%d日}，{table.region_name}尚无学前教育机构纳入系统。"
    with_baseline = [r for r in rows if r.numbered_pct is not None]
    key = "numbered_pct" if with_baseline else "reviewed_pct"
    label = "学籍号获取率" if with_baseline else "机构基本信息审核率"
    pool = with_baseline or rows
    ranked = sorted(pool, key=lambda r: (-(getattr(r, key) or 0), r.code))
    total = table.total
    parts = [
        f"截至 {as_of:%Y年%m月%d日}，{table.region_name}系统内学前教育机构 {total.institutions} 个，"
        f"基本信息已上报 {total.reported} 个（{progress.percent(total.reported_pct) or '—'}），"
        f"已审核 {total.reviewed} 个（{progress.percent(total.reviewed_pct) or '—'}）；"
        f"已获得学籍号的幼儿 {total.numbered} 人"
        + (f"，占教育统计在园幼儿数的 {progress.percent(total.numbered_pct)}。" if total.numbered_pct else "。"),
        f"{label}最高的是{ranked[0].name}（{progress.percent(getattr(ranked[0], key))}），"
        f"最低的是{ranked[-1].name}（{progress.percent(getattr(ranked[-1], key))}）。"
        if len(ranked) > 1
        else f"{ranked[0].name}的{label}为 {progress.percent(getattr(ranked[0], key))}。",
    ]
    if previous:
        moves = [
            (getattr(r, key) - previous[r.code], r)
            for r in pool
            if r.code in previous and getattr(r, key) is not None and previous[r.code] is not None
        ]
        if moves:
            change, mover = max(moves, key=lambda m: (m[0], m[1].code))
            if change > 0:
                parts.append(f"与上期通报相比，{mover.name}进展最快，{label}提高 {change:.2f} 个百分点。")
            else:
                parts.append("与上期通报相比，各地进展不明显，请加快工作进度。")
    else:
        parts.append("本期为首期通报。")
    return "".join(parts)


# --- the files --------------------------------------------------------------------------------


def workbook(table: progress.ProgressTable, title: str, summary: str) -> bytes:
    """The bulletin as .xlsx: title, summary, the ranked table in 附件2's columns, a bar chart."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "通报"
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([summary])
    sheet["A2"].alignment = Alignment(wrap_text=True, vertical="top")
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=10)
    sheet.row_dimensions[2].height = 60
    sheet.append([])
    sheet.append(progress.header(table))
    for cell in sheet[4]:
        cell.font = Font(bold=True)
    lines = progress.printed_rows(table)
    for line in lines:
        row = [exports.neutralise(v) for v in line]
        for index in (2, 3, 5, 7, 8):  # the counts as numbers
            row[index] = int(row[index]) if row[index] not in ("", None) else None
        for index in (4, 6, 9):  # the ratios as numbers, formatted as percentages
            row[index] = float(row[index].rstrip("%")) / 100 if row[index] else None
        sheet.append(row)
    first, last = 5, 4 + len(lines) - 1  # the regions, without the total row
    for row in sheet.iter_rows(min_row=first, max_row=last + 1):
        for index in (4, 6, 9):
            row[index].number_format = "0.00%"
    for letter, width in zip("ABCDEFGHIJ", (6, 16, 14, 16, 9, 16, 9, 16, 20, 9), strict=True):
        sheet.column_dimensions[letter].width = width
    if last >= first:
        chart = BarChart()
        chart.type = "col"
        chart.title = "审核率与学籍号获取率"
        chart.y_axis.title = "%"
        chart.y_axis.numFmt = "0%"
        data = Reference(sheet, min_col=7, min_row=4, max_row=last)
        chart.add_data(data, titles_from_data=True)
        chart.add_data(Reference(sheet, min_col=10, min_row=4, max_row=last), titles_from_data=True)
        chart.set_categories(Reference(sheet, min_col=2, min_row=first, max_row=last))
        chart.height, chart.width = 9, 22
        sheet.add_chart(chart, f"A{last + 4}")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@lru_cache(maxsize=1)
def font_file() -> str | None:
    """A CJK font file fpdf2 can embed: the setting, or a system font collection's simplified
    Chinese face, taken out of the collection once into var/fonts."""
    configured = get_settings().pdf_font
    if configured:
        return configured if Path(configured).is_file() else None
    for candidate, face_name, suffix in FONT_CANDIDATES:
        if Path(candidate).is_file():
            target = Path("var") / "fonts" / f"{face_name.replace(' ', '')}{suffix}"
            if not target.is_file():
                from fontTools.ttLib import TTCollection

                collection = TTCollection(candidate)
                face = next(f for f in collection.fonts if f["name"].getDebugName(1) == face_name)
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(f".{os.getpid()}.part")  # another process may be at it too
                face.save(str(partial))
                os.replace(partial, target)
            return str(target)
    return None


def pdf(table: progress.ProgressTable, title: str, summary: str) -> bytes:
    """The bulletin as PDF: title, summary, the ranked table and a bar chart of the two ratios."""
    from fpdf import FPDF

    path = font_file()
    if path is None:
        raise ServiceError(
            "服务器缺少中文字体（Noto Sans CJK），无法生成 PDF：请安装 fonts-noto-cjk，或设置 PORTAL_PDF_FONT。"
        )
    document = FPDF(orientation="landscape", format="A4")
    document.set_auto_page_break(auto=True, margin=12)
    document.add_font("cjk", fname=path)
    document.add_page()
    document.set_font("cjk", size=16)
    document.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT", align="C")
    document.set_font("cjk", size=10)
    document.multi_cell(0, 6, summary, new_x="LMARGIN", new_y="NEXT")
    document.ln(2)
    document.set_font("cjk", size=8)
    widths = (10, 30, 26, 28, 16, 30, 16, 30, 36, 16)
    from fpdf.fonts import FontFace

    headings = FontFace(emphasis="", fill_color=(240, 240, 240))  # the CJK face has no bold: a shaded row
    with document.table(col_widths=widths, text_align="CENTER", line_height=6, headings_style=headings) as pdf_table:
        pdf_table.row(progress.header(table))
        for line in progress.printed_rows(table):
            pdf_table.row(line)
    _bar_chart(document, _ranked(table))
    return bytes(document.output())


def _bar_chart(document: object, rows: Sequence[progress.ProgressRow]) -> None:
    """Two bars per region (审核率, 学籍号获取率), drawn with rectangles on a new page."""
    from fpdf import FPDF

    assert isinstance(document, FPDF)
    shown = [r for r in rows if r.institutions][:40]
    if not shown:
        return
    document.add_page()
    document.set_font("cjk", size=12)
    document.cell(0, 8, "各地机构基本信息审核率与学籍号获取率（%）", new_x="LMARGIN", new_y="NEXT", align="C")
    left, bottom, height = 20.0, 170.0, 120.0
    scale = max(100.0, *(max(r.reviewed_pct or 0, r.numbered_pct or 0) for r in shown))
    slot = min(24.0, 250.0 / len(shown))
    document.set_font("cjk", size=7)
    document.set_draw_color(120, 120, 120)
    document.line(left, bottom, left + slot * len(shown), bottom)
    target_y = bottom - height * 100 / scale
    document.set_dash_pattern(dash=1, gap=1)
    document.line(left, target_y, left + slot * len(shown), target_y)
    document.set_dash_pattern()
    document.text(left + slot * len(shown) + 1, target_y + 1, "100%")
    for index, row in enumerate(shown):
        x = left + index * slot
        for offset, value, colour in (
            (0.15, row.reviewed_pct or 0, (233, 150, 122)),
            (0.5, row.numbered_pct or 0, (178, 34, 34)),
        ):
            bar = height * value / scale
            document.set_fill_color(*colour)
            document.rect(x + slot * offset, bottom - bar, slot * 0.33, bar, style="F")
        document.text(x + 1, bottom + 5, row.name[:6])
    document.set_fill_color(233, 150, 122)
    document.rect(left, bottom + 12, 4, 4, style="F")
    document.text(left + 6, bottom + 15, "机构基本信息审核率")
    document.set_fill_color(178, 34, 34)
    document.rect(left + 50, bottom + 12, 4, 4, style="F")
    document.text(left + 56, bottom + 15, "学籍号获取率（占教育统计在园幼儿数）")


# --- issuing and reading ----------------------------------------------------------------------


def _region_codes(table: progress.ProgressTable) -> tuple[str, str | None, str | None]:
    code = table.region_code
    if table.level == "province":
        return code[:2], None, None
    if table.level == "city":
        return code[:2], code, None
    return code[:2], None, code


def issue_bulletin(actor: Actor, as_of: date | None = None) -> int:
    """A leader of a province, city or county bureau issues a bulletin of their region; returns its id.
    The PDF needs a Chinese font on the server: without one the bulletin is refused, nothing kept."""
    from portal.services.workflow import local_today

    if actor.duty is not Duty.LEADER or actor.level not in (Level.PROVINCE, Level.CITY, Level.COUNTY):
        raise ServiceError("通报由省、市、县教育行政部门的领导发布。")
    as_of = as_of or local_today()
    if as_of > local_today():
        raise ServiceError("通报日期不能晚于今天。")
    if as_of == local_today():
        table = progress.progress_table(actor)
    else:  # an earlier date: the figures of the last month-end snapshot on or before it
        from portal.services import snapshots

        past = snapshots.table_at(actor, as_of)
        if past is None:
            raise ServiceError(f"{as_of} 之前没有月末快照，无法生成该日期的通报；请选择今天。")
        table = past
        as_of = past.as_of or as_of
    with db.session_scope() as session:
        previous = session.exec(
            select(Bulletin)
            .where(Bulletin.region_code == table.region_code, col(Bulletin.as_of) <= as_of)
            .order_by(col(Bulletin.as_of).desc(), col(Bulletin.id).desc())
        ).first()
        before = json.loads(previous.table_json) if previous else None
    key = "numbered_pct" if any(r.numbered_pct is not None for r in table.rows if r.institutions) else "reviewed_pct"
    title = f"{table.region_name}学前教育管理信息系统建设进度通报（{as_of:%Y年%m月%d日}）"
    summary = summary_text(table, before, as_of)
    xlsx = workbook(table, title, summary)
    document = pdf(table, title, summary)
    province_code, city_code, county_code = _region_codes(table)
    with db.session_scope(write=True) as session:
        bulletin = Bulletin(
            region_code=table.region_code,
            region_name=table.region_name,
            level=table.level,
            province_code=province_code,
            city_code=city_code,
            county_code=county_code,
            as_of=as_of,
            title=title,
            summary=summary,
            table_json=json.dumps({r.code: getattr(r, key) for r in table.rows}, ensure_ascii=False),
            xlsx=xlsx,
            pdf=document,
            created_by=actor.user_id,
            created_by_name=actor.real_name,
        )
        session.add(bulletin)
        session.flush()
        exports.record(
            session,
            actor,
            f"发布通报：{title}",
            len(table.rows) + 1,
            object_type="bulletin",
            object_id=bulletin.id or "",
        )
        return bulletin.id or 0


def _visible(actor: Actor) -> Any:
    """The bulletins of the actor's own region and of the regions above it (a bulletin goes down)."""
    if actor.level is Level.MINISTRY:
        return col(Bulletin.level) == "province"
    if actor.province_code is None:
        return col(Bulletin.id) < 0
    conditions = [(col(Bulletin.level) == "province") & (col(Bulletin.province_code) == actor.province_code)]
    if actor.city_code:
        conditions.append((col(Bulletin.level) == "city") & (col(Bulletin.city_code) == actor.city_code))
    if actor.county_code and actor.level is not Level.CITY:
        conditions.append((col(Bulletin.level) == "county") & (col(Bulletin.county_code) == actor.county_code))
    return or_(*conditions)


def list_bulletins(actor: Actor, limit: int = 50) -> list[BulletinRow]:
    """What the actor may read: the bulletins of its region and of the levels above, newest first."""
    require(actor, Action.VIEW_INSTITUTION)
    with db.session_scope() as session:
        found = session.exec(
            select(Bulletin).where(_visible(actor)).order_by(col(Bulletin.id).desc()).limit(limit)
        ).all()
        return [
            BulletinRow(
                b.id or 0,
                b.title,
                b.region_name,
                b.as_of,
                b.summary,
                b.created_by_name,
                b.created_at,
                b.pdf is not None,
            )
            for b in found
        ]


def read_bulletin(actor: Actor, bulletin_id: int, kind: str) -> tuple[str, bytes]:
    """(file name, bytes) of a bulletin's workbook (``xlsx``) or PDF (``pdf``), for a reader in scope."""
    require(actor, Action.VIEW_INSTITUTION)
    with db.session_scope() as session:
        bulletin = session.exec(select(Bulletin).where(Bulletin.id == bulletin_id, _visible(actor))).first()
        if bulletin is None:
            raise NotFound("通报不存在，或不是发给您所在地区的。")
        data = bulletin.xlsx if kind == "xlsx" else bulletin.pdf
        if data is None:
            raise NotFound("该通报没有 PDF 文件。")
        return f"{bulletin.title}.{kind}", data


def record_download(actor: Actor, bulletin_id: int, kind: str) -> None:
    """Audit the download of a bulletin's file."""
    with db.session_scope(write=True) as session:
        bulletin = session.exec(select(Bulletin).where(Bulletin.id == bulletin_id, _visible(actor))).first()
        if bulletin is not None:
            exports.record(
                session,
                actor,
                f"下载通报（{kind}）：{bulletin.title}",
                1,
                object_type="bulletin",
                object_id=bulletin_id,
            )
