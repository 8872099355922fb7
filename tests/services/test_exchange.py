"""The ministry exchange (R8.5): a province's signed package, the national import with its
refusals (tampered, replayed, unknown province, wrong version), the national dashboard and the
cross-province duplicates reported back as problem records."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, func, select
from typer.testing import CliRunner

from portal.__main__ import app
from portal.auth.actor import SYSTEM_ACTOR, Actor
from portal.auth.roles import Level
from portal.data import db
from portal.data.models import (
    AuditLog,
    Child,
    ExchangeLog,
    ExchangeProgress,
    ExchangeRegister,
    Region,
    StatBaseline,
)
from portal.data.regions import cpca_regions
from portal.services import children, exchange, progress
from portal.services.errors import ServiceError
from portal.services.institutions import InstitutionInput, register_institution
from portal.settings import reset_settings_cache
from tests.factories import TODAY, child_values, clerk_of, resident_id, reviewer_of, with_class

KEYS = {"41": "henan-exchange-key-" + "a" * 32, "13": "hebei-exchange-key-" + "b" * 32}
ID_KEY = "national-identifier-key-" + "c" * 32
# Each deployment has its own encryption key (so its student numbers' keyed hashes differ too).
ENCRYPTION_KEYS = {"41": "test-encryption-key-" + "y" * 32, "13": "hebei-encryption-key-" + "d" * 32}
SHARED = resident_id("130102", sequence=7)  # the child numbered in both provinces
HENAN_ONLY = resident_id(sequence=3)


class Deployment:
    """Switch the settings between the two provinces and the ministry, as separate deployments
    would have them (the test keeps every side in one database)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("PORTAL_EXCHANGE_ID_KEY", ID_KEY)

    def province(self, code: str) -> None:
        self.monkeypatch.setenv("PORTAL_DEPLOYMENT", "province")
        self.monkeypatch.setenv("PORTAL_PROVINCE_CODE", code)
        self.monkeypatch.setenv("PORTAL_EXCHANGE_KEY", KEYS[code])
        self.monkeypatch.setenv("PORTAL_ENCRYPTION_KEY", ENCRYPTION_KEYS[code])
        reset_settings_cache()

    def national(self, keys: dict[str, str] | None = None) -> None:
        self.monkeypatch.setenv("PORTAL_DEPLOYMENT", "national")
        self.monkeypatch.setenv("PORTAL_EXCHANGE_KEYS", json.dumps(KEYS if keys is None else keys))
        self.monkeypatch.delenv("PORTAL_EXCHANGE_KEY", raising=False)
        reset_settings_cache()


def _institution(code: str, county: str, name: str) -> None:
    register_institution(SYSTEM_ACTOR, InstitutionInput(code, name, "独立设置幼儿园", "公办", True, "主城区", county))


def _numbered(clerk: Actor, reviewer: Actor, *documents: str) -> list[int]:
    ids = []
    for sequence, number in enumerate(documents, start=1):
        values = child_values(name=f"张{'甲乙丙丁'[sequence - 1]}", document_number=number)
        values["birth_date"] = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
        ids.append(children.save_child(clerk, values, today=TODAY).child_id)
    children.submit_children(clerk, today=TODAY)
    from portal.services import workflow

    page = workflow.queue(reviewer, kind=children.KIND_CHILD, limit=50)
    outcomes = workflow.decide_many(reviewer, [r.id for r in page.rows], "approve")
    assert all(not message for _, message in outcomes), outcomes
    return ids


@pytest.fixture
def two_provinces(database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Deployment, dict[str, int]]]:
    """Henan (中牟县) and Hebei (石家庄市长安区), each with a kindergarten and numbered children; the
    same ID number is numbered in both."""
    with db.session_scope(write=True) as session:
        for rec in cpca_regions(["41", "13"]):
            session.add(Region(**rec.__dict__, source="cpca"))
            if rec.level != "county":
                session.flush()
        session.add(StatBaseline(county_code="410122", year=2026, province_code="41", city_code="410100", children=4))
    _institution("4101220001", "410122", "中牟县第一幼儿园")
    _institution("1301020001", "130102", "长安区第一幼儿园")
    deploy, refs = Deployment(monkeypatch), {}
    deploy.province("41")
    henan = clerk_of("4101220001")
    with_class(henan)
    refs["henan_shared"], refs["henan_only"] = _numbered(henan, reviewer_of(Level.COUNTY, "410122"), SHARED, HENAN_ONLY)
    deploy.province("13")
    hebei = clerk_of("1301020001")
    with_class(hebei)
    (refs["hebei_shared"],) = _numbered(hebei, reviewer_of(Level.COUNTY, "130102"), SHARED)
    yield deploy, refs


def _counts() -> tuple[int, int, int, int]:
    with db.session_scope() as session:
        return tuple(  # type: ignore[return-value]
            session.exec(select(func.count()).select_from(model)).one()
            for model in (ExchangeLog, ExchangeProgress, ExchangeRegister, AuditLog)
        )


def _export(deploy: Deployment, code: str) -> bytes:
    deploy.province(code)
    return exchange.export_package(SYSTEM_ACTOR).data


def test_round_trip_dashboard_and_duplicates_back_to_the_province(
    two_provinces: tuple[Deployment, dict[str, int]], tmp_path: Path
) -> None:
    deploy, refs = two_provinces
    deploy.province("41")
    henan_table = progress.operator_table("410000")
    henan = exchange.export_package(SYSTEM_ACTOR)
    assert henan.sequence == 1 and henan.children == 2
    envelope = json.loads(henan.data)
    assert envelope["province"] == "41" and envelope["version"] == exchange.FORMAT_VERSION
    assert envelope["sha256"] == hashlib.sha256(exchange._canonical(envelope["content"])).hexdigest()
    # Hashed identifiers only: no plain ID or student number, no name in the package.
    for secret in (SHARED, HENAN_ONLY, "G" + SHARED, "张甲", "张乙"):
        assert secret.encode() not in henan.data
    register = envelope["content"]["register"]
    assert {e["ref"] for e in register} == {refs["henan_shared"], refs["henan_only"]}
    expected = hmac.new(ID_KEY.encode(), f"document|居民身份证|{SHARED}".encode(), hashlib.sha256).hexdigest()
    assert expected in {e["h"] for e in register}
    deploy.province("13")
    hebei_table = progress.operator_table("130000")
    result = CliRunner().invoke(app, ["exchange", "export", str(tmp_path / "13.json")])
    assert result.exit_code == 0, result.output
    assert "exchange package 1 of province 13" in result.output and "1 hashed register entries" in result.output

    # The ministry imports both at the command line.
    deploy.national()
    (tmp_path / "41.json").write_bytes(henan.data)
    result = CliRunner().invoke(app, ["exchange", "import", str(tmp_path / "41.json"), str(tmp_path / "13.json")])
    assert result.exit_code == 0, result.output
    assert "河南省（41）第 1 号已导入，学籍登记 2 条，与外省重复 0 名" in result.output
    assert "河北省（13）第 1 号已导入，学籍登记 1 条，与外省重复 1 名" in result.output

    # The national dashboard shows each province's own figures.
    board = exchange.national_dashboard(SYSTEM_ACTOR)
    by_code = {r.province_code: r for r in board.rows}
    for code, table in (("41", henan_table), ("13", hebei_table)):
        row, total = by_code[code], table.total
        assert (row.institutions, row.reported, row.reviewed, row.numbered, row.baseline) == (
            total.institutions,
            total.reported,
            total.reviewed,
            total.numbered,
            total.baseline,
        )
        assert row.reported_pct == total.reported_pct and row.numbered_pct == total.numbered_pct
        assert row.duplicates == 1 and row.sequence == 1
    assert (by_code["41"].numbered, by_code["13"].numbered) == (2, 1)
    assert by_code["41"].numbered_pct == 50.0 and by_code["13"].numbered_pct is None
    assert board.total.numbered == 3 and len(board.log) == 2
    with db.session_scope() as session:
        cities = session.exec(
            select(func.count()).select_from(ExchangeProgress).where(ExchangeProgress.level == "city")
        ).one()
        assert cities == len(henan_table.rows) + len(hebei_table.rows)

    # Both provinces' reports list their child and the other province.
    report_41 = exchange.duplicates_report(SYSTEM_ACTOR, "41")
    report_13 = exchange.duplicates_report(SYSTEM_ACTOR, "13")
    assert json.loads(report_41.data)["content"]["entries"] == [
        {"ref": refs["henan_shared"], "other_provinces": ["13"]}
    ]
    assert json.loads(report_13.data)["content"]["entries"] == [
        {"ref": refs["hebei_shared"], "other_provinces": ["41"]}
    ]
    result = CliRunner().invoke(app, ["exchange", "duplicates", "--province", "41", str(tmp_path / "r41.json")])
    assert result.exit_code == 0, result.output
    assert "duplicates report 2 for province 41: 1 children" in result.output

    # Henan imports its report: the child becomes a problem record its kindergarten sees.
    deploy.province("41")
    with pytest.raises(ServiceError, match="发给其他省份（代码 13）"):
        exchange.import_duplicates(SYSTEM_ACTOR, report_13.data)
    result = CliRunner().invoke(app, ["exchange", "import-duplicates", str(tmp_path / "r41.json")])
    assert result.exit_code == 0, result.output
    assert "1 listed, 1 now problem records, 0 skipped" in result.output
    clerk = clerk_of("4101220001")
    page = children.list_children(clerk, state="problem")
    assert [r.id for r in page.rows] == [refs["henan_shared"]]
    assert page.rows[0].return_reason == "与外省（河北省）学籍重复（全国查重）"
    county_page = children.list_children(reviewer_of(Level.COUNTY, "410122"), state="problem")
    assert [r.id for r in county_page.rows] == [refs["henan_shared"]]
    assert [r.id for r in exchange.national_problems(clerk)] == [refs["henan_shared"]]
    assert [r.id for r in exchange.national_problems(reviewer_of(Level.COUNTY, "410122"))] == [refs["henan_shared"]]
    with db.session_scope() as session:
        child = session.get(Child, refs["henan_shared"])
        assert child is not None and child.student_number_hash  # the number is kept
        other = session.get(Child, refs["henan_only"])
        assert other is not None and other.state == "approved"
    assert progress.operator_table("410000").total.numbered == 1  # the problem record is no longer counted
    # The same report again, or an older one, is refused and changes nothing.
    before = _counts()
    result = CliRunner().invoke(app, ["exchange", "import-duplicates", str(tmp_path / "r41.json")])
    assert result.exit_code == 1 and "已经导入过" in result.output
    with pytest.raises(ServiceError, match="序号 1 不大于已导入的最新序号 2"):
        exchange.import_duplicates(SYSTEM_ACTOR, report_41.data)
    assert _counts() == before
    # Corrected and submitted again, the county approves it with the same number.
    children.submit_children(clerk, [refs["henan_shared"]], today=TODAY)
    from portal.services import workflow

    reviewer = reviewer_of(Level.COUNTY, "410122")
    page = workflow.queue(reviewer, kind=children.KIND_CHILD, limit=50)
    workflow.decide_many(reviewer, [r.id for r in page.rows], "approve")
    with db.session_scope() as session:
        child = session.get(Child, refs["henan_shared"])
        assert child is not None and child.state == "approved"
        assert children.number_of(child) == "G" + SHARED


def test_tampered_unknown_wrong_version_and_replayed_packages_are_refused(
    two_provinces: tuple[Deployment, dict[str, int]],
) -> None:
    deploy, _ = two_provinces
    first = _export(deploy, "41")
    second = _export(deploy, "41")
    assert json.loads(second)["sequence"] == 2
    hebei = _export(deploy, "13")
    deploy.national()
    before = _counts()
    # Any byte changed: refused, nothing written (a sample of positions across the file).
    for position in [*range(0, len(first), max(1, len(first) // 40)), len(first) - 2]:
        changed = bytearray(first)
        changed[position] ^= 0x01
        with pytest.raises(ServiceError, match="未导入任何数据"):
            exchange.import_package(SYSTEM_ACTOR, bytes(changed))
    # A changed figure with a recomputed checksum still fails the signature.
    envelope = json.loads(first)
    envelope["content"]["progress"][0]["numbered"] += 1000
    envelope["sha256"] = hashlib.sha256(exchange._canonical(envelope["content"])).hexdigest()
    with pytest.raises(ServiceError, match="签名校验失败"):
        exchange.import_package(SYSTEM_ACTOR, exchange._canonical(envelope))
    # Another format version, signed correctly, is refused for its version.
    envelope = json.loads(first)
    envelope.pop("signature")
    envelope["version"] = 2
    envelope["signature"] = hmac.new(KEYS["41"].encode(), exchange._canonical(envelope), hashlib.sha256).hexdigest()
    with pytest.raises(ServiceError, match="格式版本（2）不受支持"):
        exchange.import_package(SYSTEM_ACTOR, exchange._canonical(envelope))
    with pytest.raises(ServiceError, match="无法读取"):
        exchange.import_package(SYSTEM_ACTOR, b"\xff\xfe not json")
    assert _counts() == before
    # An unknown province (no key here) is refused.
    deploy.national({"41": KEYS["41"]})
    with pytest.raises(ServiceError, match="未知的省份（代码 13）"):
        exchange.import_package(SYSTEM_ACTOR, hebei)
    # A package signed with another province's key is refused.
    deploy.national({"41": KEYS["41"], "13": KEYS["41"]})
    with pytest.raises(ServiceError, match="签名校验失败"):
        exchange.import_package(SYSTEM_ACTOR, hebei)
    assert _counts() == before
    # Replay: the newer package, then the same again and the older one are refused.
    deploy.national()
    assert exchange.import_package(SYSTEM_ACTOR, second).sequence == 2
    after = _counts()
    with pytest.raises(ServiceError, match="已经导入过"):
        exchange.import_package(SYSTEM_ACTOR, second)
    with pytest.raises(ServiceError, match="序号 1 不大于已导入的最新序号 2"):
        exchange.import_package(SYSTEM_ACTOR, first)
    assert _counts() == after
    with db.session_scope() as session:
        assert session.exec(select(ExchangeLog.sequence).where(ExchangeLog.direction == "import")).all() == [2]


def test_keys_and_deployments_are_checked(two_provinces: tuple[Deployment, dict[str, int]]) -> None:
    deploy, _ = two_provinces
    deploy.province("41")
    deploy.monkeypatch.setenv("PORTAL_EXCHANGE_KEY", "short")
    reset_settings_cache()
    with pytest.raises(ServiceError, match="PORTAL_EXCHANGE_KEY 未设置或太短"):
        exchange.export_package(SYSTEM_ACTOR)
    deploy.province("41")
    deploy.monkeypatch.setenv("PORTAL_EXCHANGE_ID_KEY", "test-encryption-key-" + "y" * 32)  # the encryption key
    reset_settings_cache()
    with pytest.raises(ServiceError, match="不能与本系统的加密密钥"):
        exchange.export_package(SYSTEM_ACTOR)
    deploy.monkeypatch.setenv("PORTAL_EXCHANGE_ID_KEY", ID_KEY)
    reset_settings_cache()
    with pytest.raises(ServiceError, match="只在教育部的全国部署"):
        exchange.import_package(SYSTEM_ACTOR, b"{}")
    with pytest.raises(ServiceError, match="只能由本省的系统管理员或领导"):
        exchange.export_package(clerk_of("4101220001"))
    deploy.national({"41": "short"})
    with pytest.raises(ServiceError, match="省份 41 的密钥 未设置或太短"):
        exchange.import_package(SYSTEM_ACTOR, b"{}")
    with pytest.raises(ServiceError, match="只有省级部署"):
        exchange.export_package(SYSTEM_ACTOR)
    with db.session_scope() as session:
        assert session.exec(select(func.count()).select_from(ExchangeLog)).one() == 0
        assert not session.exec(select(AuditLog).where(col(AuditLog.action).like("exchange%"))).all()


def test_hashed_identifiers_normalise_and_depend_on_the_key(portal_env: None) -> None:
    from datetime import date

    key, other_key = ID_KEY.encode(), ("another-national-key-" + "e" * 32).encode()
    person = {"document_type": "无证件", "id_cipher": None, "gender": "女", "birth_date": date(2022, 5, 1)}
    first = exchange.hashed_identity(key, name="阿依·古丽", **person)  # type: ignore[arg-type]
    again = exchange.hashed_identity(key, name=" 阿依・古丽 ", **person)  # type: ignore[arg-type]
    assert first == again and first[0] == "person" and len(first[1]) == 64
    assert exchange.hashed_identity(other_key, name="阿依·古丽", **person) != first  # type: ignore[arg-type]
    assert exchange.hashed_identity(key, name="阿依·古丽", **{**person, "gender": "男"}) != first  # type: ignore[arg-type]
