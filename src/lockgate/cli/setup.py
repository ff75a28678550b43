"""``lockgate init``: the data directory, the key, the schema and the first Super admin."""

from __future__ import annotations

from typing import Annotated

import typer

from lockgate.cli.client import operator_actor
from lockgate.cli.context import load_settings, open_store
from lockgate.store.people import bootstrap_super_admin


def init(
    admin_email: Annotated[
        str, typer.Option(help="The first Super admin's email (only when there is none yet).")
    ] = "admin@localhost",
) -> None:
    """Create the data directory, the secret key and the vault key file (both owner-only, unless
    LOCKGATE_SECRET_KEY / LOCKGATE_MASTER_KEY are set), the store's schema and the first
    Super admin, whose personal access token is printed once, as the last line."""
    settings = load_settings()
    settings.ensure_data_dir()
    key = settings.key_bytes(create=True)
    settings.key_ring(create=True)
    engine = open_store(settings)
    typer.echo(f"initialized {settings.data_dir} ({settings.resolved_database_url.split('://')[0]})")
    token = bootstrap_super_admin(engine, key, admin_email, recorded_as=operator_actor().email)
    if token is None:
        typer.echo("a Super admin already exists; no token was created", err=True)
        return
    typer.echo(f"Super admin {admin_email}: personal access token, shown once (LOCKGATE_TOKEN):", err=True)
    typer.echo(token)
