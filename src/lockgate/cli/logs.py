"""``lockgate logs``: recent traffic log entries, or every leg of one correlation id.

A view over the ``logs list`` operation, so it works over ``--url`` too; ``lockgate logs list`` is
that operation's generated command, with every filter and the API's JSON.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any

import orjson
import typer

from lockgate.api.table import BY_ID
from lockgate.cli.context import call
from lockgate.cli.output import Format, echo_table

HELP = (
    "Traffic log entries, newest first; with --correlation-id, that message's legs in order, with "
    "bodies. `logs list` takes every filter and prints the API's pages."
)
COLUMNS = ["created_at", "type", "method", "feature_name", "user_email", "server", "duration_ms"]


def logs(
    ctx: typer.Context,
    correlation_id: Annotated[
        str | None, typer.Option("--correlation-id", "-c", help="Show this message's legs.")
    ] = None,
    gateway: Annotated[str | None, typer.Option(help="Only this gateway.")] = None,
    limit: Annotated[int, typer.Option(help="How many recent entries.")] = 50,
    output: Annotated[
        Format, typer.Option("--output", "-o", help="table, or json (one entry per line).")
    ] = "table",
) -> None:
    """Recent entries, or one message's legs (see ``HELP``); does nothing before a subcommand."""
    if ctx.invoked_subcommand is not None:
        return
    values = {"correlation_id": correlation_id, "gateway": gateway, "limit": limit}
    body = call(ctx, BY_ID["logs_list"], {k: v for k, v in values.items() if v is not None})
    rows: list[dict[str, Any]] = orjson.loads(body or b"{}")["items"]
    if correlation_id:
        rows.reverse()
    if output == "json":
        for row in rows:
            typer.echo(orjson.dumps(row).decode())
        return
    for row in rows:
        row["created_at"] = datetime.datetime.fromtimestamp(row["created_at"], datetime.UTC).strftime(
            "%H:%M:%S.%f"
        )[:-3]
        row["duration_ms"] = f"{row['duration_ms']:.2f}" if row["duration_ms"] is not None else ""
    echo_table(rows, [*COLUMNS, "error", "rules", "body"] if correlation_id else [*COLUMNS, "correlation_id"])
