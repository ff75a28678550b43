"""The CLI reference, ``docs/cli.md``, generated from the command tree itself: every command with its
usage, arguments, options and help. ``python -m lockgate.cli.reference > docs/cli.md`` writes it;
``tests/cli/test_reference.py`` fails when the file is stale."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from lockgate.cli import app

REGENERATE = "python -m lockgate.cli.reference > docs/cli.md"

INTRO = f"""\
# The `lockgate` command line

Generated from the CLI itself by `{REGENERATE}`; do not edit by hand.

## How the commands work

- **One command per control-plane operation.** `lockgate <group> <command>` runs one operation of the
  JSON API (`/api/v1`): path parameters and required values are positional arguments
  (`lockgate gateways assign engineering time --prefix t`), other fields are options. A `bool` field
  is `--name/--no-name`; a list field is a repeated option (`--arg -m --arg mcp_server_time`; the
  plural `--args` works too); a dict field is a repeated `--env KEY=VALUE` or `--header 'Name: value'`;
  anything more complex takes JSON or `@FILE` (JSON, or YAML for `.yaml`/`.yml`). `--json` gives the
  whole input at once (`--json @server.json`); options given beside it win. `--if-match N` sends
  `If-Match: "N"`: the change applies only if the resource is still at version `N`. Options left out
  are not sent, so the API's defaults apply.
- **Where commands go.** With `--url URL` (or `LOCKGATE_URL`) before the command, they call that
  Lockgate's API (`http://host:8080` or `http://host:8080/api/v1`) with the personal access token
  in `--token` (or `LOCKGATE_TOKEN`), as that token's user. Without a URL they run the same operations
  in process on the local store (`LOCKGATE_DATA_DIR`, `LOCKGATE_DATABASE_URL`) as the instance
  operator: whoever can read the store's secret key can already change anything, so the operator
  holds every capability; its changes are recorded as admin events by `operator@<login name>`.
- **Output.** `-o table` (the default) prints a list as an aligned table of the operation's columns
  (the next page's `--cursor` on stderr) and one object as `key: value` lines; `-o json` prints the
  API's JSON as it is, for scripts, and `-o yaml` the same as YAML. `servers features` prints one
  narrow table (kind, name, title, description cut to the terminal's width), and with `--gateway` and
  `--assignment` a last line of the sizes before and after that assignment's metadata filter; `-o json`
  and `-o yaml` give every feature's whole definition. A value shown once (a new token) is printed
  last, alone on stdout, with a note on stderr: `$(lockgate tokens create HOST GATEWAY)` is the token.
- **Failures** print `error: <the API's message>` on stderr, naming the offending field or the
  missing capability, and exit 1. Usage errors exit 2.
- **Picking a connection.** `connections get|disable|enable` take the connection's id, or pick it
  with `--host H --gateway G [--user EMAIL]` (it must match exactly one).
- **Compatibility.** `lockgate token ...` (hidden) is `lockgate tokens ...` with required values as
  options: `lockgate token create --host H --gateway G [--user EMAIL]`, as before the tokens group.
- **Completion.** `lockgate --install-completion` installs shell completion; arguments and options
  named for a resource (`gateway`, `server`, `host`, `team`, ...) complete from its `list`.

## Commands
"""


def render_reference() -> str:
    """The whole reference as Markdown."""
    root = typer.main.get_command(app)
    sections = [_section(path, command, ctx) for path, command, ctx in walk(root, "lockgate")]
    return INTRO + "\n" + "\n".join(sections)


def walk(command: Any, name: str, parent: Any = None) -> Iterator[tuple[str, Any, Any]]:
    """Every command of the tree, depth first in registration order: (path, command, context)."""
    ctx = typer.Context(command, info_name=name, parent=parent)
    path = f"{parent.command_path} {name}" if parent is not None else name
    yield path, command, ctx
    for sub_name, sub in subcommands(command, ctx):
        yield from walk(sub, sub_name, ctx)


def subcommands(command: Any, ctx: Any) -> list[tuple[str, Any]]:
    """A group's commands in order, hidden ones included, loading the root's lazy ones; [] for a
    command."""
    if not hasattr(command, "list_commands"):
        return []
    return [(name, command.get_command(ctx, name)) for name in command.list_commands(ctx)]


def _section(path: str, command: Any, ctx: Any) -> str:
    lines = [f"### {path}", ""]
    if command.hidden:
        lines += ["*Hidden from `--help`; kept for scripts.*", ""]
    lines += [command.help or "", "", "```", command.get_usage(ctx).removeprefix("Usage: "), "```", ""]
    params = [p for p in command.get_params(ctx) if p.name != "help"]
    for kind, title in (("argument", "Arguments"), ("option", "Options")):
        records = [p.get_help_record(ctx) for p in params if p.param_type_name == kind]
        if records:
            lines += [
                f"{title}:",
                "",
                *(f"- `{names}`" + (f": {text}" if text else "") for names, text in records),
                "",
            ]
    commands = subcommands(command, ctx)
    if commands:
        lines += ["Commands:", ""]
        for name, sub in commands:
            anchor = f"{path} {name}".replace(" ", "-")
            lines.append(f"- [`{name}`](#{anchor}): {sub.get_short_help_str(limit=200)}")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    typer.echo(render_reference(), nl=False)
