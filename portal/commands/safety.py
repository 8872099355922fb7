"""``python -m portal backup | restore | keys rotate``: data safety (backups and the encryption key)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

keys_app = typer.Typer(help="The encryption key of personal data: rotation.", no_args_is_help=True)


def _fail(message: str) -> None:
    typer.secho(message, fg=typer.colors.RED, err=True)
    raise typer.Exit(code=1)


def _progress(line: str) -> None:
    typer.echo(line, err=True)


def backup_command(
    directory: Annotated[
        Path | None, typer.Argument(help="Where to write the backup (default: backup_dir, var/backups).")
    ] = None,
    keep: Annotated[
        int | None, typer.Option(help="Keep this many newest backups in DIR (default: backup_keep, 14).", min=1)
    ] = None,
) -> None:
    """Back up the database (SQLite online backup / pg_dump), verify it, write its manifest and keep
    the newest N. Daily from cron or a systemd timer (see the README)."""
    from portal.services.backup import BackupError, backup

    try:
        result = backup(directory, keep, echo=_progress)
    except BackupError as exc:
        _fail(f"备份失败：{exc}")
        return
    typer.echo(
        f"backup written and verified: {result.path} ({result.size / 1_048_576:.1f} MiB, {result.tables} tables, "
        f"{result.rows:,} rows, revision {result.revision}, {result.seconds:.1f} s)"
    )
    typer.echo(f"manifest: {result.manifest_path}")
    for path in result.deleted:
        typer.echo(f"older backup removed: {path.name}")


def restore_command(
    path: Annotated[
        Path, typer.Argument(help="The backup file (.sqlite3 or .dump) with its .manifest.json beside it.")
    ],
    database_url: Annotated[
        str,
        typer.Option(
            "--database-url", help="The EMPTY database to restore into, e.g. sqlite:////srv/portal/var/restored.db."
        ),
    ],
) -> None:
    """Restore a backup into an empty database and check every table against the manifest."""
    from portal.services.backup import BackupError, restore

    try:
        result = restore(path, database_url, echo=_progress)
    except BackupError as exc:
        _fail(f"恢复失败：{exc}")
        return
    typer.echo(
        f"restored into {result.target}: {result.tables} tables, {result.rows:,} rows, every table equal to the "
        f"manifest ({result.seconds:.1f} s)"
    )
    if result.schema and result.schema != "public":
        typer.echo(
            f"the data are in schema {result.schema}: connect with options=-csearch_path%3D{result.schema} in the URL"
        )
    if result.needs_upgrade:
        typer.echo(
            f"the backup is at revision {result.revision}, the code at {result.head_revision}: run "
            "`DATABASE_URL=... python -m portal db upgrade` before starting the portal on it"
        )
    typer.echo("to use it: set DATABASE_URL to this database and start the portal")


STOP_FIRST = (
    "Stop every portal process first (the Streamlit server, cron jobs such as backup and snapshot): a\n"
    "process still running with the old key would write personal data that the new key cannot read.\n"
    "Take a backup first (python -m portal backup), and keep the current key, offline, as long as you\n"
    "keep the backups made with it: they can only be read with it."
)


@keys_app.command("rotate")
def keys_rotate(
    new_key: Annotated[
        str,
        typer.Option(
            "--new-key",
            envvar="PORTAL_NEW_ENCRYPTION_KEY",
            help="The new key (at least 32 characters; default: a random one is generated). Prefer the "
            "environment variable PORTAL_NEW_ENCRYPTION_KEY to the command line, which ps shows.",
            show_default=False,
        ),
    ] = "",
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask: the portal is stopped.")] = False,
    write_secrets: Annotated[
        bool | None,
        typer.Option(
            "--write-secrets/--no-write-secrets",
            help="Put the new key into the secrets file when the key came from there (default: ask).",
        ),
    ] = None,
    batch: Annotated[int, typer.Option(help="Rows read and written at a time.", min=1)] = 500,
) -> None:
    """Re-encrypt every encrypted column and recompute every look-up hash with a new key, in one
    transaction (nothing changes on any error); then the secrets file is updated (or you are told
    what to update)."""
    from portal.data import crypto
    from portal.services import keys
    from portal.services.errors import ServiceError
    from portal.settings import SettingsError, secrets_file

    try:
        current = crypto.active_secret()
    except SettingsError as exc:
        _fail(str(exc))
        return
    generated = not new_key
    key = new_key or keys.generate_key()
    try:
        keys.check_new_key(key, current)
    except ServiceError as exc:
        _fail(str(exc))
        return
    source = keys.key_source()
    typer.echo(STOP_FIRST)
    if not yes and not typer.confirm("Is the portal stopped? Rotate the key now?", default=False):
        _fail("not rotated: nothing changed")
        return
    if source == "file" and write_secrets is None:
        write_secrets = yes or typer.confirm(
            f"The key comes from {secrets_file()}: write the new key there after the rotation?", default=True
        )
    try:
        result = keys.rotate_encryption_key(key, batch=batch, echo=_progress)
    except ServiceError as exc:
        _fail(f"密钥未轮换：{exc}")
        return
    typer.echo(
        f"key rotated: {result.children:,} children, {result.users} second-factor secrets, {result.requests} "
        f"requests; {result.values:,} values re-encrypted, {result.hashes:,} look-up hashes recomputed "
        f"({result.seconds:.1f} s)"
    )
    for column, count in sorted(result.mismatched.items()):
        typer.echo(f"  {column}: {count} did not match their record and were recomputed from the values stored now")
    saved = False
    if source == "file" and write_secrets:
        try:
            typer.echo(f"new key written to {keys.update_secrets_file(key)}")
            saved = True
        except (OSError, ServiceError) as exc:
            typer.secho(f"could not write the secrets file: {exc}", fg=typer.colors.RED, err=True)
    if not saved:
        where = (
            "PORTAL_ENCRYPTION_KEY in the portal's environment (systemd unit or EnvironmentFile, container, "
            "shell profile)"
            if source == "environment"
            else f"encryption_key in the [portal] table of {secrets_file()} (or PORTAL_ENCRYPTION_KEY)"
        )
        typer.secho(
            f"THE DATABASE NOW NEEDS THE NEW KEY. Put it in {where} before starting the portal.",
            fg=typer.colors.YELLOW,
            err=True,
        )
        if generated:
            typer.echo("new key (shown once; store it now):")
            typer.echo(key)
    if source == "environment" and keys.secrets_file_has_key():
        typer.echo(f"note: {secrets_file()} also holds an encryption_key (the old one): update or remove it")
    typer.echo("then start the portal again")


def register(app: typer.Typer) -> None:
    """Add the commands to ``python -m portal``."""
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
    app.add_typer(keys_app, name="keys")
