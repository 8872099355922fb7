"""The dashboard benchmark (issue 6, DESIGN.md pattern 6): one full run of the provincial progress
page (AppTest, server side), on the Henan-scale database and on the 1% one, side by side in one run.

It prints, per database, the institutions and children it holds, the median time of a full page
run and the database time inside it, and the ratio of the two scales; then the process's peak
resident memory. Figures only: no pass or fail (the targets are in the issue: under 50 ms at Henan
scale, a ratio under 1.5, under 300 MB).
"""

from __future__ import annotations

import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select

from portal.data import db
from portal.data.models import Child, Institution
from portal.settings import MIN_SECRET_LENGTH, get_settings, reset_settings_cache

Echo = Callable[[str], None]
ENTRYPOINT = Path(__file__).resolve().parents[2] / "streamlit_app.py"
PAGE = Path(__file__).resolve().parents[1] / "pages" / "bureau" / "progress.py"


@dataclass(frozen=True)
class PageFigures:
    label: str
    institutions: int
    children: int
    page_ms: float
    database_ms: float


def _ensure_secrets() -> None:
    """A scratch benchmark needs no deployment's secrets: throwaway ones, for this process only."""
    settings = get_settings()
    if len(settings.cookie_key) < MIN_SECRET_LENGTH:
        os.environ["PORTAL_COOKIE_KEY"] = secrets.token_urlsafe(48)
    if len(settings.encryption_key) < MIN_SECRET_LENGTH:
        os.environ["PORTAL_ENCRYPTION_KEY"] = secrets.token_urlsafe(48)
    reset_settings_cache()


@contextmanager
def _database(url: str | None, scale: str, echo: Echo) -> Iterator[str]:
    """The given database, or a scratch SQLite file loaded with the province at ``scale`` by the
    command line in a child process (so that this process's memory is the serving alone)."""
    if url:
        yield url
        return
    folder = tempfile.mkdtemp(prefix="portal-bench-dashboard-")
    scratch = f"sqlite:///{folder}/province.db"
    env = {**os.environ, "DATABASE_URL": scratch}
    try:
        echo(f"loading the province at scale {scale} into a scratch database ...")
        for args in (["db", "upgrade"], ["demo", "--scale", scale]):
            done = subprocess.run(
                [sys.executable, "-m", "portal", *args], env=env, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"python -m portal {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        yield scratch
    finally:
        db.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def _point_at(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    reset_settings_cache()
    db.configure(url)


@contextmanager
def _database_timer() -> Iterator[list[float]]:
    """Seconds spent in the driver per statement, for the engine in use."""
    spent: list[float] = []
    engine = db.get_engine()

    def before(conn: Any, _cursor: Any, _statement: Any, _parameters: Any, _context: Any, _many: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(conn: Any, _cursor: Any, _statement: Any, _parameters: Any, _context: Any, _many: Any) -> None:
        spent.append(time.perf_counter() - conn.info["bench_started"].pop())

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield spent
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


@contextmanager
def _server_script_cache() -> Iterator[None]:
    """AppTest compiles the scripts anew on every run (a fresh ScriptCache each time); a server keeps
    one cache for its life. The benchmark measures the server: one shared cache."""
    from unittest import mock

    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    shared = ScriptCache()
    with (
        mock.patch("streamlit.testing.v1.app_test.ScriptCache", return_value=shared),
        mock.patch("streamlit.testing.v1.local_script_runner.ScriptCache", return_value=shared),
    ):
        yield


def measure_page(url: str, label: str, runs: int, username: str, password: str) -> PageFigures:
    """Log in through the real entrypoint, open the dashboard, then time ``runs`` full reruns."""
    from streamlit.testing.v1 import AppTest

    _point_at(url)
    with db.session_scope() as session:
        institutions = session.execute(select(func.count()).select_from(Institution)).scalar_one()
        children = session.execute(select(func.count()).select_from(Child)).scalar_one()
    app = AppTest.from_file(str(ENTRYPOINT), default_timeout=120).run()
    app.text_input[0].input(username)
    app.text_input[1].input(password)
    app.button[0].click().run()
    app.switch_page(str(PAGE)).run()
    if app.exception:
        raise RuntimeError(f"the dashboard failed on {label}: {app.exception[0].message}")
    app.run()  # warm: caches, the first query plans
    page_times, database_times = [], []
    with _server_script_cache():
        app.run()  # compiles the scripts once, as a server does
        for _ in range(runs):
            with _database_timer() as spent:
                started = time.perf_counter()
                app.run()
                page_times.append(time.perf_counter() - started)
            database_times.append(sum(spent))
    return PageFigures(
        label,
        int(institutions),
        int(children),
        statistics.median(page_times) * 1000,
        statistics.median(database_times) * 1000,
    )


def peak_resident_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def run_dashboard_bench(
    *,
    henan_url: str | None = None,
    small_url: str | None = None,
    large_scale: str = "henan",
    small_scale: str = "0.01",
    runs: int = 20,
    username: str = "demo-province",
    password: str | None = None,
    echo: Echo = print,
) -> tuple[PageFigures, PageFigures]:
    """Both databases, the page timed on each; prints the table and returns the figures."""
    from portal.services.demo import DEFAULT_DEMO_PASSWORD

    _ensure_secrets()
    password = password or DEFAULT_DEMO_PASSWORD
    with _database(small_url, small_scale, echo) as small:
        small_figures = measure_page(small, f"scale {small_scale}", runs, username, password)
    with _database(henan_url, large_scale, echo) as large:
        large_figures = measure_page(large, f"scale {large_scale}", runs, username, password)
    echo(f"provincial dashboard, one full page run (AppTest, median of {runs}):")
    echo(f"{'database':<14}{'institutions':>14}{'children':>12}{'page ms':>10}{'db ms':>9}")
    for figures in (large_figures, small_figures):
        echo(
            f"{figures.label:<14}{figures.institutions:>14,}{figures.children:>12,}"
            f"{figures.page_ms:>10.1f}{figures.database_ms:>9.1f}"
        )
    echo(
        f"ratio large/small: page {large_figures.page_ms / small_figures.page_ms:.2f}, "
        f"database {large_figures.database_ms / max(small_figures.database_ms, 1e-6):.2f} (target: page under 1.5)"
    )
    echo(f"peak resident memory of this process: {peak_resident_mb():.0f} MB (target: under 300 MB)")
    return large_figures, small_figures
