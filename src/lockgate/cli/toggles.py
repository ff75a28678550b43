"""Break-glass toggles: ``lockgate {hosts,gateways,servers} {list,disable,enable} NAME`` and
``lockgate connections {list,disable,enable} --host H --gateway G [--user EMAIL]``."""

from __future__ import annotations

from typing import Annotated

import typer

from lockgate.cli.context import fail, load_settings, open_store, table
from lockgate.store.catalog import (
    Toggleable,
    list_connections,
    list_rows,
    set_connection_enabled,
    set_enabled,
)
from lockgate.store.errors import NotFoundError

COLUMNS: dict[Toggleable, list[str]] = {
    "hosts": ["name", "kind", "enabled"],
    "gateways": ["name", "enabled", "archived"],
    "servers": ["name", "transport", "enabled"],
}


def resource_group(kind: Toggleable) -> typer.Typer:
    group = typer.Typer(help=f"List, disable and enable {kind}.", no_args_is_help=True)
    noun = kind[:-1]

    def toggle(name: str, enabled: bool) -> None:
        try:
            changed = set_enabled(open_store(load_settings()), kind, name, enabled)
        except NotFoundError as exc:
            fail(str(exc))
        state = "enabled" if enabled else "disabled"
        typer.echo(f"{noun} {name} {state}" if changed else f"{noun} {name} was already {state}")

    @group.command("list")
    def list_() -> None:
        """List them with their toggles."""
        table(list_rows(open_store(load_settings()), kind), COLUMNS[kind])

    @group.command("disable")
    def disable(name: Annotated[str, typer.Argument()]) -> None:
        """Refuse traffic from the next request on. Nothing is deleted."""
        toggle(name, False)

    @group.command("enable")
    def enable(name: Annotated[str, typer.Argument()]) -> None:
        """Restore traffic from the next request on."""
        toggle(name, True)

    return group


connections = typer.Typer(
    help="List, disable and enable connections (host × gateway × user).", no_args_is_help=True
)
Host = Annotated[str, typer.Option(help="The host.")]
Gateway = Annotated[str, typer.Option(help="The gateway.")]
User = Annotated[str | None, typer.Option(help="The user's email (default: the host's agent user).")]


def _toggle_connection(host: str, gateway: str, user: str | None, enabled: bool) -> None:
    try:
        changed = set_connection_enabled(open_store(load_settings()), host, gateway, user, enabled)
    except NotFoundError as exc:
        fail(str(exc))
    state = "enabled" if enabled else "disabled"
    typer.echo(f"connection {host} → {gateway} {state}" if changed else f"connection was already {state}")


@connections.command("list")
def list_connections_() -> None:
    """Every connection with its toggle."""
    table(list_connections(open_store(load_settings())), ["host", "gateway", "user", "enabled"])


@connections.command("disable")
def disable_connection(host: Host, gateway: Gateway, user: User = None) -> None:
    """Sever one host-to-gateway link for one user, from the next request on."""
    _toggle_connection(host, gateway, user, False)


@connections.command("enable")
def enable_connection(host: Host, gateway: Gateway, user: User = None) -> None:
    """Restore one connection."""
    _toggle_connection(host, gateway, user, True)
