"""``python -m portal bench all`` at a tiny scale: it runs every benchmark and prints one table with
a row per figure and a column per database (figures only: nothing about time is asserted)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from portal.__main__ import app
from portal.benchmarks.server_memory import chromium_path
from portal.benchmarks.suite import ROWS, _key
from tests.conftest import TEST_DATABASE_URL, skip_or_fail


def _table(output: str) -> list[str]:
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("bench all (scale"))
    return lines[start + 1 :]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_bench_all_prints_every_row(backend: str) -> None:
    args = ["bench", "all", "--scale", "0.002", "--runs", "2"]
    if backend == "postgresql":
        if not TEST_DATABASE_URL:
            skip_or_fail("TEST_DATABASE_URL is not set")
        args += ["--postgres-url", TEST_DATABASE_URL or "", "--no-browser"]  # the server: on SQLite
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    table = _table(result.output)
    header = table[0].split()
    databases = ["SQLite", "PostgreSQL"] if backend == "postgresql" else ["SQLite"]
    assert header == ["benchmark", *databases, "target"]
    for row in ROWS:
        line = next((line for line in table if line.startswith(_key(row))), None)
        assert line is not None, f"missing row {_key(row)}"
        cells = re.split(r"\s{2,}", line.strip())
        figures = cells[1 : len(databases) + 1]
        assert len(figures) == len(databases) and "-" not in figures, f"a figure is missing: {line}"
    assert len(table) == len(ROWS) + 2  # header, rule, one line per figure
    server = next(line for line in table if "streamlit run server" in line)
    if backend == "sqlite" and chromium_path() is not None:
        assert "browser sessions" in server  # measured, in MB
    elif backend == "postgresql":
        assert "not measured: --no-browser" in server


def test_bench_all_refuses_a_bad_scale() -> None:
    result = CliRunner().invoke(app, ["bench", "all", "--scale", "0"])
    assert result.exit_code == 1
    assert "--scale must be positive" in result.output
