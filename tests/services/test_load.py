"""The deadline-peak load script (R8.2), short and bounded, on SQLite and PostgreSQL, with both
drivers (the service layer; AppTest sessions of the real pages): no save that returned success is
missing, none that failed is present, no request is approved twice."""

from __future__ import annotations

from types import SimpleNamespace

from portal.benchmarks.load import LoadReport, classify, run_load
from portal.benchmarks.load_pages import APPROVED, SAVED_MARK, page_outcome
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
    assert any(line.startswith("  driver: services:") for line in lines)


def test_classify_kinds() -> None:
    assert classify(DatabaseBusyError("数据库正忙，请稍后重试。")) == "busy"
    assert classify(ServiceError("该申请已被其他审核人处理，请刷新后查看。")) == "conflict"
    assert classify(ServiceError("驳回必须填写理由。")) == "refused"
    assert classify(RuntimeError("boom")) == "unexpected"


def test_load_command_prints_the_table() -> None:
    from typer.testing import CliRunner

    from portal.__main__ import app

    arguments = ["load", "--sessions", "2", "--seconds", "1", "--max-ops", "5", "--driver", "services"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    for marker in ("throughput:", "save", "approve", "lost saves 0", "double approvals 0", "consistent: yes"):
        assert marker in result.output
    assert "driver: services" in result.output
    refused = CliRunner().invoke(app, ["load", "--driver", "websocket"])
    assert refused.exit_code != 0 and "--driver" in refused.output


# --- the pages driver: AppTest sessions logging in and clicking the real pages ---------------------


def _check_pages(report: LoadReport, lines: list[str]) -> None:
    _check(report)
    assert report.driver == "pages"
    assert any(line.startswith("  driver: pages:") for line in lines)
    by_name = {o.operation: o for o in report.operations}
    assert by_name["login"].ok == report.sessions  # every session logged in through the form
    assert by_name["submit"].ok > 0
    assert all("unexpected" not in o.errors for o in report.operations), report.unexpected
    assert report.unexpected == []


def test_pages_load_on_sqlite_loses_nothing() -> None:
    lines: list[str] = []
    report = run_load(sessions=4, seconds=6, max_ops=40, driver="pages", echo=lines.append)
    assert report.database == "SQLite"
    _check_pages(report, lines)


def test_pages_load_on_postgresql_no_double_approval_no_deadlock() -> None:
    if not TEST_DATABASE_URL:
        skip_or_fail("TEST_DATABASE_URL is not set")
    lines: list[str] = []
    report = run_load(
        sessions=4, seconds=6, max_ops=40, database_url=TEST_DATABASE_URL, driver="pages", echo=lines.append
    )
    assert report.database == "PostgreSQL"
    _check_pages(report, lines)
    assert report.deadlocks == 0


def _page(exception: str = "", error: str = "", success: str = "", info: str = "") -> SimpleNamespace:
    def shown(text: str) -> list[SimpleNamespace]:
        return [SimpleNamespace(value=text)] if text else []

    return SimpleNamespace(exception=shown(exception), error=shown(error), success=shown(success), info=shown(info))


def test_page_outcomes_are_read_from_what_the_page_shows() -> None:
    assert page_outcome(_page(success="已保存幼儿“王子涵”的信息。"), SAVED_MARK) == ("ok", "已保存幼儿“王子涵”的信息。")
    assert page_outcome(_page(error="数据库正忙，请稍后重试。"), SAVED_MARK)[0] == "busy"
    assert page_outcome(_page(error="该申请已被其他审核人处理，请刷新后查看。"), APPROVED)[0] == "conflict"
    assert page_outcome(_page(error="请填写姓名。"), SAVED_MARK)[0] == "refused"
    assert page_outcome(_page(exception="psycopg.errors.DeadlockDetected: deadlock detected"), APPROVED)[0] == (
        "deadlock"
    )
    assert page_outcome(_page(exception="boom"), APPROVED)[0] == "unexpected"
    assert page_outcome(_page(success="申请 12 已审核通过。"), APPROVED)[0] == "ok"
    assert page_outcome(_page(success="没有等待您处理的申请。"), APPROVED)[0] == "stale"
    notice = "您刚才打开的申请 12 已由其他审核人处理或已撤回，下面显示的是另一条申请。"
    assert page_outcome(_page(info=notice), APPROVED) == ("conflict", notice)
    assert page_outcome(_page(), None)[0] == "ok"
