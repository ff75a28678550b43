"""What every command needs: the settings, an up-to-date store, and a way to fail with a message."""

from __future__ import annotations

from typing import NoReturn

import typer
from sqlalchemy import Engine

from lockgate.settings import Settings
from lockgate.store.engine import open_engine, upgrade


def load_settings() -> Settings:
    return Settings()


def open_store(settings: Settings) -> Engine:
    """The store, migrated to the newest schema (a no-op when it already is)."""
    if settings.database_url is None:
        settings.ensure_data_dir()
    engine = open_engine(settings.resolved_database_url)
    upgrade(engine)
    return engine


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def table(rows: list[dict[str, object]], columns: list[str]) -> None:
    """Print rows as an aligned table for people."""
    if not rows:
        typer.echo("(none)")
        return
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    typer.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
