"""The ``lockgate`` command: the instance's own commands, and one command group per group of the
operation table (``cli/groups.py``). ``docs/cli.md`` is the reference.

The root is built from ``COMMANDS``, a light description of its commands: each names the module
that implements it, which is imported only when that command runs, completes or shows its help.
This is the one place the CLI imports lazily, and the reason is start-up time: the store, the
operation table and the server bring in SQLAlchemy, Alembic, Starlette, the MCP SDK and pydantic
models, about two seconds of imports that ``lockgate --help`` should not pay
(``tests/cli/test_startup.py`` holds that it does not).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import typer
import typer.core


@dataclass(frozen=True, slots=True)
class Entry:
    """One command of the root: ``target`` is ``module:attribute``, a command function or a
    ``typer.Typer`` (a group), or a mapping of groups by command name; ``help`` is its one line
    in ``lockgate --help``, and a group's help (unless its callback gives its own)."""

    target: str
    help: str
    hidden: bool = False

    def load(self, name: str) -> Any:
        module, attribute = self.target.split(":")
        value = getattr(importlib.import_module(module), attribute)
        return value[name] if isinstance(value, Mapping) else value


GROUPS = "lockgate.cli.groups:GROUPS"
COMMANDS: dict[str, Entry] = {
    "init": Entry(
        "lockgate.cli.setup:init", "Create the data directory, keys, schema and first Super admin."
    ),
    "plan": Entry("lockgate.cli.declarative:plan", "Show what apply would create, change and delete."),
    "apply": Entry("lockgate.cli.declarative:apply", "Create and update what a declarative file declares."),
    "export": Entry(
        "lockgate.cli.declarative:export", "Write the whole configuration as a declarative file."
    ),
    "serve": Entry("lockgate.cli.serve:serve", "Serve the gateway, the control plane and the web pages."),
    "demo": Entry("lockgate.cli.demo:demo", "Run a demo gateway in front of real MCP servers."),
    "vault": Entry("lockgate.cli.vault:app", "The credential vault's key ring."),
    "servers": Entry(
        GROUPS, "Servers: add, edit, delete; the break-glass toggle; a preview of their features."
    ),
    "gateways": Entry(GROUPS, "Gateways: create, rename, delete; assign servers; grant teams."),
    "provisioning": Entry(
        GROUPS, "Feature provisioning of an assignment: modes, approvals and pins, reviews, metadata filter."
    ),
    "rules": Entry(
        GROUPS, "A gateway's rules: inspect tool traffic, block or redact; test one on a sample locally."
    ),
    "engines": Entry(GROUPS, "Rule engines: outside services rules ask (webhook, Lakera, Bedrock, ...)."),
    "identities": Entry(
        GROUPS, "Identities: credentials scoped to one server, private to their owner or global."
    ),
    "hosts": Entry(GROUPS, "Hosts: the MCP clients that reach gateways."),
    "connections": Entry(GROUPS, "Connections: one host reaching one gateway as one user."),
    "tokens": Entry(GROUPS, "API tokens: what token-based hosts present to reach a gateway."),
    "users": Entry(GROUPS, "Users: invite, list, get, set their role, deactivate and reactivate."),
    "roles": Entry(GROUPS, "Roles: named sets of capabilities."),
    "capabilities": Entry(GROUPS, "Capabilities: every permission a role can hold."),
    "teams": Entry(GROUPS, "Teams: create, rename, delete, add and remove members."),
    "me": Entry(GROUPS, "Who you are: your email, role, capabilities, teams and gateways."),
    "pats": Entry(GROUPS, "Personal access tokens: your own tokens for the API and the CLI."),
    "events": Entry(GROUPS, "Admin events: every control-plane change, who made it, before and after."),
    "logs": Entry(GROUPS, "Traffic log entries, newest first, or one message's legs."),
    "token": Entry(
        GROUPS,
        "The tokens commands with required values as options (token create --host H --gateway G), "
        "as before the tokens group; kept for scripts.",
        hidden=True,
    ),
}


class LazyGroup(typer.core.TyperGroup):
    """The root group: lists ``COMMANDS`` from their ``help`` and loads one only when it is used."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.commands[cmd_name] = load_command(cmd_name, COMMANDS[cmd_name])
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [(name, entry.help) for name, entry in COMMANDS.items() if not entry.hidden]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def load_command(name: str, entry: Entry) -> Any:
    """The click command of one entry, built by typer as ``app.add_typer``/``app.command`` would."""
    holder = typer.Typer(rich_markup_mode=None)
    target = entry.load(name)
    if isinstance(target, typer.Typer):
        if target.registered_callback is not None and target.registered_callback.help:
            holder.add_typer(target, name=name, short_help=entry.help, hidden=entry.hidden)  # ``logs``
        else:
            holder.add_typer(target, name=name, help=entry.help, short_help=entry.help, hidden=entry.hidden)
    else:
        holder.command(name, short_help=entry.help, hidden=entry.hidden)(target)
    return typer.main.get_group(holder).commands[name]


app = typer.Typer(
    cls=LazyGroup,
    help="Lockgate: a self-hosted, governed MCP gateway.",
    no_args_is_help=True,
    rich_markup_mode=None,
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


def main() -> None:
    app()
