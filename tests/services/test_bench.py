"""The import benchmark runs end to end with small numbers and prints its figures (no timed asserts)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from portal.__main__ import app
from portal.services.bench import run_import_bench

runner = CliRunner()


def test_bench_import_prints_the_figures(database_url: str) -> None:
    # SQLite: the command's default scratch file; PostgreSQL: a fresh schema of the test server.
    url_args = [] if database_url.startswith("sqlite") else ["--database-url", database_url]
    result = runner.invoke(app, ["bench", "import", "--children", "2000", "--rows", "500", *url_args])
    assert result.exit_code == 0, result.output
    output = result.output
    assert "seeded 2,000/2,000 children" in output
    assert re.search(r"import_children: 500 rows in [\d.]+ s = [\d,]+ rows/s \(\d+ duplicates elsewhere\)", output)
    assert re.search(r"raw driver executemany: 500 rows in [\d.]+ s = [\d,]+ rows/s", output)
    assert re.search(r"ratio import/raw: [\d.]+ \(target >= 0.25\)", output)
    assert re.search(r"duplicates_among: 500 hashes in [\d.]+ ms \(\d+ claimed", output)


def test_bench_result_carries_the_numbers(database_url: str) -> None:
    lines: list[str] = []
    url = None if database_url.startswith("sqlite") else database_url
    bench = run_import_bench(children_count=300, rows=120, database_url=url, echo=lines.append)
    assert bench.rows == 120 and bench.children == 300
    assert bench.import_rate > 0 and bench.raw_rate > 0 and bench.ratio > 0
    assert bench.duplicates_elsewhere == bench.duplicates_found == 2  # rows 0 and 100 reuse seeded ID numbers
    assert lines[-5:] == bench.lines()


def test_bench_needs_no_deployment_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scratch database: without a configured key the command uses a throwaway one."""
    from portal.settings import reset_settings_cache

    monkeypatch.delenv("PORTAL_ENCRYPTION_KEY", raising=False)
    reset_settings_cache()
    result = runner.invoke(app, ["bench", "import", "--children", "100", "--rows", "20"])
    assert result.exit_code == 0, result.output
    assert "ratio import/raw" in result.output
