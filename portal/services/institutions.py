"""Institutions, minimal: registering one and listing those in scope. The full registry (base
information, conditions, buildings, review) builds on this."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sqlmodel import col, func, select

from portal.auth.actor import Actor
from portal.auth.policy import Action, require, scope_filter
from portal.data import db
from portal.data.choices import INSTITUTION_KINDS, OWNERSHIPS, URBAN_RURAL_CLASSES
from portal.data.models import Institution, Region
from portal.data.text import text_problem
from portal.services import audit
from portal.services.errors import NotFound, ValidationError
from portal.services.inputs import search_term


@dataclass(frozen=True)
class InstitutionInput:
    code: str
    name: str
    kind: str
    ownership: str
    inclusive: bool
    urban_rural: str
    county_code: str
    township_code: str | None = None
    is_township_central: bool = False


def _validate(data: InstitutionInput) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not (len(data.code) == 10 and data.code.isascii() and data.code.isdigit()):
        errors["code"] = "机构标识码应为 10 位数字（半角）。"
    if not data.name.strip() or len(data.name.strip()) > 100:
        errors["name"] = "机构名称不能为空，且不超过 100 个字。"
    elif problem := text_problem(data.name.strip(), "机构名称"):
        errors["name"] = problem
    if data.kind not in INSTITUTION_KINDS:
        errors["kind"] = f"办学类型应为：{'、'.join(INSTITUTION_KINDS)}。"
    if data.ownership not in OWNERSHIPS:
        errors["ownership"] = "举办性质应为公办或民办。"
    if data.urban_rural not in URBAN_RURAL_CLASSES:
        errors["urban_rural"] = f"城乡分类应为：{'、'.join(URBAN_RURAL_CLASSES)}。"
    if not (len(data.county_code) == 6 and data.county_code.isascii() and data.county_code.isdigit()):
        errors["county_code"] = "所属县区代码应为 6 位数字。"
    if data.township_code and not (data.township_code.isascii() and data.township_code.isdigit()):
        errors["township_code"] = "乡镇代码应为 9 位数字。"
    if data.is_township_central and not data.township_code:
        errors["township_code"] = "乡镇中心园必须填写所在乡镇。"
    return errors


def register_institution(actor: Actor, data: InstitutionInput) -> Institution:
    """Register a new institution in a county (or a city-level unit without counties)."""
    errors = _validate(data)
    if errors:
        raise ValidationError(errors)
    with db.session_scope(write=True) as session:
        county = session.get(Region, data.county_code)
        if county is None or county.county_code != data.county_code:
            raise ValidationError({"county_code": f"所属县区代码 {data.county_code} 不是有效的县级区划。"})
        if data.township_code:
            township = session.get(Region, data.township_code)
            if township is None or township.level != "township" or township.parent_code != county.code:
                raise ValidationError({"township_code": f"乡镇代码 {data.township_code} 不属于{county.name}。"})
        if session.exec(select(Institution).where(Institution.code == data.code)).first():
            raise ValidationError({"code": f"机构标识码 {data.code} 已被使用。"})
        institution = Institution(
            code=data.code,
            name=data.name.strip(),
            kind=data.kind,
            ownership=data.ownership,
            inclusive=data.inclusive,
            urban_rural=data.urban_rural,
            is_township_central=data.is_township_central,
            province_code=county.province_code,
            city_code=county.city_code or county.code,
            county_code=county.code,
            township_code=data.township_code,
        )
        require(actor, Action.REGISTER_INSTITUTION, institution)
        session.add(institution)
        session.flush()
        audit.record(
            session,
            actor,
            "institution_create",
            object_type="institution",
            object_id=institution.id or "",
            after=asdict(data),
        )
    return institution


def get_institution(actor: Actor, institution_id: int) -> Institution:
    with db.session_scope() as session:
        institution = session.get(Institution, institution_id)
        if institution is None:
            raise NotFound("机构不存在。")
        require(actor, Action.VIEW_INSTITUTION, institution)
        return institution


@dataclass(frozen=True)
class InstitutionRow:
    id: int
    code: str
    name: str
    kind: str
    ownership: str
    inclusive: bool
    urban_rural: str
    is_township_central: bool
    county_name: str
    township_name: str


@dataclass(frozen=True)
class InstitutionPage:
    rows: Sequence[InstitutionRow]
    total: int
    next_after: str | None  # the last code of this page: pass as ``after_code`` for the next


def list_institutions(
    actor: Actor,
    *,
    county_code: str | None = None,
    kind: str | None = None,
    search: str | None = None,
    after_code: str | None = None,
    limit: int = 50,
) -> InstitutionPage:
    """The institutions in the actor's scope, ordered by code, keyset-paged."""
    require(actor, Action.VIEW_INSTITUTION)
    conditions = [scope_filter(actor, Institution)]
    if county_code:
        conditions.append(col(Institution.county_code) == county_code)
    if kind:
        conditions.append(col(Institution.kind) == kind)
    term = search_term(search)
    if term:
        conditions.append(
            col(Institution.name).contains(term, autoescape=True)
            | col(Institution.code).startswith(term, autoescape=True)
        )
    with db.session_scope() as session:
        total = session.exec(select(func.count()).select_from(Institution).where(*conditions)).one()
        query = select(Institution).where(*conditions)
        if after_code:
            query = query.where(col(Institution.code) > after_code)
        found = session.exec(query.order_by(col(Institution.code)).limit(limit + 1)).all()
        page = found[:limit]
        codes = {i.county_code for i in page} | {i.township_code for i in page if i.township_code}
        names = {r.code: r.name for r in session.exec(select(Region).where(col(Region.code).in_(codes))).all()}
        rows = [
            InstitutionRow(
                id=i.id or 0,
                code=i.code,
                name=i.name,
                kind=i.kind,
                ownership=i.ownership,
                inclusive=i.inclusive,
                urban_rural=i.urban_rural,
                is_township_central=i.is_township_central,
                county_name=names.get(i.county_code, i.county_code),
                township_name=names.get(i.township_code or "", ""),
            )
            for i in page
        ]
    next_after = page[-1].code if len(found) > limit and page else None
    return InstitutionPage(rows=rows, total=total, next_after=next_after)
