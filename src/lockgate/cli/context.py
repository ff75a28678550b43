"""What every command needs: the settings, an up-to-date store, a client for the control plane,
and a way to fail with a message."""

from __future__ import annotations

from typing import Any, NoReturn

import typer
from pydantic_core import to_jsonable_python
from sqlalchemy import Engine

from lockgate.api.operation import Operation
from lockgate.cli.client import CallFailed, Client, HttpClient, LocalClient, operator_actor
from lockgate.egress import parse_networks
from lockgate.settings import Settings
from lockgate.store.engine import open_engine, upgrade
from lockgate.vault import VaultError


def load_settings() -> Settings:
    return Settings()


def open_store(settings: Settings) -> Engine:
    """The store, migrated to the newest schema (a no-op when it already is), its vault key checked;
    a missing or wrong key exits with the reason."""
    if settings.database_url is None:
        settings.ensure_data_dir()
    engine = open_engine(settings.resolved_database_url)
    try:
        upgrade(engine, settings.vault())
    except VaultError as exc:
        fail(f"the vault cannot be opened: {exc}")
    return engine


def open_client(url: str | None, token: str | None) -> Client:
    """The API at ``url`` with ``token``; without a URL, the local store as the instance operator.

    Raises:
        CallFailed: a URL without a token.
    """
    if url:
        if not token:
            raise CallFailed(
                0, "a personal access token is required with --url: pass --token or set LOCKGATE_TOKEN"
            )
        return HttpClient(url, token)
    settings = load_settings()
    return local_client(settings, open_store(settings))


def local_client(settings: Settings, engine: Engine) -> LocalClient:
    """The store behind ``engine`` as the instance operator, under ``settings``' policies."""
    return LocalClient(
        engine,
        settings.key_bytes(),
        settings.vault(),
        operator_actor(),
        settings.resolved_public_url,
        parse_networks(settings.server_allowed_networks),
        parse_networks(settings.egress_allowed_networks),
        ner_model=settings.presidio_model is not None,
    )


def call(ctx: typer.Context, operation: Operation, values: dict[str, Any]) -> bytes | None:
    """Run one operation through the client the root's ``--url`` and ``--token`` (or their
    environment variables) choose. Returns the API's JSON body, None for 204; failures exit 1."""
    root = ctx.find_root().params
    try:
        return open_client(root.get("url"), root.get("token")).call(operation, to_jsonable_python(values))
    except CallFailed as exc:
        fail(exc.describe())


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)
