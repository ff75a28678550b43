"""``lockgate token create|list|revoke``."""

from __future__ import annotations

import datetime
from typing import Annotated

import typer

from lockgate.cli.context import fail, load_settings, open_store, table
from lockgate.store.tokens import NotFoundError, create_token, list_tokens, revoke_token

app = typer.Typer(help="API tokens for token-based hosts.", no_args_is_help=True)


@app.command("create")
def create(
    host: Annotated[str, typer.Option(help="The token-based host.")],
    gateway: Annotated[str, typer.Option(help="The gateway the token reaches.")],
    user: Annotated[
        str | None, typer.Option(help="The user it acts as (default: the host's agent user).")
    ] = None,
) -> None:
    """Mint a token for host × gateway × user. The token is printed once, as the last line."""
    settings = load_settings()
    engine = open_store(settings)
    try:
        public_id, token = create_token(engine, settings.key_bytes(), host, gateway, user)
    except NotFoundError as exc:
        fail(str(exc))
    typer.echo(f"created token {public_id} for host {host}, gateway {gateway}; it is shown once:", err=True)
    typer.echo(token)


@app.command("list")
def list_() -> None:
    """Every token (never the token itself)."""
    rows = list_tokens(open_store(load_settings()))
    for row in rows:
        row["created_at"] = _when(row["created_at"])
        row["revoked_at"] = _when(row["revoked_at"]) if row["revoked_at"] else "-"
    table(rows, ["id", "host", "gateway", "user", "created_at", "revoked_at"])


@app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="The token's id (tok_...).")]) -> None:
    """Revoke a token; it is refused from the next request on."""
    try:
        changed = revoke_token(open_store(load_settings()), token_id)
    except NotFoundError as exc:
        fail(str(exc))
    typer.echo(f"revoked {token_id}" if changed else f"{token_id} was already revoked")


def _when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
