"""Regions from the cpca package, and townships imported from CSV."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from portal.auth.actor import SYSTEM_ACTOR
from portal.data import db
from portal.data.models import AuditLog, Region
from portal.data.regions import cpca_regions
from portal.services.errors import PermissionDenied, ServiceError
from portal.services.regions import import_townships, load_official_regions
from tests.conftest import load_henan_regions


def test_henan_has_the_18_city_level_units_of_the_seed_table() -> None:
    henan = [r for r in cpca_regions(["41"]) if r.level == "city"]
    names = {r.name for r in henan}
    assert len(henan) == 18
    assert {"郑州市", "济源市", "商丘市", "信阳市"} <= names
    jiyuan = next(r for r in henan if r.name == "济源市")
    assert (jiyuan.code, jiyuan.parent_code, jiyuan.city_code, jiyuan.county_code) == (
        "419001",
        "410000",
        "419001",
        "419001",
    )


def test_counties_hang_under_their_city() -> None:
    zhongmou = next(r for r in cpca_regions(["41"]) if r.code == "410122")
    assert (zhongmou.name, zhongmou.level, zhongmou.parent_code, zhongmou.city_code) == (
        "中牟县",
        "county",
        "410100",
        "410100",
    )
    assert not [r for r in cpca_regions(["41"]) if r.name in ("市辖区", "省直辖县级行政区划")]


def test_municipalities_keep_a_city_level() -> None:
    beijing = [r for r in cpca_regions(["11"]) if r.level == "city"]
    assert [r.name for r in beijing] == ["北京市"]


def test_loading_the_whole_country_is_idempotent(database: str) -> None:
    first = load_official_regions(SYSTEM_ACTOR)
    assert first.added > 3000
    second = load_official_regions(SYSTEM_ACTOR)
    assert (second.added, second.updated) == (0, 0)
    with db.session_scope() as session:
        levels = dict(session.exec(select(Region.level, func.count()).group_by(Region.level)).all())
        assert levels["province"] == 34
        assert session.exec(select(func.count()).select_from(AuditLog)).one() == 2


TOWNSHIPS = "代码,名称\n410122101,官渡镇\n410122102,狼城岗镇\n"


def _townships() -> dict[str, str]:
    with db.session_scope() as session:
        return {r.code: r.name for r in session.exec(select(Region).where(Region.level == "township")).all()}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_townships_import_in_utf8_or_gbk(database: str, encoding: str) -> None:
    load_henan_regions()
    report = import_townships(SYSTEM_ACTOR, TOWNSHIPS.encode(encoding))
    assert report.ok and report.added == 2
    assert _townships() == {"410122101": "官渡镇", "410122102": "狼城岗镇"}
    with db.session_scope() as session:
        township = session.get(Region, "410122101")
        assert township is not None
        assert (township.parent_code, township.city_code, township.county_code) == ("410122", "410100", "410122")


def test_township_rename_on_second_import(database: str) -> None:
    load_henan_regions()
    import_townships(SYSTEM_ACTOR, TOWNSHIPS.encode())
    report = import_townships(SYSTEM_ACTOR, "code,name\n410122101000,官渡镇（新）\n".encode())
    assert (report.added, report.updated) == (0, 1)
    assert _townships()["410122101"] == "官渡镇（新）"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("代码,名称\n41012210,短代码镇\n", "应为 9 位数字"),
        ("代码,名称\n410122101,\n", "名称不能为空"),
        ("代码,名称\n410122101,甲镇\n410122101,乙镇\n", "重复"),
        ("代码,名称\n999999101,无县镇\n", "不存在"),
    ],
)
def test_a_bad_line_writes_nothing(database: str, content: str, message: str) -> None:
    load_henan_regions()
    report = import_townships(SYSTEM_ACTOR, (TOWNSHIPS + content.split("\n", 1)[1]).encode())
    assert not report.ok
    assert any(message in e for e in report.errors)
    assert _townships() == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "文件为空"), ("名字,地址\n1,2\n".encode(), "表头不正确"), (b"\xff\xfe\x00\x00bad", "编码")],
)
def test_unreadable_files_are_refused(database: str, content: bytes, message: str) -> None:
    load_henan_regions()
    with pytest.raises(ServiceError, match=message):
        import_townships(SYSTEM_ACTOR, content)


def test_only_provincial_system_administrators_import_townships(actors) -> None:  # type: ignore[no-untyped-def]
    for name in ("county", "city", "clerk", "secadmin", "auditor"):
        with pytest.raises(PermissionDenied):
            import_townships(actors[name], TOWNSHIPS.encode())
    assert import_townships(actors["sysadmin"], "代码,名称\n410122104,九龙镇\n".encode()).added == 1
