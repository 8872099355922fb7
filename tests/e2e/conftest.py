"""Real-browser fixtures: a `streamlit run` server on a demo database, and headless Chromium.

Each server runs in its own temporary directory with its own SQLite database, secrets from the
environment only (``PORTAL_SECRETS_FILE`` points at a file that does not exist) and no file watcher,
so neither the developer's local settings nor edits to the source tree reach the journeys.

Without Chromium (or the ``playwright`` package) the journeys are skipped; with
``PORTAL_REQUIRE_ALL_TESTS=1`` (CI) they fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "Demo#Portal2026"
UI_TIMEOUT_MS = 30_000  # the first run of the script on a fresh server can be slow
HEALTH_TIMEOUT_S = 60.0
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("PORTAL_REQUIRE_ALL_TESTS") == "1":
        pytest.fail(f"{reason} (PORTAL_REQUIRE_ALL_TESTS=1: the browser journeys may not be skipped)")
    pytest.skip(reason)


def _chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


# --- the portal server -----------------------------------------------------------------------


def _portal_env(tmp: Path) -> dict[str, str]:
    """The environment of the CLI and the server: the caller's, minus any portal setting of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "STREAMLIT_")) and k != "DATABASE_URL"}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp / 'e2e.db'}",
        PORTAL_COOKIE_KEY="e2e-cookie-key-" + "c" * 32,
        PORTAL_ENCRYPTION_KEY="e2e-encryption-key-" + "e" * 32,
        PORTAL_SECRETS_FILE=str(tmp / "no-secrets.toml"),
        PORTAL_BCRYPT_ROUNDS="4",
        PYTHONUNBUFFERED="1",
    )
    return env


def _prepare_database(tmp: Path) -> None:
    env = _portal_env(tmp)
    for args in (["db", "upgrade"], ["demo"]):
        done = subprocess.run(
            [sys.executable, "-m", "portal", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"`python -m portal {' '.join(args)}` failed:\n{done.stdout}\n{done.stderr}")


def _copy_database(source: Path, target: Path) -> None:
    """Copy a prepared SQLite database (WAL mode: the -wal file too, if the last close left one)."""
    for suffix in ("", "-wal"):
        path = source / f"e2e.db{suffix}"
        if path.exists():
            shutil.copyfile(path, target / path.name)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PortalServer:
    base_url: str
    tmp: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().decode().strip() == "ok"
    except (OSError, urllib.error.URLError):
        return False


def _start_server(tmp: Path, attempts: int = 3) -> PortalServer:
    """Start `streamlit run` on the database in ``tmp`` and wait until it is healthy.

    A port picked free can be taken before Streamlit binds it; then the server exits early and
    another port is tried.
    """
    log_text = ""
    for attempt in range(1, attempts + 1):
        port = _free_port()
        log_path = tmp / f"streamlit-{port}.log"
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "streamlit_app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
            "--server.runOnSave",
            "false",
            "--browser.gatherUsageStats",
            "false",
        ]
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, cwd=ROOT, env=_portal_env(tmp), stdout=log, stderr=subprocess.STDOUT)
        server = PortalServer(f"http://127.0.0.1:{port}", tmp, process, log_path)
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            if _healthy(server.base_url):
                return server
            time.sleep(0.25)
        server.stop()
        log_text = server.log()
        exited_early = time.monotonic() < deadline
        if not (exited_early and attempt < attempts):
            break
    pytest.fail(f"streamlit did not answer /_stcore/health within {HEALTH_TIMEOUT_S:.0f} s; its log:\n{log_text}")


@pytest.fixture(scope="session")
def demo_database(tmp_path_factory: pytest.TempPathFactory, chromium_executable: str) -> Path:
    """A directory holding a migrated database with the demo data, copied by every server.

    It asks for ``chromium_executable`` so that without a browser no server is started at all.
    """
    template = tmp_path_factory.mktemp("e2e-template")
    _prepare_database(template)
    return template


@contextmanager
def _serve(tmp_path_factory: pytest.TempPathFactory, demo_database: Path, name: str) -> Iterator[PortalServer]:
    """A server on a copy of the demo database, in a new temporary directory; stopped on exit."""
    tmp = tmp_path_factory.mktemp(name)
    _copy_database(demo_database, tmp)
    server = _start_server(tmp)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def portal_server(tmp_path_factory: pytest.TempPathFactory, demo_database: Path) -> Iterator[str]:
    """The base URL of a portal shared by the journeys that do not need a fresh server."""
    with _serve(tmp_path_factory, demo_database, "e2e-server") as server:
        yield server.base_url


@pytest.fixture
def fresh_server(tmp_path_factory: pytest.TempPathFactory, demo_database: Path) -> Iterator[str]:
    """The base URL of a server started for this test alone: no browser has opened it yet."""
    with _serve(tmp_path_factory, demo_database, "e2e-fresh") as server:
        yield server.base_url


# --- the browser -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Chromium's path; skips (or on CI fails) the journeys when it or playwright is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip_or_fail("the playwright package is not installed")
    executable = _chromium_path()
    if executable is None:
        _skip_or_fail("Chromium not found (set CHROMIUM_PATH or install the chromium package)")
    return executable


@pytest.fixture(scope="session")
def browser(chromium_executable: str) -> Iterator[Browser]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A page in a new browser context: no cookie or session is shared between tests."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        if request.node.stash.get(_CALL_FAILED, False):
            shot = tmp_path / "failure.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot of the failed page: {shot}")
            except Exception as exc:  # a crashed page cannot be photographed; the test failed anyway
                print(f"no screenshot: {exc}")
        context.close()
