"""The deadline-peak load script (R8.2), short and bounded, on SQLite and PostgreSQL: no save that
returned success is missing, none that failed is present, no request is approved twice."""

from __future__ import annotations

from portal.benchmarks.load import LoadReport, classify, run_load
from portal.services.errors import DatabaseBusyError, ServiceError
from tests.conftest import TEST_DATABASE_URL, skip_or_fail


def _check(report: LoadReport) -> None:
    assert report.lost_saves == 0
    assert report.phantom_saves == 0
    assert report.lost_submits == 0
    assert report.phantom_submits == 0
    assert report.double_approvals == 0
    assert report.approvals_unmatched == 0
    assert report.counter_drift == 0
    assert report.consistent
    by_name = {o.operation: o for o in report.operations}
    assert by_name["save"].ok > 0 and by_name["approve"].ok > 0  # both kinds of session did work


def test_load_on_sqlite_loses_nothing() -> None:
    report = run_load(sessions=6, seconds=4, echo=lambda _line: None)
    _check(report)
    assert report.database == "SQLite"
    assert report.unexpected == []


def test_sqlite_busy_is_a_clear_refusal_and_loses_nothing() -> None:
    # A busy timeout far below the write transactions' length: writers are turned away with
    # "数据库正忙，请稍后重试" (DatabaseBusyError) and what they were told holds in the database.
    report = run_load(sessions=6, seconds=3, busy_timeout_ms=1, echo=lambda _line: None)
    assert report.lost_saves == report.phantom_saves == 0
    assert report.lost_submits == report.phantom_submits == 0
    assert report.double_approvals == report.approvals_unmatched == 0
    assert report.unexpected == []
    assert report.busy > 0
    assert report.consistent


def test_load_on_postgresql_no_double_approval_no_deadlock() -> None:
    if not TEST_DATABASE_URL:
        skip_or_fail("TEST_DATABASE_URL is not set")
    lines: list[str] = []
    report = run_load(sessions=6, seconds=5, database_url=TEST_DATABASE_URL, echo=lines.append)
    _check(report)
    assert report.database == "PostgreSQL"
    assert report.deadlocks == 0
    # Concurrent writes to one institution's counters wait for each other (the counter row is
    # updated in place under its lock): no unique violation, no unexpected error.
    assert all("unique_violation" not in o.errors for o in report.operations)
    assert all("unexpected" not in o.errors for o in report.operations)
    assert any(line.startswith("throughput:") for line in lines)
    assert any("not the websocket" in line for line in lines)


def test_classify_kinds() -> None:
    assert classify(DatabaseBusyError("数据库正忙，请稍后重试。")) == "busy"
    assert classify(ServiceError("该申请已被其他审核人处理，请刷新后查看。")) == "conflict"
    assert classify(ServiceError("驳回必须填写理由。")) == "refused"
    assert classify(RuntimeError("boom")) == "unexpected"


def test_load_command_prints_the_table() -> None:
    from typer.testing import CliRunner

    from portal.__main__ import app

    result = CliRunner().invoke(app, ["load", "--sessions", "2", "--seconds", "1", "--max-ops", "5"])
    assert result.exit_code == 0, result.output
    for marker in ("throughput:", "save", "approve", "lost saves 0", "double approvals 0", "consistent: yes"):
        assert marker in result.output
