"""The ``lockgate`` command: the instance's own commands, and one command group per group of the
operation table (``cli/operations.py``), assembled here. ``docs/cli.md`` is the reference."""

from __future__ import annotations

from typing import Annotated

import typer

from lockgate.api.table import OPERATIONS
from lockgate.cli import declarative, demo, logs, passwords, serve, setup, vault
from lockgate.cli.lookups import Lookup
from lockgate.cli.operations import build_groups

LOOKUPS = {"connections": Lookup("connection", ("host", "gateway", "user"))}
TOKEN_ALIAS_HELP = (
    "The tokens commands with required values as options (token create --host H --gateway G), "
    "as before the tokens group; kept for scripts."
)

app = typer.Typer(
    help="Lockgate: a self-hosted, governed MCP gateway.", no_args_is_help=True, rich_markup_mode=None
)


@app.callback()
def connect(
    url: Annotated[
        str | None,
        typer.Option(
            envvar="LOCKGATE_URL",
            help="A running Lockgate (http://host:8080) whose API the commands call. Without it they "
            "act on the local store as the instance operator.",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="LOCKGATE_TOKEN", help="Your personal access token (lgp_...), with --url."),
    ] = None,
) -> None:
    """The options every command shares; commands read them from the root context."""


app.command("init")(setup.init)
app.command("plan")(declarative.plan)
app.command("apply")(declarative.apply)
app.command("export")(declarative.export)
app.command("serve")(serve.serve)
app.command("demo")(demo.demo)
app.add_typer(vault.app, name="vault")
groups = build_groups(  # the declaration operations are plan, apply and export, with files
    [op for op in OPERATIONS if op.group != "declaration"], lookups=LOOKUPS
)
groups["users"].command("set-password")(passwords.set_password)
groups["logs"].callback(
    invoke_without_command=True,
    no_args_is_help=False,
    subcommand_metavar="[COMMAND [ARGS]...]",
    help=logs.HELP,
)(logs.logs)
for name, group in groups.items():
    app.add_typer(group, name=name)
token_alias = build_groups([op for op in OPERATIONS if op.group == "tokens"], positional=False)["tokens"]
app.add_typer(token_alias, name="token", help=TOKEN_ALIAS_HELP, hidden=True)


def main() -> None:
    app()
