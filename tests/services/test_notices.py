"""通知公告: a notice reaches exactly the accounts below its publisher in its region; readers see
the unread first; the read receipts (first reading kept, counts per level, who has not read);
attachments typed by content, downloads in scope only; bad input refused with nothing written."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, func, select

from portal.auth.actor import Actor
from portal.auth.policy import PermissionDenied
from portal.auth.roles import Level
from portal.data import db
from portal.data.models import AuditLog, Notice, NoticeAttachment, NoticeRead, Region, User
from portal.data.regions import cpca_regions
from portal.services import audit, notices
from portal.services.errors import NotFound, ServiceError, ValidationError
from portal.services.institutions import InstitutionInput, register_institution
from portal.settings import get_settings, reset_settings_cache
from tests.factories import TODAY, clerk_of, reviewer_of

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def another_province() -> dict[str, Actor]:
    """湖北省: a city reviewer of 武汉市 and a clerk of a kindergarten in 江岸区."""
    with db.session_scope(write=True) as session:
        for rec in cpca_regions(["42"]):
            session.add(Region(**rec.__dict__, source="cpca"))
            if rec.level != "county":
                session.flush()
    from portal.auth.actor import SYSTEM_ACTOR

    register_institution(
        SYSTEM_ACTOR,
        InstitutionInput(
            code="4201020001",
            name="武汉市江岸区测试幼儿园",
            kind="独立设置幼儿园",
            ownership="公办",
            inclusive=True,
            urban_rural="主城区",
            county_code="420102",
        ),
    )
    return {"city": reviewer_of(Level.CITY, "420100"), "clerk": clerk_of("4201020001")}


def archive(members: dict[str, bytes | str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return out.getvalue()


def workbook(extra: dict[str, bytes | str] | None = None) -> bytes:
    """A minimal .xlsx archive (what evidence.sniff and the archive check look for)."""
    return archive({"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<workbook/>", **(extra or {})})


def stored_files() -> list[Path]:
    folder = Path(get_settings().evidence_dir)
    return sorted(folder.glob("*")) if folder.exists() else []


def counts() -> tuple[int, int, int]:
    with db.session_scope() as session:
        return (
            session.exec(select(func.count()).select_from(Notice)).one(),
            session.exec(select(func.count()).select_from(NoticeAttachment)).one(),
            session.exec(select(func.count()).select_from(AuditLog).where(AuditLog.action == "notice_publish")).one(),
        )


def titles(actor: Actor) -> list[str]:
    return [row.title for row in notices.list_notices(actor).rows]


def test_a_province_notice_reaches_every_level_below_in_the_province_and_no_one_else(
    actors: dict[str, Actor],
) -> None:
    hubei = another_province()
    notice_id = notices.publish_notice(actors["sysadmin"], "全省通知", "请各地做好准备。")
    with db.session_scope() as session:
        row = session.get(Notice, notice_id)
        assert row is not None
        assert (row.level, row.region_code, row.region_name) == ("province", "410000", "河南省")
        assert (row.province_code, row.city_code, row.county_code) == ("41", None, None)
    for name in ("city", "county", "township", "clerk"):
        assert titles(actors[name]) == ["全省通知"], name
        assert notices.unread_count(actors[name]) == 1
    # Not the province's own accounts (the leader sees it among the bureau's sent notices only)...
    for name in ("province", "sysadmin", "secadmin", "auditor"):
        assert titles(actors[name]) == [], name
    assert [r.title for r in notices.list_sent(actors["province"]).rows] == ["全省通知"]
    # ...and not another province.
    assert titles(hubei["city"]) == [] and titles(hubei["clerk"]) == []
    with pytest.raises(NotFound):
        notices.open_notice(hubei["clerk"], notice_id)
    with pytest.raises(NotFound):  # an account of the province that is not its publishing bureau
        notices.open_notice(actors["secadmin"], notice_id)


def test_a_county_notice_reaches_its_townships_and_institutions_only(actors: dict[str, Actor]) -> None:
    other_clerk = clerk_of("4101020001")  # 中原区, the same city
    notices.publish_notice(actors["county"], "县内通知", "正文")
    assert titles(actors["clerk"]) == ["县内通知"] and titles(actors["township"]) == ["县内通知"]
    for actor in (other_clerk, actors["city"], actors["province"], actors["county"]):
        assert titles(actor) == []
    # A city notice reaches the city's counties and kindergartens, not another city's.
    kaifeng_clerk = clerk_of("4102250001")  # 兰考县, 开封市
    notices.publish_notice(actors["city"], "市内通知", "正文")
    assert "市内通知" in titles(actors["county"]) and "市内通知" in titles(other_clerk)
    assert titles(kaifeng_clerk) == [] and titles(actors["province"]) == []
    with db.session_scope() as session:
        row = session.exec(select(Notice).where(Notice.title == "县内通知")).one()
        assert (row.province_code, row.city_code, row.county_code) == ("41", "410100", "410122")


def test_only_a_bureaus_leaders_reviewers_and_administrators_publish(actors: dict[str, Actor]) -> None:
    for name in ("clerk", "township", "secadmin", "auditor"):
        with pytest.raises(PermissionDenied):
            notices.publish_notice(actors[name], "标题", "正文")
    assert counts() == (0, 0, 0)


def test_unread_first_then_newest_first_and_the_pages_follow_that_order(actors: dict[str, Actor]) -> None:
    province, county, clerk = actors["province"], actors["county"], actors["clerk"]
    notices.publish_notice(province, "一", "正文", now=T0)
    second = notices.publish_notice(county, "二", "正文", now=T0 + timedelta(days=1))
    notices.publish_notice(province, "三", "正文", now=T0 + timedelta(days=2))
    fourth = notices.publish_notice(county, "四", "正文", now=T0 + timedelta(days=3))
    notices.open_notice(clerk, fourth)
    notices.open_notice(clerk, second)
    page = notices.list_notices(clerk)
    assert [r.title for r in page.rows] == ["三", "一", "四", "二"]
    assert [r.unread for r in page.rows] == [True, True, False, False]
    assert (page.total, page.unread, notices.unread_count(clerk)) == (4, 2, 2)
    walked: list[str] = []
    cursor = None
    while True:
        one = notices.list_notices(clerk, cursor=cursor, limit=1)
        walked += [r.title for r in one.rows]
        if one.next_cursor is None:
            break
        cursor = one.next_cursor
    assert walked == ["三", "一", "四", "二"]


def test_read_receipts_keep_the_first_reading_and_count_per_level(actors: dict[str, Actor]) -> None:
    province, clerk, township = actors["province"], actors["clerk"], actors["township"]
    notice_id = notices.publish_notice(province, "请阅", "正文", now=T0)
    first = notices.open_notice(clerk, notice_id, now=T0 + timedelta(hours=1))
    again = notices.open_notice(clerk, notice_id, now=T0 + timedelta(hours=5))
    assert first.read_at == again.read_at == T0 + timedelta(hours=1) and again.addressed
    with db.session_scope() as session:
        receipts = session.exec(select(NoticeRead).where(NoticeRead.notice_id == notice_id)).all()
        assert [(r.user_id, r.read_at) for r in receipts] == [(clerk.user_id, T0 + timedelta(hours=1))]
        reads = session.exec(select(func.count()).select_from(AuditLog).where(AuditLog.action == "notice_read")).one()
        assert reads == 1
    notices.open_notice(township, notice_id)
    # The sender's bureau opening it is no receipt.
    assert not notices.open_notice(province, notice_id).addressed

    with db.session_scope() as session:

        def users(level: str) -> int:
            return session.exec(
                select(func.count()).select_from(User).where(User.province_code == "41", User.level == level)
            ).one()

        expected = {level: users(level) for level in ("city", "county", "township", "institution")}
    summary = notices.receipt_summary(province, notice_id)
    assert {c.level: (c.addressed, c.read) for c in summary.levels} == {
        "city": (expected["city"], 0),
        "county": (expected["county"], 0),
        "township": (expected["township"], 1),
        "institution": (expected["institution"], 1),
    }
    assert [c.label for c in summary.levels] == ["地市级", "县级", "乡镇中心园", "幼儿园"]
    assert (summary.read, summary.addressed) == (2, sum(expected.values()))
    assert notices.list_sent(province).rows[0].read == 2

    read = notices.receipt_people(province, notice_id, read=True)
    assert [(p.username, p.unit, p.role) for p in read.rows] == [
        ("demo-clerk", "中牟县官渡镇小庙王村幼儿园", "幼儿园数据填报员"),
        ("demo-township", "中牟县官渡镇中心幼儿园", "乡镇中心园审核员"),
    ]
    assert read.rows[0].read_at == T0 + timedelta(hours=1)
    not_yet = notices.receipt_people(province, notice_id, read=False, level="county")
    assert "demo-county" in [p.username for p in not_yet.rows]
    assert next(p for p in not_yet.rows if p.username == "demo-county").unit == "河南省郑州市中牟县"
    assert not_yet.total == expected["county"]
    # Keyset pages of one name each cover the whole list once.
    names, after = [], None
    while True:
        page = notices.receipt_people(province, notice_id, read=False, after=after, limit=1)
        names += [p.username for p in page.rows]
        if page.next_after is None:
            break
        after = page.next_after
    assert len(names) == len(set(names)) == summary.addressed - 2 and "demo-clerk" not in names

    # A disabled account is no longer counted among the addressed.
    with db.session_scope(write=True) as session:
        user = session.exec(select(User).where(User.username == "demo-county")).one()
        user.is_active = False
        session.add(user)
    assert notices.receipt_summary(province, notice_id).addressed == summary.addressed - 1
    # The receipts belong to the publishing bureau only.
    for name in ("city", "clerk", "secadmin"):
        with pytest.raises((NotFound, PermissionDenied)):
            notices.receipt_summary(actors[name], notice_id)


def test_attachments_are_downloaded_in_scope_only_and_a_withdrawn_notice_disappears(
    actors: dict[str, Actor],
) -> None:
    hubei = another_province()
    notice_id = notices.publish_notice(
        actors["province"], "附件通知", "见附件", [("安排.pdf", PDF), ("名单.xlsx", workbook()), ("图", PNG)]
    )
    view = notices.open_notice(actors["clerk"], notice_id)
    assert [(a.filename, a.content_type) for a in view.attachments] == [
        ("安排.pdf", "application/pdf"),
        ("名单.xlsx", notices.XLSX),
        ("图.png", "image/png"),  # a name without extension gets the content's
    ]
    pdf = view.attachments[0]
    assert notices.read_attachment(actors["clerk"], pdf.id).data == PDF
    assert notices.read_attachment(actors["province"], pdf.id).data == PDF  # the sending bureau
    for outsider in (hubei["clerk"], actors["secadmin"]):
        with pytest.raises(NotFound):
            notices.read_attachment(outsider, pdf.id)
    with db.session_scope() as session:
        downloads = session.exec(
            select(AuditLog).where(AuditLog.action == "notice_download").order_by(col(AuditLog.id))
        ).all()
        assert [d.username for d in downloads] == ["demo-clerk", "demo-province"]

    with pytest.raises(NotFound):  # only the publishing bureau withdraws
        notices.withdraw_notice(actors["city"], notice_id)
    notices.withdraw_notice(actors["province"], notice_id)
    assert titles(actors["clerk"]) == [] and notices.unread_count(actors["clerk"]) == 0
    with pytest.raises(NotFound):
        notices.read_attachment(actors["clerk"], pdf.id)
    with pytest.raises(NotFound):
        notices.open_notice(actors["clerk"], notice_id)
    assert notices.list_sent(actors["province"]).rows[0].withdrawn_at is not None
    with pytest.raises(ServiceError, match="已经撤回"):
        notices.withdraw_notice(actors["province"], notice_id)


def zip_bomb() -> bytes:
    """An .xlsx whose sheet unpacks to 50 MB of zeros from a few tens of kilobytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (50 * 1024 * 1024))
    return out.getvalue()


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return out.getvalue()


BAD_INPUTS = [
    ("empty title", "  ", "正文", [], "请填写通知标题"),
    ("empty body", "标题", "\n ", [], "请填写通知正文"),
    ("long title", "长" * 201, "正文", [], "不超过 200 个字"),
    ("bell in the title", "标题\x07", "正文", [], "控制字符（U\\+0007）"),
    ("too many files", "标题", "正文", [(f"{i}.pdf", PDF) for i in range(6)], "附件最多 5 个"),
    ("an exe named pdf", "标题", "正文", [("通知.pdf", b"MZ\x90\x00" + b"\x00" * 200)], "类型不支持"),
    ("a plain zip", "标题", "正文", [("材料.zip", plain_zip())], "类型不支持"),
    ("a pdf named exe", "标题", "正文", [("setup.exe", PDF)], "扩展名 .exe 与文件内容"),
    ("an empty file", "标题", "正文", [("空.pdf", b"")], "空文件"),
    ("a workbook with macros", "标题", "正文", [("宏.xlsx", workbook({"xl/vbaProject.bin": b"x"}))], "含有宏"),
    (
        "a workbook without its workbook part",
        "标题",
        "正文",
        [("坏.xlsx", archive({"[Content_Types].xml": "<Types/>", "xl/styles.xml": "<styleSheet/>"}))],
        "不是有效的",
    ),
]


def test_bad_input_is_refused_and_nothing_is_written(actors: dict[str, Actor]) -> None:
    good = ("好.pdf", PDF)  # a good file next to a bad one: not stored either
    for name, title, body, files, message in BAD_INPUTS:
        sent = [good, *files] if files and len(files) < notices.MAX_ATTACHMENTS else files
        with pytest.raises((ServiceError, ValidationError), match=message):
            notices.publish_notice(actors["province"], title, body, sent)
        assert counts() == (0, 0, 0) and stored_files() == [], name


def test_a_zip_bomb_and_an_oversize_file_are_refused(actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ServiceError, match="压缩炸弹"):
        notices.publish_notice(actors["province"], "标题", "正文", [("名单.xlsx", zip_bomb())])
    monkeypatch.setenv("PORTAL_NOTICE_ATTACHMENT_MAX_MB", "1")
    reset_settings_cache()
    with pytest.raises(ServiceError, match="超过 1 MB"):
        notices.publish_notice(actors["province"], "标题", "正文", [("大.pdf", PDF + b" " * (1024 * 1024))])
    assert counts() == (0, 0, 0) and stored_files() == []


def test_a_failure_after_the_files_are_written_leaves_none_on_disk(
    actors: dict[str, Actor], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        assert len(stored_files()) == 2  # written, then taken away below
        raise RuntimeError("the disk of the audit log is full")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):
        notices.publish_notice(actors["province"], "标题", "正文", [("a.pdf", PDF), ("b.png", PNG)])
    assert counts() == (0, 0, 0) and stored_files() == []


def test_the_demo_notices(actors: dict[str, Actor]) -> None:
    notices.seed_demo(TODAY)
    clerk_page = notices.list_notices(actors["clerk"])
    assert clerk_page.total == 3 and clerk_page.unread == 3
    assert sum(r.attachments for r in clerk_page.rows) == 1
    assert notices.list_notices(actors["city"]).unread == 1  # it read the first province notice
    sent = notices.list_sent(actors["province"]).rows
    assert len(sent) == 2 and sorted(r.read for r in sent) == [0, 2]
    with db.session_scope() as session:
        assert session.exec(select(func.count()).select_from(NoticeRead)).one() == 2
        assert session.exec(select(func.count(col(NoticeAttachment.id)))).one() == 1
    assert len(stored_files()) == 1
