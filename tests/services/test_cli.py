"""The operator's commands: `python -m portal ...` through typer's runner, and once for real."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import func, select
from typer.testing import CliRunner

from portal.__main__ import app
from portal.auth.actor import Actor
from portal.auth.passwords import verify_password
from portal.data import db
from portal.data.models import Region, User
from portal.services.login import authenticate

runner = CliRunner()


def test_db_upgrade_migrates_and_loads_the_official_regions(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.settings import reset_settings_cache

    monkeypatch.setenv("DATABASE_URL", database_url)
    reset_settings_cache()
    db.configure(database_url)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at revision" in result.output and "official regions loaded" in result.output
    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0 and "official regions loaded" not in again.output
    with db.session_scope() as session:
        assert session.exec(select(func.count()).select_from(Region).where(Region.level == "province")).one() == 34
    db.dispose()


def test_demo_loads_once(database: str) -> None:
    first = runner.invoke(app, ["demo", "--password", "Another#Pass1"])
    assert first.exit_code == 0, first.output
    assert "demo-province" in first.output and "demo-auditor" in first.output
    assert authenticate("demo-county", "Another#Pass1").ok
    second = runner.invoke(app, ["demo"])
    assert second.exit_code == 1 and "只能载入空数据库" in second.output
    skipped = runner.invoke(app, ["demo", "--if-empty"])
    assert skipped.exit_code == 0 and "not loaded" in skipped.output


def test_create_admin(demo: str) -> None:
    """No default password: the first administrator gets a random single-use temporary one."""
    result = runner.invoke(
        app, ["create-admin", "--username", "henan-admin", "--real-name", "韩管理", "--phone", "0371-69690000"]
    )
    assert result.exit_code == 0, result.output
    temporary = result.output.strip().splitlines()[-1]
    with db.session_scope() as session:
        user = session.exec(select(User).where(User.username == "henan-admin")).one()
        assert (user.level, user.duty, user.region_code, user.must_change_password) == (
            "province",
            "sysadmin",
            "410000",
            True,
        )
        assert user.temp_password_expires_at is not None
        assert verify_password(temporary, user.password_hash) and len(temporary) >= 16
    from portal.services.login import STEP_CHANGE_PASSWORD, STEP_ENROL_TOTP, begin_login

    start = begin_login("henan-admin")
    assert start.pending is not None and start.pending.steps == (STEP_CHANGE_PASSWORD, STEP_ENROL_TOTP)


def test_create_admin_refuses_bad_input(demo: str) -> None:
    result = runner.invoke(app, ["create-admin", "--username", "X", "--real-name", "", "--phone", "abc"])
    assert result.exit_code == 1 and "用户名" in result.output
    with db.session_scope() as session:
        assert session.exec(select(User).where(User.username == "x")).first() is None


def test_accounts_commands(demo: str) -> None:
    from datetime import timedelta

    from portal.services.login import begin_login

    result = runner.invoke(app, ["accounts", "reset-password", "demo-sysadmin"])
    assert result.exit_code == 0, result.output
    start = begin_login("demo-sysadmin")
    assert start.pending is not None and start.pending.steps[0] == "change_password"
    assert runner.invoke(app, ["accounts", "reset-password", "nobody"]).exit_code == 1
    with db.session_scope() as session:
        user = session.exec(select(User).where(User.username == "demo-clerk")).one()
        user.last_login_at = user.created_at = user.created_at - timedelta(days=200)
        session.add(user)
    result = runner.invoke(app, ["accounts", "daily"])
    assert result.exit_code == 0 and "demo-clerk" in result.output
    result = runner.invoke(app, ["accounts", "enable", "demo-clerk"])
    assert result.exit_code == 0, result.output


def test_import_townships_command(demo: str, tmp_path: Path) -> None:
    good = tmp_path / "zhongmou.csv"
    good.write_bytes("代码,名称\n410122104,九龙镇\n".encode("gbk"))
    result = runner.invoke(app, ["regions", "import-townships", str(good)])
    assert result.exit_code == 0 and "1 added" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("代码,名称\n12,短\n", encoding="utf-8")
    refused = runner.invoke(app, ["regions", "import-townships", str(bad)])
    assert refused.exit_code == 1 and "9 位数字" in refused.output
    missing = runner.invoke(app, ["regions", "import-townships", str(tmp_path / "none.csv")])
    assert missing.exit_code == 1


def test_secrets_init_writes_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from portal.settings import load_settings

    path = tmp_path / "secrets.toml"
    monkeypatch.setenv("PORTAL_SECRETS_FILE", str(path))
    monkeypatch.delenv("PORTAL_COOKIE_KEY")
    monkeypatch.delenv("PORTAL_ENCRYPTION_KEY")
    assert runner.invoke(app, ["secrets", "init"]).exit_code == 0
    content = path.read_text()
    load_settings().require_secrets()
    assert runner.invoke(app, ["secrets", "init"]).exit_code == 0
    assert path.read_text() == content
    assert oct(path.stat().st_mode)[-3:] == "600"


def test_the_module_runs_as_a_command() -> None:
    out = subprocess.run([sys.executable, "-m", "portal", "--help"], capture_output=True, text=True, check=True)
    for command in ("db", "demo", "create-admin", "regions", "secrets"):
        assert command in out.stdout


def _children_csv(path: Path, rows: list[dict[str, object]]) -> Path:
    import csv
    import io

    from portal.data.child_fields import CHILD

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([spec.label for spec in CHILD.fields])
    for row in rows:
        writer.writerow(
            [
                {True: "是", False: "否"}.get(v, v) if isinstance(v, bool) else v
                for v in (row.get(s.name, "") for s in CHILD.fields)
            ]
        )
    path.write_bytes(out.getvalue().encode("utf-8-sig"))
    return path


def test_import_children_command(demo: str, tmp_path: Path) -> None:
    from datetime import timedelta

    from portal.data.models import Child
    from portal.services import children, workflow
    from tests.conftest import actor_for
    from tests.factories import child_values

    today = workflow.local_today()
    clerk = actor_for("demo-clerk")
    children.create_class(clerk, {"name": "小一班", "grade": "小班", "school_year": children.school_year_of(today)})
    enrolled = (today - timedelta(days=20)).isoformat()
    good = [child_values(sequence=n, name=name, enrolment_date=enrolled) for n, name in ((1, "张𠮷"), (2, "李·娜"))]
    first = _children_csv(tmp_path / "九月新生.csv", good)

    result = runner.invoke(app, ["import-children", str(first), "--institution", "4101220002"])
    assert result.exit_code == 0, result.output
    assert "总行数 2，新增 2，更新 0，未变 0，拒绝 0" in result.output
    assert "已处理 2/2 行" in result.output  # progress (on stderr)
    assert not (tmp_path / "九月新生_错误标注.xlsx").exists()

    bad = child_values(sequence=3, name="王五", enrolment_date=enrolled, class_name="不存在班")
    second = _children_csv(tmp_path / "补录.csv", [*good, bad])
    result = runner.invoke(app, ["import-children", str(second), "--institution", "4101220002"])
    assert result.exit_code == 1, result.output
    assert "总行数 3，新增 0，更新 0，未变 2，拒绝 1" in result.output
    assert "第 4 行（王五）：班级：" in result.output
    assert (tmp_path / "补录_错误标注.xlsx").is_file()
    with db.session_scope() as session:
        names = session.exec(select(Child.name).order_by(Child.id)).all()
    assert names == ["张𠮷", "李·娜"]

    pdf = tmp_path / "名单.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    refused = runner.invoke(app, ["import-children", str(pdf), "--institution", "4101220002"])
    assert refused.exit_code == 2 and "没有导入任何数据" in refused.output and ".pdf" in refused.output
    unknown = runner.invoke(app, ["import-children", str(first), "--institution", "4101229999"])
    assert unknown.exit_code == 2 and "4101229999" in unknown.output
    missing = runner.invoke(app, ["import-children", str(tmp_path / "无.csv"), "--institution", "4101220002"])
    assert missing.exit_code == 2
    with db.session_scope() as session:
        assert session.exec(select(func.count()).select_from(Child)).one() == 2


def test_the_module_lists_the_import_and_bench_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "portal", "--help"], capture_output=True, text=True, check=True)
    assert "import-children" in out.stdout and "bench" in out.stdout
    bench = subprocess.run(
        [sys.executable, "-m", "portal", "bench", "import", "--help"], capture_output=True, text=True, check=True
    )
    assert "--children" in bench.stdout and "--rows" in bench.stdout and "--database-url" in bench.stdout


def test_transfers_expire_command(actors: dict[str, Actor]) -> None:
    from datetime import timedelta

    from portal.services import transfers, workflow
    from tests.factories import clerk_of, with_class
    from tests.services.test_transfers import numbered

    _, number = numbered(actors)
    receiver = clerk_of("4101220004")
    old = workflow.local_today() - timedelta(days=70)
    transfers.start_transfer(receiver, number, "李小明", with_class(receiver).id, "迁居", today=old)
    result = runner.invoke(app, ["transfers", "expire"])
    assert result.exit_code == 0 and "transfers expired: 1" in result.output
    assert runner.invoke(app, ["transfers", "expire"]).output.strip() == "transfers expired: 0"
    assert transfers.list_transfers(receiver)[0].state == "expired"
