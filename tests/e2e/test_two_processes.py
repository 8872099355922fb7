"""Two portal processes behind nginx, one PostgreSQL database (deploy/two_processes.py).

Two browsers are routed to different processes by their ``portal_route`` cookie (values chosen by
asking nginx which process each one hashes to, read from the ``X-Portal-Upstream`` header). In
browser A the county reviewer approves a child's record from the review queue; browser B, served
by the other process, saw the request in its queue before and no longer sees it after; its
progress table, cached by its process (``PORTAL_CACHE_SECONDS`` = 5 here), counts the newly
numbered child within the cache lifetime.

Needs PostgreSQL (``TEST_DATABASE_URL``), nginx (``/usr/sbin/nginx``) and Chromium; without them
the test is skipped, and on CI (``PORTAL_REQUIRE_ALL_TESTS=1``) it fails instead.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text

from portal.data import db
from tests.e2e.conftest import UI_TIMEOUT_MS, _portal_env, _skip_or_fail
from tests.e2e.test_children_journey import open_nav, settle, sign_in
from tests.e2e.test_login_journeys import COUNTY_HOME_TITLE, table_cell

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture skips (or on CI fails) every test before this is used
    expect = None  # type: ignore[assignment]
    PlaywrightTimeoutError = TimeoutError  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHILD_REQUEST = "幼儿信息：陈雨桐"  # children the demo submitted, waiting for demo-county
OTHER_CHILD_REQUEST = "幼儿信息：杨宇航"
CACHE_SECONDS = 5  # the processes' query cache lifetime (PORTAL_CACHE_SECONDS), short for the test


def _two_processes() -> ModuleType:
    spec = importlib.util.spec_from_file_location("two_processes", ROOT / "deploy" / "two_processes.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["two_processes"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def postgres_demo(tmp_path: Path, chromium_executable: str) -> Iterator[str]:
    """A new PostgreSQL schema, migrated, with the demo data; dropped afterwards."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base or not base.startswith("postgresql"):
        _skip_or_fail("TEST_DATABASE_URL (PostgreSQL) is not set")
    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    admin = create_engine(db.normalise_url(base or ""), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{db.normalise_url(base or '')}{'&' if '?' in (base or '') else '?'}options=-csearch_path%3D{schema}"
    try:
        env = {**_portal_env(tmp_path), "DATABASE_URL": url}
        for args in (["db", "upgrade"], ["demo"]):
            done = subprocess.run(
                [sys.executable, "-m", "portal", *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            if done.returncode != 0:
                pytest.fail(f"`python -m portal {' '.join(args)}` failed:\n{done.stdout}\n{done.stderr}")
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def deployment(postgres_demo: str, tmp_path: Path) -> Iterator[object]:
    module = _two_processes()
    if not Path(module.NGINX).exists():
        _skip_or_fail(f"{module.NGINX} is not installed (Debian: apt-get install nginx)")
    env = {**_portal_env(tmp_path), "PORTAL_CACHE_SECONDS": str(CACHE_SECONDS)}
    started = module.start(postgres_demo, module.free_port(), folder=tmp_path / "deploy", env=env)
    try:
        yield started
    finally:
        started.stop()


def upstream_of(base_url: str, route: str) -> str:
    """The process nginx sends a browser with this routing cookie to."""
    request = urllib.request.Request(f"{base_url}/_stcore/health", headers={"Cookie": f"portal_route={route}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["X-Portal-Upstream"])


def routes_to_each(base_url: str, upstreams: list[str]) -> dict[str, str]:
    """A routing cookie value for each process: the first values that hash to each one."""
    found: dict[str, str] = {}
    for index in range(200):
        route = f"route-{index}"
        found.setdefault(upstream_of(base_url, route), route)
        if len(found) == len(upstreams):
            break
    assert sorted(found) == sorted(upstreams), f"nginx sent every route to {sorted(found)}"
    return found


@pytest.fixture
def two_browsers(browser: Browser, deployment: object) -> Iterator[tuple[str, Page, Page, str, str]]:
    """Browser A on the first process, browser B on the second (by their routing cookie)."""
    base_url: str = deployment.url  # type: ignore[attr-defined]
    upstreams: list[str] = deployment.upstreams  # type: ignore[attr-defined]
    routes = routes_to_each(base_url, upstreams)
    contexts, pages = [], []
    for upstream in upstreams:
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000})
        context.set_default_timeout(UI_TIMEOUT_MS)
        context.add_cookies([{"name": "portal_route", "value": routes[upstream], "url": base_url}])
        contexts.append(context)
        pages.append(context.new_page())
    try:
        yield base_url, pages[0], pages[1], upstreams[0], upstreams[1]
    finally:
        for context in contexts:
            context.close()


def served_by(page: Page, base_url: str) -> str:
    """The process that serves this browser's requests (its cookies go with the request)."""
    response = page.request.get(f"{base_url}/_stcore/health")
    assert response.ok
    return response.headers["x-portal-upstream"]


def approve(page: Page, title: str) -> None:
    """Open a request of the queue and approve it."""
    box = page.get_by_label("打开申请")
    option = page.get_by_role("option", name=re.compile(re.escape(title)))
    for _attempt in range(3):
        box.click()
        box.press_sequentially(title.split("：")[-1])
        try:
            option.first.click(timeout=5_000)
            break
        except PlaywrightTimeoutError:  # the list closed under a rerun: open it again
            page.keyboard.press("Escape")
    expect(page.get_by_text(re.compile(re.escape(title) + r" · 状态：待审核"))).to_be_visible()
    page.get_by_role("button", name="审核通过").click()
    expect(page.get_by_text(re.compile(r"申请 \d+ 已审核通过"))).to_be_visible()
    settle(page)


def numbered_total(page: Page) -> int:
    """The progress table's total of children with a student number, from the table's CSV export
    (the on-screen table draws only the columns in view)."""
    with page.expect_download() as download:
        page.get_by_role("button", name="导出本表（CSV）").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    head = rows[1]
    total = next(row for row in rows if len(row) > 1 and row[1] == "合计")
    return int(total[head.index("已录入系统并获得学籍的幼儿数（个）")])


def test_an_approval_in_one_process_is_seen_by_a_session_of_the_other(
    two_browsers: tuple[str, Page, Page, str, str],
) -> None:
    base_url, a, b, upstream_a, upstream_b = two_browsers
    assert upstream_a != upstream_b
    sign_in(a, base_url, "demo-county")
    sign_in(b, base_url, "demo-county")
    # Each browser's requests reach its own process (the WebSocket carries the same cookie).
    assert served_by(a, base_url) == upstream_a
    assert served_by(b, base_url) == upstream_b

    open_nav(b, "进度看板")
    before = numbered_total(b)
    open_nav(b, "审核队列")
    expect(table_cell(b, CHILD_REQUEST)).to_be_attached()
    open_nav(a, "审核队列")
    expect(table_cell(a, CHILD_REQUEST)).to_be_attached()
    approve(a, CHILD_REQUEST)
    approved_at = time.monotonic()
    expect(table_cell(a, CHILD_REQUEST)).to_have_count(0)

    # B's process reads the same database: when B's queue is drawn again, the request is gone.
    open_nav(b, "工作台", COUNTY_HOME_TITLE)
    open_nav(b, "审核队列")
    expect(table_cell(b, OTHER_CHILD_REQUEST)).to_be_attached()  # the queue is drawn …
    expect(table_cell(b, CHILD_REQUEST)).to_have_count(0)  # … without the approved request
    assert served_by(b, base_url) == upstream_b

    # B's progress table (cached by B's process) counts the approved child within the lifetime.
    while True:
        open_nav(b, "进度看板")
        after = numbered_total(b)
        if after != before or time.monotonic() - approved_at > CACHE_SECONDS + 5:
            break
        b.wait_for_timeout(1_000)
    assert after == before + 1
    assert time.monotonic() - approved_at < CACHE_SECONDS + 5 + 10  # a lifetime, plus page draws
