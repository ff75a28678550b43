"""``lockgate logs``: recent audit entries, or every leg of one correlation id."""

from __future__ import annotations

import datetime
from typing import Annotated

import orjson
import typer

from lockgate.cli.context import load_settings, open_store, table
from lockgate.store.audit_log import load_entries


def logs(
    correlation_id: Annotated[
        str | None, typer.Option("--correlation-id", "-c", help="Show this message's legs.")
    ] = None,
    gateway: Annotated[str | None, typer.Option(help="Only this gateway.")] = None,
    limit: Annotated[int, typer.Option(help="How many recent entries.")] = 50,
    output: Annotated[
        str, typer.Option("--output", "-o", help="table or json (one entry per line).")
    ] = "table",
) -> None:
    """Audit entries, newest first; with --correlation-id, that message's legs in order, with bodies."""
    rows = load_entries(
        open_store(load_settings()), correlation_id=correlation_id, gateway=gateway, limit=limit
    )
    if output == "json":
        for row in rows:
            typer.echo(orjson.dumps(row).decode())
        return
    for row in rows:
        row["created_at"] = datetime.datetime.fromtimestamp(row["created_at"], datetime.UTC).strftime(
            "%H:%M:%S.%f"
        )[:-3]
        row["duration_ms"] = f"{row['duration_ms']:.2f}" if row["duration_ms"] is not None else ""
    columns = [
        "created_at",
        "type",
        "method",
        "feature_name",
        "user_email",
        "server",
        "duration_ms",
        "correlation_id",
    ]
    if correlation_id:
        columns = [*columns[:-1], "error", "body"]
    table(rows, columns)
