"""``python -m portal accounts``: the daily job and the operator's account commands."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Accounts: the daily job, the operator's reset and enable.", no_args_is_help=True)


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code=1)


@app.command("daily")
def daily() -> None:
    """The daily job (cron): disable accounts idle for account_idle_days, end password loans whose time ran out."""
    from portal.data import db
    from portal.services.accounts import disable_idle_accounts
    from portal.services.loans import end_due_loans

    disabled = disable_idle_accounts()
    with db.session_scope(write=True) as session:
        ended = end_due_loans(session)
    typer.echo(f"idle accounts disabled: {len(disabled)}" + (f" ({', '.join(disabled)})" if disabled else ""))
    typer.echo(f"password loans ended: {ended}")


@app.command("reset-password")
def reset_password_command(username: Annotated[str, typer.Argument(help="The account's username.")]) -> None:
    """Issue a temporary password (single use, valid temp_password_hours) to an account that has no
    administrator above it in this deployment (the province's own administrators)."""
    from portal.auth.actor import SYSTEM_ACTOR
    from portal.clock import format_local
    from portal.services.accounts import reset_password, user_id_of
    from portal.services.errors import ServiceError

    try:
        issued = reset_password(SYSTEM_ACTOR, user_id_of(username))
    except ServiceError as exc:
        _fail(str(exc))
        return
    typer.echo(f"temporary password for {issued.username} (single use, valid until {format_local(issued.expires_at)}):")
    typer.echo(issued.password)


@app.command("enable")
def enable_command(
    username: Annotated[str, typer.Argument(help="The account's username.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the register of grants).")] = "由运维人员启用",
) -> None:
    """Enable a disabled account (for example the province's administrator after the idle job)."""
    from portal.auth.actor import SYSTEM_ACTOR
    from portal.services.accounts import set_active, user_id_of
    from portal.services.errors import ServiceError

    try:
        set_active(SYSTEM_ACTOR, user_id_of(username), True, reason)
    except ServiceError as exc:
        _fail(str(exc))
        return
    typer.echo(f"{username} enabled")
