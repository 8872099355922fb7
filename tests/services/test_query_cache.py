"""The per-process query cache and its version counter in the database (portal/data/query_cache.py),
on SQLite and PostgreSQL.

"Another process" is a second ``QueryCache`` with its own clock (it does not hear this process's
commits), and once a real second Python process on the same database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func
from sqlmodel import select

from portal.data import db, query_cache
from portal.data.models import Region, RegionProgress, StatBaseline, User
from portal.data.query_cache import PROGRESS, QueryCache, read_version
from portal.services import progress

ROOT = Path(__file__).resolve().parents[2]
LIFETIME = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _add_region(code: str = "419900", name: str = "甲县") -> None:
    with db.session_scope(write=True) as session:
        session.add(
            Region(code=code, name=name, level="county", province_code="41", city_code="4199", county_code=code)
        )


def _rename_region(code: str, name: str) -> None:
    with db.session_scope(write=True) as session:
        region = session.get(Region, code)
        assert region is not None
        region.name = name


def _region_name(code: str = "419900") -> str:
    with db.session_scope() as session:
        region = session.get(Region, code)
        assert region is not None
        return region.name


def _user_count() -> int:
    with db.session_scope() as session:
        return int(session.exec(select(func.count()).select_from(User)).one())


def _add_user(username: str) -> None:
    with db.session_scope(write=True) as session:
        session.add(
            User(
                username=username,
                real_name="测试",
                password_hash="x",
                level="province",
                duty="leader",
                province_code="41",
            )
        )


def test_a_bumping_write_reaches_the_other_process_at_its_next_check(database: str) -> None:
    _add_region()
    clock = Clock()
    other = QueryCache(LIFETIME, clock=clock)
    assert other.get(PROGRESS, "name", _region_name) == "甲县"
    before = read_version(db.get_engine(), PROGRESS)

    _rename_region("419900", "乙县")  # a region's write bumps the counter in its own transaction
    assert read_version(db.get_engine(), PROGRESS) == before + 1

    clock.now += 0.5  # the other process read the counter half a second ago: it serves its copy
    assert other.get(PROGRESS, "name", _region_name) == "甲县"
    clock.now += 0.6  # its next check of the counter, long before the lifetime is over
    assert other.get(PROGRESS, "name", _region_name) == "乙县"
    assert other.loads == 2


def test_without_a_bump_the_other_process_is_at_most_a_lifetime_behind(database: str) -> None:
    clock = Clock()
    other = QueryCache(LIFETIME, clock=clock)
    first = other.get(PROGRESS, "users", _user_count)
    version = read_version(db.get_engine(), PROGRESS)

    _add_user("cache-user-1")  # a frequent write: no bump (no hot row)
    assert read_version(db.get_engine(), PROGRESS) == version
    clock.now += LIFETIME - 1
    assert other.get(PROGRESS, "users", _user_count) == first  # still its cached result …
    clock.now += 1
    assert other.get(PROGRESS, "users", _user_count) == first + 1  # … never older than the lifetime


def test_the_writing_process_sees_its_own_counter_writes_at_once(database: str) -> None:
    loads = query_cache.cache.loads
    first = query_cache.cached(PROGRESS, "users-own", _user_count)
    assert query_cache.cached(PROGRESS, "users-own", _user_count) == first
    assert query_cache.cache.loads == loads + 1  # the second read came from the cache

    _add_user("cache-user-2")  # not a table of the progress table: the cache keeps its result
    assert query_cache.cached(PROGRESS, "users-own", _user_count) == first
    version = read_version(db.get_engine(), PROGRESS)
    with db.session_scope(write=True) as session:  # a counter row written (as every save does)
        session.add(
            RegionProgress(
                county_code="419900",
                kind="独立设置幼儿园",
                ownership="公办",
                urban_rural="城区",
                province_code="41",
                city_code="4199",
                institutions=1,
            )
        )
    assert query_cache.cached(PROGRESS, "users-own", _user_count) == first + 1  # reloaded at once
    assert read_version(db.get_engine(), PROGRESS) == version  # without touching the shared counter


def test_a_rolled_back_write_neither_bumps_nor_drops(database: str) -> None:
    _add_region()
    version = read_version(db.get_engine(), PROGRESS)
    query_cache.cached(PROGRESS, "name-rollback", _region_name)
    loads = query_cache.cache.loads
    try:
        with db.session_scope(write=True) as session:
            region = session.get(Region, "419900")
            assert region is not None
            region.name = "丙县"
            session.flush()
            raise RuntimeError("refused")
    except RuntimeError:
        pass
    assert read_version(db.get_engine(), PROGRESS) == version
    assert query_cache.cached(PROGRESS, "name-rollback", _region_name) == "甲县"
    assert query_cache.cache.loads == loads


def test_rebuilding_the_counters_bumps_the_progress_counter(database: str) -> None:
    version = read_version(db.get_engine(), PROGRESS)
    progress.rebuild_counters()
    progress.rebuild_counters()
    assert read_version(db.get_engine(), PROGRESS) == version + 2


def test_a_zero_lifetime_turns_the_cache_off(database: str) -> None:
    off = QueryCache(0)
    first = off.get(PROGRESS, "users", _user_count)
    _add_user("cache-user-3")
    assert off.get(PROGRESS, "users", _user_count) == first + 1
    assert off.loads == 0


READER = """
import sys, time
from portal.data import db
from portal.data.models import Region
from portal.data.query_cache import PROGRESS, QueryCache

def name():
    with db.session_scope() as session:
        return session.get(Region, "419900").name

cache = QueryCache(3600)
print(cache.get(PROGRESS, "name", name), flush=True)
sys.stdin.readline()  # the parent has written
time.sleep(1.1)  # the next check of the counter
print(cache.get(PROGRESS, "name", name), cache.loads, flush=True)
"""


def test_a_second_python_process_sees_the_bumped_write(database: str) -> None:
    _add_region()
    env = {**os.environ, "DATABASE_URL": database}
    reader = subprocess.Popen(
        [sys.executable, "-c", READER],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdin is not None
        assert reader.stdout.readline().strip() == "甲县"
        _rename_region("419900", "乙县")
        reader.stdin.write("go\n")
        reader.stdin.flush()
        out, err = reader.communicate(timeout=60)
    finally:
        if reader.poll() is None:
            reader.kill()
    assert reader.returncode == 0, err
    assert out.split() == ["乙县", "2"]  # within a second, though its lifetime is an hour


def test_a_result_loaded_across_a_commit_of_this_process_is_not_kept(database: str) -> None:
    cache = QueryCache(LIFETIME)

    def load_while_someone_commits() -> int:
        found = _user_count()
        cache.forget(PROGRESS)  # what this process's commit of a counter row does meanwhile
        return found

    cache.get(PROGRESS, "users", load_while_someone_commits)
    cache.get(PROGRESS, "users", _user_count)
    assert cache.loads == 2  # the first result, perhaps stale, was not kept
    cache.get(PROGRESS, "users", _user_count)
    assert cache.loads == 2


def test_a_statistics_baseline_write_bumps_the_progress_counter(database: str) -> None:
    version = read_version(db.get_engine(), PROGRESS)
    with db.session_scope(write=True) as session:
        session.add(StatBaseline(county_code="419900", year=2026, province_code="41", city_code="4199", children=80))
    assert read_version(db.get_engine(), PROGRESS) == version + 1
    with db.session_scope(write=True) as session:
        row = session.get(StatBaseline, ("419900", 2026))
        assert row is not None
        row.children = 90
    assert read_version(db.get_engine(), PROGRESS) == version + 2
