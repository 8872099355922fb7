"""``python -m portal audit``: verify the audit log's hash chain, purge what is past its keeping."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="The audit log: verify its hash chain, purge rows past their retention.", no_args_is_help=True)


@app.command("verify")
def verify(
    batch_size: Annotated[int, typer.Option(help="Rows read at a time.")] = 5000,
) -> None:
    """Walk the audit log's hash chain. Exit code 0: intact (prints the rows checked); 1: broken
    (prints the id of the first broken row and why)."""
    from portal.auth.actor import SYSTEM_ACTOR
    from portal.services.audit_integrity import verify_chain

    report = verify_chain(SYSTEM_ACTOR, batch_size=batch_size)
    if not report.ok:
        typer.secho(f"audit chain broken at row {report.broken_id}: {report.reason}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    typer.echo(f"audit chain intact: {report.checked} rows checked (last id {report.last_id})")


@app.command("purge")
def purge(
    older_than_days: Annotated[
        int | None,
        typer.Option(help="Delete rows older than this many days (default: audit_retention_days; never under 183)."),
    ] = None,
) -> None:
    """Delete the oldest audit rows, those older than the retention, keeping the chain verifiable
    (the chain must verify first). Rows younger than six months are never deleted."""
    from portal.clock import format_local
    from portal.services.audit_integrity import MIN_RETENTION_DAYS, purge_expired
    from portal.services.errors import ServiceError

    if older_than_days is not None and older_than_days < MIN_RETENTION_DAYS:
        typer.echo(
            f"rows younger than {MIN_RETENTION_DAYS} days are never purged: using {MIN_RETENTION_DAYS}", err=True
        )
    try:
        result = purge_expired(older_than_days=older_than_days)
    except ServiceError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(
        f"audit rows purged: {result.deleted} (logged before {format_local(result.cutoff)}); "
        f"the chain now starts after row {result.anchor_id}"
    )
