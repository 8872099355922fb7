"""``python -m portal exchange``: the ministry exchange (R8.5) at the command line.

A province exports its package and imports the ministry's duplicates report; the ministry (the
national deployment) imports the provinces' packages and writes each province's report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The ministry exchange: packages, imports and duplicates reports.", no_args_is_help=True)


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        _fail(f"无法读取文件 {path}：{exc.strerror or exc}")
        raise  # unreachable: _fail exits


@app.command("export")
def export_command(file: Annotated[Path, typer.Argument(help="Where to write the package (JSON).")]) -> None:
    """Write this province's exchange package (progress, snapshots, projects, hashed register), signed."""
    from portal.auth.actor import SYSTEM_ACTOR
    from portal.services.errors import ServiceError
    from portal.services.exchange import export_package

    try:
        written = export_package(SYSTEM_ACTOR)
    except ServiceError as exc:
        _fail(str(exc))
        return
    file.write_bytes(written.data)
    typer.echo(
        f"exchange package {written.sequence} of province {written.province_code} written to {file} "
        f"({written.children} hashed register entries, id {written.package_id})"
    )


@app.command("import")
def import_command(files: Annotated[list[Path], typer.Argument(help="Packages of the provinces.")]) -> None:
    """Import provinces' packages (national deployment). Each is verified on its own; exit 1 if any is refused."""
    from portal.auth.actor import SYSTEM_ACTOR
    from portal.services.errors import ServiceError
    from portal.services.exchange import import_package

    refused = 0
    for path in files:
        try:
            done = import_package(SYSTEM_ACTOR, _read(path))
        except ServiceError as exc:
            typer.secho(f"{path}: 已拒绝：{exc}", fg=typer.colors.RED, err=True)
            refused += 1
            continue
        typer.echo(
            f"{path}: {done.province_name}（{done.province_code}）第 {done.sequence} 号已导入，"
            f"学籍登记 {done.children} 条，与外省重复 {done.duplicates} 名"
        )
    if refused:
        raise typer.Exit(code=1)


@app.command("duplicates")
def duplicates_command(
    file: Annotated[Path, typer.Argument(help="Where to write the report (JSON).")],
    province: Annotated[str, typer.Option("--province", help="The province's two-digit code, e.g. 41.")],
) -> None:
    """Write a province's signed cross-province duplicates report (national deployment)."""
    from portal.auth.actor import SYSTEM_ACTOR
    from portal.services.errors import ServiceError
    from portal.services.exchange import duplicates_report

    try:
        written = duplicates_report(SYSTEM_ACTOR, province)
    except ServiceError as exc:
        _fail(str(exc))
        return
    file.write_bytes(written.data)
    typer.echo(f"duplicates report {written.sequence} for province {province}: {written.children} children, {file}")


@app.command("import-duplicates")
def import_duplicates_command(file: Annotated[Path, typer.Argument(help="The ministry's report.")]) -> None:
    """Import the ministry's duplicates report: the children listed become problem records."""
    from portal.auth.actor import SYSTEM_ACTOR
    from portal.services.errors import ServiceError
    from portal.services.exchange import import_duplicates

    try:
        done = import_duplicates(SYSTEM_ACTOR, _read(file))
    except ServiceError as exc:
        _fail(str(exc))
        return
    typer.echo(
        f"duplicates report {done.sequence}: {done.listed} listed, {done.marked} now problem records, "
        f"{done.skipped} skipped"
    )
