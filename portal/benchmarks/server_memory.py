"""Peak resident memory of a real portal server: ``streamlit run streamlit_app.py`` on a free
loopback port against a given database, driven by headless Chromium (the ``playwright`` package):
a few browser sessions log in as the province and open the progress dashboard several times each;
then the server process's ``VmHWM`` (its peak resident set, /proc/<pid>/status) is read.

This is the figure for a process serving real websocket sessions; ``page_process`` gives the
same pages run through AppTest. Without Chromium or playwright it reports why it did not run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class ServerMemory:
    peak_mb: float | None  # None: not measured
    sessions: int
    views: int
    note: str


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc status")


def measure_server(
    database_url: str, *, sessions: int = 3, views: int = 5, username: str = "demo-province", password: str = ""
) -> ServerMemory:
    """Serve ``database_url`` with ``streamlit run``; ``sessions`` browser sessions each log in and
    open the dashboard ``views`` times; the server's peak resident memory."""
    from portal.services.demo import DEFAULT_DEMO_PASSWORD

    browser_path = chromium_path()
    if browser_path is None:
        return ServerMemory(None, sessions, views, "no Chromium")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        return ServerMemory(None, sessions, views, "no playwright")
    password = password or DEFAULT_DEMO_PASSWORD
    folder = tempfile.mkdtemp(prefix="portal-server-memory-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env.update(DATABASE_URL=database_url, PORTAL_SECRETS_FILE=str(Path(folder) / "none.toml"), PYTHONUNBUFFERED="1")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = Path(folder) / "streamlit.log"
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
        "--browser.gatherUsageStats",
        "false",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.25)

        def drive() -> None:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
                try:
                    pages = []
                    for _ in range(sessions):
                        page = browser.new_context().new_page()
                        page.set_default_timeout(TIMEOUT_MS)
                        page.goto(base_url)
                        page.get_by_label("用户名").fill(username)
                        page.get_by_label("密码").fill(password)
                        page.get_by_role("button", name="登录", exact=True).click()
                        expect(page.get_by_role("button", name="退出登录")).to_be_visible(timeout=TIMEOUT_MS)
                        pages.append(page)
                    for _ in range(views):
                        for page in pages:
                            page.get_by_test_id("stSidebar").get_by_role("link", name="进度看板").click()
                            expect(page.get_by_role("heading", name="进度看板")).to_be_visible(timeout=TIMEOUT_MS)
                            expect(page.get_by_test_id("stDataFrame").first).to_be_visible(timeout=TIMEOUT_MS)
                            page.get_by_test_id("stSidebar").get_by_role("link").first.click()
                            page.wait_for_timeout(200)
                finally:
                    browser.close()

        # In a thread of its own: Playwright's sync API refuses a thread whose asyncio loop runs
        # (a test session's browser fixture, a notebook), and a fresh thread has none.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(drive).result()
        return ServerMemory(_vm_hwm_mb(process.pid), sessions, views, "")
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        shutil.rmtree(folder, ignore_errors=True)
