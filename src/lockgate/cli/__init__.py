"""The ``lockgate`` command: one module per command group, assembled here."""

from __future__ import annotations

import typer

from lockgate.cli import demo, logs, serve, setup, toggles, tokens

app = typer.Typer(help="Lockgate: a self-hosted, governed MCP gateway.", no_args_is_help=True)
app.command("init")(setup.init)
app.command("apply")(setup.apply)
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.command("logs")(logs.logs)
app.add_typer(tokens.app, name="token")
for group in ("hosts", "gateways", "servers"):
    app.add_typer(toggles.resource_group(group), name=group)
app.add_typer(toggles.connections, name="connections")


def main() -> None:
    app()
