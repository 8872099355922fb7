"""`python -m portal <command>`: the operator's commands, over the same services the pages use."""

from __future__ import annotations

import secrets as pysecrets
from pathlib import Path
from typing import Annotated

import typer

from portal.commands import accounts as accounts_commands
from portal.commands import audit as audit_commands
from portal.commands import exchange as exchange_commands
from portal.commands import safety as safety_commands
from portal.settings import get_settings, secrets_file

app = typer.Typer(
    help="学前教育管理信息系统：运维命令 (preschool registry portal operator commands)", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema: migrations.", no_args_is_help=True)
regions_app = typer.Typer(help="Region reference data: official codes and townships.", no_args_is_help=True)
secrets_app = typer.Typer(help="Local secrets for a development or pilot install.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks: print figures (no pass/fail).", no_args_is_help=True)
transfers_app = typer.Typer(help="Transfers between kindergartens (转园).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(regions_app, name="regions")
app.add_typer(secrets_app, name="secrets")
app.add_typer(bench_app, name="bench")
app.add_typer(transfers_app, name="transfers")
app.add_typer(accounts_commands.app, name="accounts")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(exchange_commands.app, name="exchange")
safety_commands.register(app)  # backup, restore, keys rotate


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Migrate the database to REVISION (default: newest) and load the official regions if absent."""
    from sqlmodel import func, select

    from portal.auth.actor import SYSTEM_ACTOR
    from portal.data import db, migrate
    from portal.data.models import Institution, InstitutionProgress, Region
    from portal.services.regions import load_official_regions

    migrate.upgrade(revision=revision)
    typer.echo(f"database at revision {migrate.current_revision()} ({_safe_url()})")
    if revision == "head":
        with db.session_scope() as session:
            has_regions = session.exec(select(func.count()).select_from(Region)).one() > 0
        if not has_regions:
            report = load_official_regions(SYSTEM_ACTOR)
            typer.echo(f"official regions loaded: {report.added}")
        with db.session_scope() as session:
            uncounted = (
                session.exec(select(func.count()).select_from(InstitutionProgress)).one() == 0
                and session.exec(select(func.count()).select_from(Institution)).one() > 0
            )
        if uncounted:  # a database from before the counters (migration 0007): count it once
            from portal.services.progress import rebuild_counters

            typer.echo(f"progress counters built: {rebuild_counters()} institutions")


@db_app.command("current")
def db_current() -> None:
    """Print the database's migration revision."""
    from portal.data import migrate

    typer.echo(migrate.current_revision() or "(empty database)")


def _safe_url() -> str:
    from sqlalchemy.engine import make_url

    from portal.data.db import normalise_url

    return make_url(normalise_url(get_settings().database_url)).render_as_string(hide_password=True)


@app.command("demo")
def demo(
    password: Annotated[str, typer.Option(help="Password of every demo account.")] = "",
    if_empty: Annotated[bool, typer.Option("--if-empty", help="Do nothing when accounts already exist.")] = False,
    scale: Annotated[
        str,
        typer.Option(
            help="Generate the Henan province of 附件2 instead: 'henan' (full size, 2.5 million children) "
            "or a fraction in (0,1], e.g. 0.01, for a proportional small one."
        ),
    ] = "",
) -> None:
    """Fill an empty database with a small demo province and one account per role (--scale: the
    Henan province of 附件2, generated in bulk)."""
    from portal.services.accounts import any_user_exists
    from portal.services.demo import DEFAULT_DEMO_PASSWORD, DEMO_ACCOUNTS, load_demo
    from portal.services.errors import ServiceError

    if if_empty and any_user_exists():
        typer.echo("accounts exist already: demo data not loaded")
        return
    if scale:
        from portal.services.henan import load_henan, parse_scale

        try:
            result = load_henan(parse_scale(scale), password=password or DEFAULT_DEMO_PASSWORD, echo=typer.echo)
        except ServiceError as exc:
            _fail(str(exc))
            return
        typer.echo(
            f"Henan demo loaded (scale {result.scale}): {result.institutions:,} institutions in "
            f"{result.counties} counties of {result.cities} cities, {result.reported:,} reported, "
            f"{result.reviewed:,} reviewed, {result.numbered:,} children numbered and {result.entered:,} "
            f"awaiting review, baseline {result.baseline:,}; {result.accounts:,} demo accounts "
            f"(demo-province, demo-city-CODE, demo-county-CODE, demo-clerk-CODE) in {result.seconds:.0f} s"
        )
        return
    try:
        summary = load_demo(password or DEFAULT_DEMO_PASSWORD)
    except ServiceError as exc:
        _fail(str(exc))
        return
    typer.echo(
        f"demo loaded: {summary.institutions} institutions, {summary.townships} townships, "
        f"{summary.accounts} accounts ({', '.join(a.username for a in DEMO_ACCOUNTS)})"
    )


@app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Option(prompt="用户名 (username)")],
    real_name: Annotated[str, typer.Option(prompt="真实姓名 (real name)")],
    phone: Annotated[str, typer.Option(prompt="联系电话 (phone)")] = "",
    region: Annotated[str, typer.Option(help="Region code; default: the deployment's province.")] = "",
) -> None:
    """Create the first real system administrator of the deployment's province.

    There is no default password: the account gets a random temporary one, printed once, valid
    temp_password_hours and single use; at first login the administrator sets a new password and
    enrols the second factor."""
    from portal.auth.actor import SYSTEM_ACTOR
    from portal.auth.roles import Duty, Level
    from portal.clock import format_local
    from portal.services.accounts import NewUser, open_account
    from portal.services.errors import ValidationError

    settings = get_settings()
    level = Level.MINISTRY if settings.deployment == "national" else Level.PROVINCE
    region_code = region or (None if level is Level.MINISTRY else settings.province_code + "0000")
    try:
        issued = open_account(
            SYSTEM_ACTOR,
            NewUser(
                username=username,
                real_name=real_name,
                phone=phone,
                level=level,
                duty=Duty.SYSADMIN,
                region_code=region_code,
                password="",
            ),
        )
    except ValidationError as exc:
        _fail("\n".join(exc.errors.values()))
        return
    typer.echo(f"administrator {issued.username} created (id {issued.user_id})")
    typer.echo(
        f"temporary password (single use, valid until {format_local(issued.expires_at)}; "
        "change it and enrol the second factor at first login):"
    )
    typer.echo(issued.password)


@regions_app.command("load")
def regions_load() -> None:
    """Load or refresh every province, city and county from the cpca package."""
    from portal.auth.actor import SYSTEM_ACTOR
    from portal.services.regions import load_official_regions

    report = load_official_regions(SYSTEM_ACTOR)
    typer.echo(f"regions: {report.added} added, {report.updated} updated")


@regions_app.command("import-townships")
def regions_import_townships(path: Path) -> None:
    """Add townships from a CSV file with the columns 代码,名称 (UTF-8 or GBK)."""
    from portal.auth.actor import SYSTEM_ACTOR
    from portal.services.errors import ServiceError
    from portal.services.regions import import_townships

    if not path.is_file():
        _fail(f"file not found: {path}")
    try:
        report = import_townships(SYSTEM_ACTOR, path.read_bytes())
    except ServiceError as exc:
        _fail(str(exc))
        return
    if not report.ok:
        _fail("nothing imported:\n" + "\n".join(report.errors))
    typer.echo(f"townships: {report.added} added, {report.updated} renamed")


@secrets_app.command("init")
def secrets_init() -> None:
    """Write random local secrets to .streamlit/secrets.toml if it has none (never overwrites)."""
    path = secrets_file()
    if path.exists():
        typer.echo(f"{path} exists: left unchanged")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Local secrets written by `python -m portal secrets init`. Never commit this file.\n"
        "[portal]\n"
        f'cookie_key = "{pysecrets.token_urlsafe(48)}"\n'
        f'encryption_key = "{pysecrets.token_urlsafe(48)}"\n',
        encoding="utf-8",
    )
    path.chmod(0o600)
    typer.echo(f"{path} written with new random secrets")


@app.command("import-children")
def import_children_command(
    path: Annotated[Path, typer.Argument(help="The workbook (.xlsx) or CSV file (UTF-8 or GBK) to import.")],
    institution: Annotated[str, typer.Option("--institution", help="The institution's 10-digit code.")],
) -> None:
    """Import children into an institution as saved drafts (the same checks as the import page).

    Exit code 0: every row accepted; 1: some rows refused (a marked workbook is written next to the
    file); 2: the file or the institution was refused and nothing was written."""
    from portal.auth.actor import SYSTEM_ACTOR
    from portal.services.child_import import import_children
    from portal.services.errors import ServiceError

    if not path.is_file():
        typer.secho(f"文件不存在：{path}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2)

    def progress(done: int, total: int) -> None:
        typer.echo(f"已处理 {done}/{total} 行", err=True)

    try:
        result = import_children(
            SYSTEM_ACTOR, path.name, path.read_bytes(), progress=progress, institution_code=institution
        )
    except ServiceError as exc:
        typer.secho(f"没有导入任何数据：{exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc
    typer.echo(
        f"总行数 {result.total}，新增 {result.inserted}，更新 {result.updated}，"
        f"未变 {result.unchanged}，拒绝 {result.refused}"
    )
    if result.duplicates_elsewhere:
        typer.echo(f"其中 {result.duplicates_elsewhere} 名幼儿的证件号码已被本省其他机构占用，提交审核时将查重。")
    for warning in result.warnings:
        typer.echo(f"提示：{warning}")
    for error in result.errors:
        typer.echo(f"第 {error.row} 行（{error.name or '未填姓名'}）：{error.summary}")
    if result.marked is not None:
        marked = path.with_name(result.marked_filename)
        marked.write_bytes(result.marked)
        typer.echo(f"已将标注了错误的工作簿写入：{marked}")
        raise typer.Exit(code=1)


@bench_app.command("import")
def bench_import(
    children: Annotated[int, typer.Option(help="Children in the scratch database before the import.")] = 1_000_000,
    rows: Annotated[int, typer.Option(help="Rows of the imported workbook.")] = 10_000,
    trials: Annotated[int, typer.Option(min=1, help="Times the import and the raw insert are each timed.")] = 3,
    database_url: Annotated[
        str,
        typer.Option(
            help="A PostgreSQL database to hold a scratch schema, dropped after (default: a temporary SQLite file)."
        ),
    ] = "",
) -> None:
    """Import ROWS children into a database of CHILDREN, against raw driver inserts of the same rows."""
    import os
    import secrets

    from portal.services.bench import run_import_bench
    from portal.settings import MIN_SECRET_LENGTH, get_settings, reset_settings_cache

    if len(get_settings().encryption_key) < MIN_SECRET_LENGTH:
        # A scratch database needs no deployment's key: a throwaway one, for this process only.
        os.environ["PORTAL_ENCRYPTION_KEY"] = secrets.token_urlsafe(48)
        reset_settings_cache()
    from portal.benchmarks.scratch import is_postgres, scratch_database

    # A PostgreSQL database gets a fresh schema of its own, dropped afterwards: every run measures
    # the same table, and nothing is left behind in the database given.
    with scratch_database(database_url if is_postgres(database_url) else None, "import") as url:
        run_import_bench(
            children_count=children,
            rows=rows,
            trials=trials,
            database_url=url if is_postgres(database_url) else None,
            echo=lambda line: typer.echo(line, err=line.startswith("  ")),
        )


@transfers_app.command("expire")
def transfers_expire() -> None:
    """Close the transfers past their deadline of working days (daily, from cron; the transfer
    pages also do it when they open)."""
    from portal.services.transfers import expire_transfers

    count = expire_transfers()
    typer.echo(f"transfers expired: {count}")


@app.command("progress")
def progress_command(
    region: Annotated[str, typer.Option(help="Region code (e.g. 410000, 410100, 410122); default: the province.")] = "",
    output_format: Annotated[str, typer.Option("--format", help="table or csv.")] = "table",
    year: Annotated[int, typer.Option(help="Statistics baseline year (default: the latest imported).")] = 0,
    rebuild: Annotated[bool, typer.Option(help="Recount every institution's figures from the rows first.")] = False,
) -> None:
    """The progress table of 附件2 for a region: one row per sub-region and a total row."""
    from portal.services import progress
    from portal.services.errors import ServiceError
    from portal.settings import get_settings

    if rebuild:
        typer.echo(f"counters rebuilt: {progress.rebuild_counters()} institutions", err=True)
    try:
        table = progress.operator_table(region or f"{get_settings().province_code}0000", year=year or None)
    except ServiceError as exc:
        _fail(str(exc))
        return
    if output_format == "csv":
        typer.echo(progress.as_csv(table).lstrip("\ufeff"), nl=False)
        return
    basis = f"{table.baseline_year}年" if table.baseline_year else "未导入"
    typer.echo(f"{table.region_name}（统计基数：{basis}）")
    typer.echo("\t".join(progress.header(table)))
    for line in progress.printed_rows(table):
        typer.echo("\t".join(line))


@app.command("snapshot")
def snapshot_command() -> None:
    """Take the month-end snapshots due and not yet taken (for cron; the bureaus' home page also
    checks): every province, city and county, on the last day of the month at 00:00 Asia/Shanghai.
    A missed month-end is taken now, with the current counters, and marked as caught up."""
    from portal.clock import utcnow
    from portal.services import snapshots

    now = utcnow()
    months = snapshots.take_due(now=now)
    if not months:
        typer.echo("no month-end snapshot due")
        return
    for month in months:
        late = " (caught up with the current counters)" if snapshots.is_caught_up(month, now) else ""
        typer.echo(f"snapshot taken: {month}{late}")


@bench_app.command("dashboard")
def bench_dashboard(
    henan_url: Annotated[
        str, typer.Option(help="A database already holding the full province (default: generate one, ~5 min).")
    ] = "",
    small_url: Annotated[str, typer.Option(help="A database holding the 1% province (default: generate one).")] = "",
    runs: Annotated[int, typer.Option(help="Timed page runs per database (the median is printed).")] = 20,
    large_scale: Annotated[str, typer.Option(help="Scale generated when no --henan-url is given.")] = "henan",
) -> None:
    """The provincial dashboard page at Henan scale and at 1%, side by side, and their ratio."""
    from portal.benchmarks.dashboard import run_dashboard_bench

    run_dashboard_bench(
        henan_url=henan_url or None,
        small_url=small_url or None,
        large_scale=large_scale,
        runs=runs,
        echo=lambda line: typer.echo(line, err=line.startswith("  ")),
    )


@bench_app.command("all")
def bench_all(
    postgres_url: Annotated[
        str, typer.Option(help="Also run every benchmark in a scratch schema of this PostgreSQL database.")
    ] = "",
    scale: Annotated[
        float,
        typer.Option(help="Size factor: 1 = 100,000 children, a 2,500-page review backlog, dashboards at 0.1/0.01."),
    ] = 1.0,
    runs: Annotated[int, typer.Option(help="Timed runs per figure (the median is printed).")] = 15,
    browser: Annotated[
        bool, typer.Option(help="Also measure a real streamlit run server driven by headless Chromium.")
    ] = True,
) -> None:
    """Every benchmark (import, duplicate look-up, review-queue page, dashboard, month-end snapshot,
    peak memory) on SQLite and, given --postgres-url, on PostgreSQL: one table of figures and ratios."""
    from portal.benchmarks.suite import run_all

    if scale <= 0:
        _fail("--scale must be positive")
    run_all(
        postgres_url=postgres_url or None,
        scale=scale,
        runs=runs,
        browser=browser,
        echo=lambda line: typer.echo(
            line, err=line.startswith("  ") or (line.endswith(":") and "bench all" not in line)
        ),
    )


@app.command("load")
def load_command(
    sessions: Annotated[int, typer.Option(help="Simultaneous sessions: half clerks, half county reviewers.")] = 20,
    seconds: Annotated[float, typer.Option(help="How long the sessions run (after they have logged in).")] = 30.0,
    max_ops: Annotated[int, typer.Option(help="At most this many operations per session.")] = 1000,
    database_url: Annotated[
        str, typer.Option(help="A PostgreSQL database to hold a scratch schema (default: a temporary SQLite file).")
    ] = "",
    busy_timeout_ms: Annotated[int, typer.Option(help="SQLite busy timeout (default: the setting).")] = 0,
    driver: Annotated[
        str,
        typer.Option(
            help="pages: one Streamlit AppTest of the real entrypoint per session, logging in and clicking "
            "the real pages; services: one thread per session calling the service layer."
        ),
    ] = "pages",
) -> None:
    """The deadline peak: clerks saving and submitting children and reviewers approving, at once,
    through the real pages (AppTest sessions) or the service layer; throughput, p50/p95 latency,
    errors by kind, and a check that no write was lost and no request approved twice (exit 1 if
    one was)."""
    from portal.benchmarks.load import DRIVERS, run_load

    if driver not in DRIVERS:
        raise typer.BadParameter(f"one of {', '.join(DRIVERS)}", param_hint="--driver")
    report = run_load(
        sessions=sessions,
        seconds=seconds,
        max_ops=max_ops,
        database_url=database_url or None,
        busy_timeout_ms=busy_timeout_ms or None,
        driver=driver,
        echo=lambda line: typer.echo(line, err=line.startswith(("preparing", "logging"))),
    )
    if not report.consistent:
        raise typer.Exit(code=1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
