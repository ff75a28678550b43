"""``lockgate plan -f FILE``, ``lockgate apply -f FILE [--prune]`` and ``lockgate export``: the
configuration as a file under version control, the Terraform way.

A file may give an env or header value or an OAuth client secret literally or as
``{from_env: NAME}``, read from the environment of whoever runs the command (never the server's).
An unset variable keeps the value already stored. ``export`` writes every such value as
``{from_env: LOCKGATE_SECRET_...}``: exports carry no secrets, and applying an export back changes
nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import orjson
import pydantic
import typer
import yaml

from lockgate.api.table import BY_ID
from lockgate.cli.context import call, fail
from lockgate.cli.output import Format
from lockgate.domain.declaration import Declaration
from lockgate.domain.plan import SECRET_FIELDS, SERVER_SECRET_VALUES

VARIABLE_PARTS = {"env": "ENV", "headers": "HEADER"}  # per field of SECRET_FIELDS
File = Annotated[Path, typer.Option("--file", "-f", help="The declarative YAML file.")]
Prune = Annotated[bool, typer.Option(help="Also delete what the file no longer names.")]
Output = Annotated[Format, typer.Option("--output", "-o", help="table (for people) or json.")]


def secret_variable(server: str, field: str, key: str | None = None) -> str:
    """The environment variable an export names for one env or header value (``key``), or for a
    secret value such as ``oauth_client_secret``."""
    raw = (
        f"LOCKGATE_SECRET_{server}_{VARIABLE_PARTS[field]}_{key}"
        if key is not None
        else f"LOCKGATE_SECRET_{server}_{field}"
    )
    return re.sub(r"[^A-Z0-9]+", "_", raw.upper()).strip("_")


def read_declaration(path: Path) -> dict[str, Any]:
    """The file as the API takes it: ``{from_env: NAME}`` resolved (None when NAME is unset).

    Exits with the offending field named when the file is not a valid declaration.
    """
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except yaml.YAMLError as exc:
        fail(f"{path} is not valid YAML: {exc}")
    if not isinstance(data, dict):
        fail(f"{path}: a declaration is a mapping of servers, gateways, hosts, teams and roles")
    for index, server in enumerate(data.get("servers") or []):
        for field in SECRET_FIELDS:
            values = server.get(field) if isinstance(server, dict) else None
            if isinstance(values, dict):
                server[field] = {k: _resolve(v, f"servers.{index}.{field}.{k}") for k, v in values.items()}
        for field in SERVER_SECRET_VALUES:
            if isinstance(server, dict) and field in server:
                server[field] = _resolve(server[field], f"servers.{index}.{field}")
    for index, engine in enumerate(data.get("rule_engines") or []):
        if not isinstance(engine, dict):
            continue
        if isinstance(engine.get("headers"), dict):
            where = f"rule_engines.{index}.headers"
            engine["headers"] = {k: _resolve(v, f"{where}.{k}") for k, v in engine["headers"].items()}
        if "secret" in engine:
            engine["secret"] = _resolve(engine["secret"], f"rule_engines.{index}.secret")
    try:
        Declaration.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in exc.errors())
        fail(f"{path}: {problems}")
    return data


def _resolve(value: Any, where: str) -> Any:
    if isinstance(value, dict):
        if set(value) != {"from_env"} or not isinstance(value["from_env"], str):
            fail(f"{where}: give a string or {{from_env: NAME}}")
        return os.environ.get(value["from_env"])
    return value


def plan(ctx: typer.Context, file: File, prune: Prune = False, output: Output = "table") -> None:
    """Show what apply would create, change and delete. Changes nothing."""
    _run(ctx, "declaration_plan", file, prune, output)


def apply(ctx: typer.Context, file: File, prune: Prune = False, output: Output = "table") -> None:
    """Create and update what the file declares (and with --prune delete what it does not), in one
    transaction. Idempotent: a second apply reports no changes."""
    _run(ctx, "declaration_apply", file, prune, output)


def export(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Write here instead of stdout.")] = None,
) -> None:
    """Write the whole configuration as a declarative file; secrets become {from_env: ...}."""
    body = call(ctx, BY_ID["declaration_export"], {})
    declaration = Declaration.model_validate_json(body or b"{}")
    data = declaration.model_dump(mode="json", exclude_defaults=True)
    for server in data.get("servers", []):
        for field in SECRET_FIELDS:
            for key in server.get(field, {}):
                server[field][key] = {"from_env": secret_variable(server["name"], field, key)}
        if server.get("oauth_client_id") is not None:  # a stored secret or none: unset keeps either
            for field in SERVER_SECRET_VALUES:
                server[field] = {"from_env": secret_variable(server["name"], field)}
    for engine in data.get("rule_engines", []):  # unset variables keep what is stored
        for key in engine.get("headers", {}):
            engine["headers"][key] = {"from_env": secret_variable(f"engine_{engine['name']}", "headers", key)}
        engine["secret"] = {"from_env": secret_variable(f"engine_{engine['name']}", "secret")}
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    if file is None:
        typer.echo(text, nl=False)
    else:
        file.write_text(text)


def _run(ctx: typer.Context, operation: str, file: Path, prune: bool, output: Format) -> None:
    body = call(ctx, BY_ID[operation], {"declaration": read_declaration(file), "prune": prune})
    answer = orjson.loads(body or b"{}")
    if output == "json":
        typer.echo(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())
        return
    for line in describe_plan(answer["changes"]):
        typer.echo(line)
    counts = {a: sum(c["action"] == a for c in answer["changes"]) for a in ("create", "update", "delete")}
    verb = "applied" if answer["applied"] else "plan"
    if not answer["changes"]:
        typer.echo("No changes." if answer["applied"] else "No changes: the store matches the file.")
        return
    typer.echo(
        f"{verb}: {counts['create']} to create, {counts['update']} to change, {counts['delete']} to delete"
    )


def describe_plan(changes: list[dict[str, Any]]) -> list[str]:
    """``+ server time``, ``~ gateway eng`` with one line per changed field, ``- host old``."""
    marks = {"create": "+", "update": "~", "delete": "-"}
    lines = []
    for change in changes:
        lines.append(f"{marks[change['action']]} {change['kind']} {change['name']}")
        for field in change["fields"]:
            before, after = (orjson.dumps(field[k]).decode() for k in ("before", "after"))
            lines.append(f"    {field['field']}: {before} → {after}")
    return lines
