"""Henan-scale demo data (issue 6, R8.1): ``python -m portal demo --scale henan`` / ``--scale 0.01``.

A 1% province is generated on SQLite and PostgreSQL, and its figures are counted here from the
rows, independently of the generator and of the counters: per city the rounded figures of 附件2,
the progress table agreeing with them, valid ID numbers and student numbers stored as the
application stores them, a workflow that runs on the generated rows, and counters equal to a fresh
count. The full province is checked without a database where that is possible (its plan, the
seed's own percentages)."""

from __future__ import annotations

import csv
import io
import json
import random
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import String, cast, func
from sqlalchemy.dialects import sqlite
from sqlmodel import col, select
from typer.testing import CliRunner

from portal.__main__ import app
from portal.auth.actor import SYSTEM_ACTOR
from portal.auth.passwords import verify_password
from portal.data import counters, crypto, db
from portal.data.choices import INSTITUTION_KINDS, OWNERSHIPS, URBAN_RURAL_CLASSES, DocumentType
from portal.data.fields import clean
from portal.data.henan_2017 import CITIES, TOTAL
from portal.data.institution_fields import BASE
from portal.data.models import (
    Child,
    Institution,
    InstitutionProgress,
    InstitutionRecord,
    Region,
    RegionProgress,
    Request,
    SchoolClass,
    StatBaseline,
    User,
)
from portal.services import children, henan, progress, registry, workflow
from portal.services.errors import ServiceError
from portal.services.identity import check_character, check_document
from portal.services.institutions import InstitutionInput, register_institution
from tests.conftest import DEMO_PASSWORD, actor_for, load_henan_regions
from tests.services.test_progress import fresh_counts, stored_counts

SCALE = Decimal("0.01")


def half_up(value: int, scale: Decimal = SCALE) -> int:
    """The notice's figure at the scale, rounded half up (computed here, not by the generator)."""
    return int(value * scale + Decimal("0.5"))


EXPECTED = {
    c.code: (
        c.name,
        half_up(c.institutions),
        half_up(c.reported),
        half_up(c.reviewed),
        half_up(c.baseline),
        half_up(c.numbered),
    )
    for c in CITIES
}


def pct(part: int, whole: int) -> str:
    return f"{Decimal(part * 100) / Decimal(whole):.2f}"


def counted_per_city() -> dict[str, tuple[int, int, int, int, int]]:
    """(institutions, reported, reviewed, baseline, numbered) per city, counted from the rows."""
    with db.session_scope() as session:
        institutions = dict(
            session.exec(select(Institution.city_code, func.count()).group_by(Institution.city_code)).all()  # type: ignore[call-overload]
        )
        reviewed = dict(
            session.exec(
                select(Institution.city_code, func.count())  # type: ignore[call-overload]
                .join(InstitutionRecord, col(InstitutionRecord.institution_id) == col(Institution.id))
                .where(InstitutionRecord.section == "base")
                .group_by(Institution.city_code)
            ).all()
        )
        reported = dict(
            session.exec(
                select(Institution.city_code, func.count(func.distinct(Institution.id)))  # type: ignore[call-overload]
                .join(Request, col(Request.subject_id) == cast(Institution.id, String).concat(":base"))
                .where(Request.subject_type == "institution_section", Request.state != "withdrawn")
                .group_by(Institution.city_code)
            ).all()
        )
        baseline = dict(
            session.exec(
                select(StatBaseline.city_code, func.sum(StatBaseline.children))  # type: ignore[call-overload]
                .where(StatBaseline.year == 2017)
                .group_by(StatBaseline.city_code)
            ).all()
        )
        numbered = dict(
            session.exec(
                select(Child.city_code, func.count()).where(Child.state == "approved").group_by(Child.city_code)  # type: ignore[call-overload]
            ).all()
        )
    return {
        code: (
            institutions.get(code, 0),
            reported.get(code, 0),
            reviewed.get(code, 0),
            int(baseline.get(code, 0)),
            numbered.get(code, 0),
        )
        for code in EXPECTED
    }


def assert_table_matches_the_rounded_seed() -> None:
    counted = counted_per_city()
    table = progress.operator_table("410000")
    assert table.baseline_year == 2017
    assert {r.code for r in table.rows} == set(EXPECTED)
    for row in table.rows:
        name, institutions, reported, reviewed, baseline, numbered = EXPECTED[row.code]
        assert counted[row.code] == (institutions, reported, reviewed, baseline, numbered), name
        assert row.name == name
        assert (row.institutions, row.reported, row.reviewed, row.baseline, row.numbered) == counted[row.code]
        assert f"{row.reported_pct:.2f}" == pct(reported, institutions)
        assert f"{row.reviewed_pct:.2f}" == pct(reviewed, institutions)
        assert f"{row.numbered_pct:.2f}" == pct(numbered, baseline)
    assert table.total.institutions == sum(e[1] for e in EXPECTED.values())
    assert table.total.numbered == sum(e[5] for e in EXPECTED.values())


# --- without a database ------------------------------------------------------------------------


def test_the_seed_table_is_consistent_and_its_percentages_are_the_tables_rounding() -> None:
    for field in ("institutions", "reported", "reviewed", "baseline", "numbered"):
        assert sum(getattr(c, field) for c in CITIES) == getattr(TOTAL, field)
    assert TOTAL.numbered == 2_545_962
    for city in CITIES:
        assert f"{progress.ratio(city.reported, city.institutions):.2f}%" == city.reported_pct, city.name
        assert f"{progress.ratio(city.reviewed, city.institutions):.2f}%" == city.reviewed_pct, city.name
        assert f"{progress.ratio(city.numbered, city.baseline):.2f}%" == city.numbered_pct, city.name
    assert f"{progress.ratio(TOTAL.reported, TOTAL.institutions):.2f}%" == TOTAL.reported_pct


def test_scales_and_rounding() -> None:
    assert henan.parse_scale("henan") == 1
    assert henan.parse_scale("0.01") == SCALE
    for wrong in ("0", "-0.1", "1.5", "abc", "nan"):
        with pytest.raises(ServiceError):
            henan.parse_scale(wrong)
    full = henan.city_targets(Decimal(1))
    assert [(t.code, t.institutions, t.reported, t.reviewed, t.baseline, t.numbered) for t in full] == [
        (c.code, c.institutions, c.reported, c.reviewed, c.baseline, c.numbered) for c in CITIES
    ]
    small = {
        t.code: (t.name, t.institutions, t.reported, t.reviewed, t.baseline, t.numbered)
        for t in henan.city_targets(SCALE)
    }
    assert small == EXPECTED
    tiny = henan.city_targets(Decimal("0.0001"))
    assert all(t.institutions >= 1 and t.reviewed <= t.reported <= t.institutions for t in tiny)
    assert henan.scaled(5, Decimal("0.1")) == 1  # half up, not to even
    assert sum(henan.apportion(1000, [0.3, 1.7, 1.0, 0.01])) == 1000
    assert henan.apportion(0, [1.0, 2.0]) == [0, 0]


def test_the_fast_paths_agree_with_the_application() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        body = "".join(str(rng.randrange(10)) for _ in range(17))
        assert henan._check_character(body) == check_character(body)
    dialect = sqlite.dialect()
    for column in Child.__table__.columns:  # type: ignore[attr-defined]
        theirs = column.type.dialect_impl(dialect).bind_processor(dialect)
        ours = henan._sqlite_processor(column.type)
        samples = {
            "Date": [date(2021, 2, 3), date(1999, 12, 31)],
            "UTCDateTime": [datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)],
            "Boolean": [True, False],
        }.get(type(column.type).__name__)
        if samples:
            assert [ours(v) for v in samples] == [theirs(v) for v in samples], column.name


# --- a 1% province in a database -----------------------------------------------------------------


def test_a_one_percent_province_matches_the_rounded_seed(database: str) -> None:
    load_henan_regions()
    lines: list[str] = []
    summary = henan.load_henan("0.01", password=DEMO_PASSWORD, workers=1, echo=lines.append)
    assert summary.cities == 18
    assert summary.institutions == sum(e[1] for e in EXPECTED.values())
    assert any("郑州市" in line for line in lines) and lines[0].startswith("plan:")

    assert_table_matches_the_rounded_seed()
    # The counters equal a fresh count, and the set-based rebuild gives what the one-at-a-time
    # refresh of every institution gives.
    assert stored_counts() == fresh_counts()
    rebuilt = stored_counts()
    with db.session_scope(write=True) as session:
        session.execute(RegionProgress.__table__.delete())  # type: ignore[attr-defined]
        session.execute(InstitutionProgress.__table__.delete())  # type: ignore[attr-defined]
        for institution_id in session.exec(select(Institution.id)).all():
            counters.refresh(session, institution_id or 0)
    assert stored_counts() == rebuilt
    with db.session_scope(write=True) as session:
        assert counters.rebuild(session) == summary.institutions
    assert stored_counts() == rebuilt

    check_institutions()
    check_children(summary)
    check_the_application_works_on_the_rows()


def check_institutions() -> None:
    with db.session_scope() as session:
        counties = {
            r.code: r.city_code
            for r in session.exec(select(Region).where(col(Region.level).in_(("county", "city")))).all()
        }
        institutions = session.exec(select(Institution)).all()
        per_county = Counter(i.county_code for i in institutions)
        records = session.exec(select(InstitutionRecord)).all()
        users = session.exec(select(User)).all()
        pending = session.exec(
            select(Request).where(Request.kind == registry.KIND_REPORT, Request.state == "pending")
        ).all()
    assert len({i.code for i in institutions}) == len(institutions)
    for institution in institutions:
        assert len(institution.code) == 10 and institution.code.isdigit()
        assert institution.code.startswith(institution.county_code)
        assert institution.kind in INSTITUTION_KINDS and institution.ownership in OWNERSHIPS
        assert institution.urban_rural in URBAN_RURAL_CLASSES
        assert counties[institution.county_code] == institution.city_code  # a real county of the city
        assert institution.name.endswith(("幼儿园", "幼儿班", "学前班"))
    assert per_county["419001"] == half_up(242)  # 济源 is its own county
    assert len(per_county) > 18  # spread over the counties, not one per city
    for record in records:
        data = json.loads(record.data)
        assert clean(BASE, data) == (data, {})  # stored as the registry stores a cleaned section
        assert record.filled_by and record.reviewed_by and record.request_id
    for request in pending:
        assert request.step_level == "county" and json.loads(request.route) == ["county_review"]
        assert request.subject_id.endswith(":base") and request.due_date is not None
    assert {u.username for u in users} >= {"demo-province", "demo-city-410100", "demo-county-410122"}
    assert sum(u.username.startswith("demo-clerk-") for u in users) == len(institutions)
    assert all(u.is_demo for u in users)
    province = next(u for u in users if u.username == "demo-province")
    assert verify_password(DEMO_PASSWORD, province.password_hash)


def check_children(summary: henan.HenanSummary) -> None:
    with db.session_scope() as session:
        rows = session.exec(select(Child)).all()
        classes = {c.id: c for c in session.exec(select(SchoolClass)).all()}
        pending = {
            r.subject_id: r for r in session.exec(select(Request).where(Request.kind == children.KIND_CHILD)).all()
        }
        known = children.known_region_lookup(session)
    states = Counter(c.state for c in rows)
    assert set(states) == {"approved", "saved", "submitted"}
    assert states["approved"] == sum(e[5] for e in EXPECTED.values()) == summary.numbered
    assert 0.01 < (states["saved"] + states["submitted"]) / states["approved"] < 0.1  # a few percent
    today = workflow.local_today()
    ids = set()
    for child in rows:
        number = crypto.decrypt(child.id_cipher or "", children.CTX_DOCUMENT)
        check = check_document(
            DocumentType.RESIDENT_ID, number, birth_date=child.birth_date, gender=child.gender, known_region=known
        )
        assert check.ok and not check.warnings, (number, check.errors, check.warnings)
        assert number[:6] == child.county_code
        assert 3 <= (today - child.birth_date).days // 365 <= 7
        assert child.id_hash == children.document_hash(DocumentType.RESIDENT_ID, number)
        assert child.identity_hash == children.identity_key(child.name, child.gender, child.birth_date.isoformat())
        phone = crypto.decrypt(child.guardian1_phone_cipher or "", children.CTX_PHONE)
        assert child.guardian1_phone_hash == crypto.lookup_hash(phone, children.CTX_PHONE)
        assert children.name_problem(child.name, False) is None and 2 <= len(child.name) <= 4
        school_class = classes[child.class_id]
        assert school_class.institution_id == child.institution_id
        ids.add(number)
        if child.state == "approved":
            assert child.student_number_kind == "G" and children.number_of(child) == "G" + number
            assert child.student_number_hash == crypto.lookup_hash("G" + number, children.CTX_STUDENT_NUMBER)
            assert child.numbered_at is not None and child.request_id is None
        else:
            assert child.student_number_hash is None
        if child.state == "submitted":
            request = pending[str(child.id)]
            assert child.request_id == request.id and request.state == "pending"
            assert request.institution_id == child.institution_id and request.step_level == "county"
            payload = json.loads(request.payload)
            assert payload == {"child_id": child.id, "values": children.form_values(child, school_class.name)}
            assert payload["values"]["document_number"] == crypto.mask(number)
    assert len(ids) == len(rows)  # every child a different person
    # The content hash is what the application computes for the record (the import's "unchanged").
    sample = rows[:: max(1, len(rows) // 200)]
    for child in sample:
        raw = children.form_values(child, classes[child.class_id].name)
        raw["document_number"] = crypto.decrypt(child.id_cipher or "", children.CTX_DOCUMENT)
        for prefix in ("guardian1", "guardian2"):
            raw[f"{prefix}_phone"] = children.decrypt_field(
                getattr(child, f"{prefix}_phone_cipher"), children.CTX_PHONE
            )
        raw["origin_number"] = None
        checked = children.check_child(raw, class_names=[classes[child.class_id].name], today=today, province_code="41")
        assert checked.ok, checked.errors
        assert child.content_hash == children.content_key(checked.values)


def check_the_application_works_on_the_rows() -> None:
    """The county approves a generated child (the duplicate check passes, a G number is issued)
    and a generated base report; a clerk of an unreported institution reports and enters a child:
    new ids come after the generated ones (PostgreSQL's sequences were moved on)."""
    with db.session_scope() as session:
        request = session.exec(
            select(Request)
            .where(Request.kind == children.KIND_CHILD, Request.state == "pending")
            .order_by(col(Request.id))
        ).first()
        report = session.exec(
            select(Request).where(Request.kind == registry.KIND_REPORT, Request.state == "pending")
        ).first()
        silent = session.exec(
            select(Institution).where(
                col(Institution.id).not_in(
                    select(InstitutionProgress.institution_id).where(InstitutionProgress.reported == 1)
                )
            )
        ).first()
    assert request is not None and report is not None and silent is not None
    reviewer = actor_for(f"demo-county-{request.county_code}")
    assert any(r.id == request.id for r in workflow.queue(reviewer, kind=children.KIND_CHILD, limit=10**6).rows)
    numbered_before = progress.operator_table("410000").total.numbered
    workflow.decide(reviewer, request.id or 0, "approve")
    with db.session_scope() as session:
        child = session.get(Child, int(request.subject_id))
        assert child is not None and child.state == "approved"
        assert children.number_of(child) == "G" + crypto.decrypt(child.id_cipher or "", children.CTX_DOCUMENT)
    assert progress.operator_table("410000").total.numbered == numbered_before + 1
    workflow.decide(actor_for(f"demo-county-{report.county_code}"), report.id or 0, "approve")
    with db.session_scope() as session:
        assert session.get(InstitutionRecord, (report.institution_id, "base")) is not None

    clerk = actor_for(f"demo-clerk-{silent.code}")
    values = {
        "address": "河南省测试路 1 号",
        "phone": "0371-66666666",
        "principal": "王老师",
        "license_no": "教民0001",
        "founded": "2010-09-01",
        "sponsor": "王老师",
        "authority": "民办",
    }
    submitted = registry.submit_section(clerk, "base", values)
    children.create_class(
        clerk, {"name": "新一班", "grade": "小班", "school_year": children.school_year_of(workflow.local_today())}
    )
    birth = date(workflow.local_today().year - 4, 3, 15)
    body = f"{silent.county_code}{birth:%Y%m%d}901"
    saved = children.save_child(
        clerk,
        {
            "name": "测试童",
            "gender": "男",
            "birth_date": birth.isoformat(),
            "document_type": "居民身份证",
            "document_number": body + check_character(body),
            "nationality": "中国",
            "ethnicity": "汉族",
            "address": "测试路 1 号",
            "guardian1_relation": "母亲",
            "guardian1_name": "王芳",
            "guardian1_phone": "13937131234",
            "enrolment_date": f"{birth.year + 3}-09-01",
            "class_name": "新一班",
        },
    )
    other = register_institution(
        SYSTEM_ACTOR,
        InstitutionInput("4101229999", "中牟县新建幼儿园", "独立设置幼儿园", "公办", True, "镇中心区", "410122"),
    )
    with db.session_scope() as session:
        assert (submitted.id or 0) > session.exec(select(func.max(Request.id)).where(Request.id != submitted.id)).one()
        assert saved.child_id > session.exec(select(func.max(Child.id)).where(Child.id != saved.child_id)).one()
        assert (other.id or 0) > session.exec(select(func.max(Institution.id)).where(Institution.id != other.id)).one()
    assert stored_counts() == fresh_counts()


def test_the_command_line_loads_a_small_province_and_the_table_agrees(database: str) -> None:
    load_henan_regions()
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--scale", "0.01", "--password", DEMO_PASSWORD])
    assert result.exit_code == 0, result.output
    assert "Henan demo loaded (scale 0.01)" in result.output
    assert "410100 郑州市" in result.output
    assert_table_matches_the_rounded_seed()
    shown = runner.invoke(app, ["progress", "--region", "410000", "--format", "csv"])
    assert shown.exit_code == 0, shown.output
    rows = {r[1] if r and r[0].isdigit() else r[0]: r for r in csv.reader(io.StringIO(shown.output)) if r}
    for name, institutions, reported, reviewed, baseline, numbered in EXPECTED.values():
        cells = [cell.rstrip("%") for cell in rows[name]]
        expected = [
            str(institutions),
            str(reported),
            pct(reported, institutions),
            str(reviewed),
            pct(reviewed, institutions),
            str(baseline),
            str(numbered),
            pct(numbered, baseline),
        ]
        assert cells[-len(expected) :] == expected, name
    # A second load into the now filled database is refused, and nothing changes.
    again = runner.invoke(app, ["demo", "--scale", "0.01", "--password", DEMO_PASSWORD])
    assert again.exit_code == 1
    assert "只能载入空数据库" in again.output
    assert_table_matches_the_rounded_seed()


def test_a_database_that_is_not_empty_is_refused(demo: str) -> None:
    with db.session_scope() as session:
        before = session.exec(select(func.count()).select_from(Institution)).one()
    with pytest.raises(ServiceError, match="只能载入空数据库"):
        henan.load_henan("0.01", password=DEMO_PASSWORD, workers=1)
    result = CliRunner().invoke(app, ["demo", "--scale", "0.001", "--password", DEMO_PASSWORD])
    assert result.exit_code == 1 and "只能载入空数据库" in result.output
    with db.session_scope() as session:
        assert session.exec(select(func.count()).select_from(Institution)).one() == before
        assert session.exec(select(func.count()).select_from(Child)).one() == 0
    bad = CliRunner().invoke(app, ["demo", "--scale", "2"])
    assert bad.exit_code == 1 and "比例" in bad.output


def test_the_full_province_is_planned_figure_for_figure(database: str) -> None:
    """The plan of the full scale (institutions, their states, the children per institution and
    the baseline per county) adds up to the notice in every city; no children are generated."""
    load_henan_regions()
    with db.session_scope() as session:
        plans = henan.plan_province(session, Decimal(1))
    for plan in plans:
        city = next(c for c in CITIES if c.code == plan.target.code)
        institutions = [i for county in plan.counties for i in county.institutions]
        assert len(institutions) == city.institutions
        assert sum(i.state != "none" for i in institutions) == city.reported
        assert sum(i.state == "reviewed" for i in institutions) == city.reviewed
        assert sum(i.numbered for i in institutions) == city.numbered
        assert all(i.numbered == 0 for i in institutions if i.state != "reviewed")
        assert sum(county.baseline for county in plan.counties) == city.baseline
        sizes = [i.numbered for i in institutions if i.numbered]
        assert 10 <= min(sizes) and max(sizes) <= 1000
        for institution in institutions:
            assert sum(c.children for c in institution.classes) == institution.children
            assert all(c.children <= c.capacity for c in institution.classes)
    assert sum(len(p.counties) for p in plans) == 159
