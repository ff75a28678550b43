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
from lockgate.store.people import bootstrap_super_admin
from lockgate.store.errors import NotFoundError


def init(
    admin_email: Annotated[
        str, typer.Option(help="The first Super admin's email (only when there is none yet).")
    ] = "admin@localhost",
) -> None:
    """Create the data directory, the secret key (owner-only), the store's schema and the first
    Super admin, whose personal access token is printed once, as the last line."""
    settings = load_settings()
    settings.ensure_data_dir()
    key = settings.key_bytes(create=True)
    engine = open_store(settings)
    typer.echo(f"initialized {settings.data_dir} ({settings.resolved_database_url.split('://')[0]})")
    token = bootstrap_super_admin(engine, key, admin_email)
    if token is None:
        typer.echo("a Super admin already exists; no token was created", err=True)
        return
    typer.echo(f"Super admin {admin_email}: personal access token, shown once (LOCKGATE_TOKEN):", err=True)
    typer.echo(token)


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
