"""The home pages' figures, per role and scope."""

from __future__ import annotations

from portal.auth.actor import Actor
from portal.services.overview import overview


def test_province_sees_its_18_city_level_units(actors: dict[str, Actor]) -> None:
    summary = overview(actors["province"])
    assert summary.scope == "河南省" and summary.institutions == 13 and summary.users == 11
    assert summary.sub_level_label == "地市" and len(summary.sub_regions) == 18
    by_name = {r.name: r for r in summary.sub_regions}
    assert by_name["郑州市"].institutions == 9 and by_name["郑州市"].township_central == 2
    assert by_name["济源市"].institutions == 1 and by_name["商丘市"].institutions == 0
    assert summary.institutions_by_kind == {"独立设置幼儿园": 11, "附设幼儿班": 1, "学前班": 1}


def test_city_sees_its_counties(actors: dict[str, Actor]) -> None:
    summary = overview(actors["city"])
    by_name = {r.name: r.institutions for r in summary.sub_regions}
    assert by_name["中牟县"] == 5 and by_name["中原区"] == 2 and by_name["金水区"] == 2
    assert sum(by_name.values()) == summary.institutions == 9


def test_county_sees_its_townships(actors: dict[str, Actor]) -> None:
    summary = overview(actors["county"])
    assert [(r.name, r.institutions) for r in summary.sub_regions] == [
        ("城关镇", 1),
        ("官渡镇", 3),
        ("狼城岗镇", 1),
        ("刘集镇", 0),
    ]
    assert summary.users == 4  # the county reviewer, the township, the clerk and the kindergarten reviewer


def test_clerk_sees_their_institution(actors: dict[str, Actor]) -> None:
    summary = overview(actors["clerk"])
    assert summary.institution is not None and summary.institution.name == "中牟县官渡镇小庙王村幼儿园"
    assert summary.institutions == 1 and summary.sub_regions == []


def test_admin_figures(actors: dict[str, Actor]) -> None:
    assert overview(actors["secadmin"]).active_locks == 0
    assert (overview(actors["auditor"]).audit_last_24h or 0) > 0
    assert overview(actors["sysadmin"]).audit_last_24h is None
