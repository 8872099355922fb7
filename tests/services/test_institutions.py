"""Registering institutions and listing them, scoped and keyset-paged."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.data import db
from portal.data.models import Institution
from portal.services.errors import PermissionDenied, ValidationError
from portal.services.institutions import InstitutionInput, list_institutions, register_institution

NEW = InstitutionInput(
    "4101220099", "中牟县刘集镇中心幼儿园", "独立设置幼儿园", "公办", True, "镇中心区", "410122", "410122103", True
)


def count() -> int:
    with db.session_scope() as session:
        return session.exec(select(func.count()).select_from(Institution)).one()


def test_register_fills_the_scope_columns(demo: str) -> None:
    institution = register_institution(SYSTEM_ACTOR, NEW)
    assert (institution.province_code, institution.city_code, institution.county_code) == ("41", "410100", "410122")
    assert institution.township_code == "410122103"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"code": "41012200"}, "code"),
        ({"code": "4101220001"}, "code"),
        ({"name": ""}, "name"),
        ({"kind": "托管班"}, "kind"),
        ({"ownership": "合资"}, "ownership"),
        ({"urban_rural": "城市"}, "urban_rural"),
        ({"county_code": "410100"}, "county_code"),
        ({"township_code": "410122999"}, "township_code"),
        ({"township_code": None}, "township_code"),
    ],
)
def test_bad_institutions_are_refused(demo: str, changes: dict, field: str) -> None:
    before = count()
    with pytest.raises(ValidationError) as caught:
        register_institution(SYSTEM_ACTOR, InstitutionInput(**{**NEW.__dict__, **changes}))
    assert field in caught.value.errors
    assert count() == before


def test_a_county_administrator_registers_only_in_their_county(actors: dict[str, Actor]) -> None:
    with pytest.raises(PermissionDenied):
        register_institution(actors["county"], NEW)  # a reviewer, not an administrator
    assert register_institution(actors["sysadmin"], NEW).id


def test_paging_filters_and_search(actors: dict[str, Actor]) -> None:
    province = actors["province"]
    seen: list[str] = []
    after = None
    while True:
        page = list_institutions(province, after_code=after, limit=5)
        assert page.total == 13
        seen += [r.code for r in page.rows]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == sorted(seen) and len(seen) == 13
    assert {r.code for r in list_institutions(province, kind="学前班").rows} == {"4102250002"}
    assert [r.name for r in list_institutions(province, search="伊河路").rows] == ["郑州市中原区伊河路幼儿园"]
    assert list_institutions(province, search="410225").total == 2
    row = list_institutions(province, search="小庙王").rows[0]
    assert (row.county_name, row.township_name) == ("中牟县", "官渡镇")
