"""``lockgate init`` and ``lockgate apply -f FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pydantic
import typer
import yaml

from lockgate.cli.context import fail, load_settings, open_store
from lockgate.domain.declaration import Declaration
from lockgate.store.declarative import apply_declaration
from lockgate.store.errors import NotFoundError


def init() -> None:
    """Create the data directory, the secret key (owner-only) and the store's schema."""
    settings = load_settings()
    settings.ensure_data_dir()
    settings.key_bytes(create=True)
    open_store(settings)
    typer.echo(f"initialized {settings.data_dir} ({settings.resolved_database_url.split('://')[0]})")


def load_declaration(path: Path) -> Declaration:
    """Parse and validate a declarative file; exits with the offending field named."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except yaml.YAMLError as exc:
        fail(f"{path} is not valid YAML: {exc}")
    try:
        return Declaration.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in exc.errors())
        fail(f"{path}: {problems}")


def apply(
    file: Annotated[Path, typer.Option("--file", "-f", help="The declarative YAML file.")],
) -> None:
    """Create or update the servers, gateways and hosts a file declares. Idempotent; prints what changed."""
    declaration = load_declaration(file)
    engine = open_store(load_settings())
    try:
        changes = apply_declaration(engine, declaration)
    except NotFoundError as exc:
        fail(str(exc))
    for change in changes:
        typer.echo(str(change))
    typer.echo(f"{len(changes)} changed" if changes else "no changes")
