"""Servers as the control plane sees them: a ``ServerSpec`` stored as transport, config and revision."""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any, Final, Literal

import orjson
from sqlalchemy import Connection, Row, select

from lockgate.domain.declaration import ServerSpec
from lockgate.domain.model import Server, Transport
from lockgate.store.records import page
from lockgate.store.schema import gateway_servers, servers
from lockgate.vault import Vault

ANY_GATEWAY: Final = "any"
"""A scope for ``list_servers``: servers assigned to at least one gateway."""


SECRETS_PLACE: Final = b"servers.secrets"
"""The associated data of every server's sealed ``secrets`` (bound to the column: a server is sealed
before its row exists)."""


OAUTH_CLIENT_SECRET_SET: Final = "oauth_client_secret_set"
"""The key of ``servers.config`` that says an OAuth client secret is sealed in ``secrets``."""


def server_revision(transport: str, config: dict[str, Any], sealed: str | None) -> str:
    """A digest of a server's configuration; pooled upstream connections are replaced when it changes.
    Secrets enter only sealed (a fresh seal each time), so any change to them is a new revision."""
    blob = orjson.dumps(
        {"transport": transport, "config": config, "secrets": sealed}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(blob).hexdigest()[:16]


def server_values(spec: ServerSpec, vault: Vault, stored: Any = None) -> dict[str, Any]:
    """The columns that store ``spec`` (all but its name): transport, enabled, config (env and
    header *names*, the OAuth client id and scopes, whether an OAuth client secret is set),
    secrets (the env and header values and the OAuth client secret, sealed) and revision.
    ``stored`` (the row being changed) keeps its sealed secrets when they hold the same values, so
    a change that leaves them alone (a rename) keeps the revision.

    Raises:
        VaultError: ``stored``'s secrets do not open with this vault.
    """
    config = spec.config()
    values: dict[str, Any] = {
        "env": config.pop("env", None) or {},
        "headers": config.pop("headers", None) or {},
    }
    config["env"], config["headers"] = sorted(values["env"]), sorted(values["headers"])
    client_secret = config.pop("oauth_client_secret", None)
    if client_secret is not None:
        values["oauth_client_secret"] = client_secret
        config[OAUTH_CLIENT_SECRET_SET] = True
    sealed = None
    if any(values.values()):
        unchanged = (
            stored is not None and stored.secrets and vault.open(stored.secrets, SECRETS_PLACE) == values
        )
        sealed = stored.secrets if unchanged else vault.seal(values, SECRETS_PLACE)
    return {
        "transport": spec.transport.value,
        "enabled": spec.enabled,
        "config": config,
        "secrets": sealed,
        "revision": server_revision(spec.transport.value, config, sealed),
    }


def load_config(row: Any, vault: Vault) -> dict[str, Any]:
    """The stored configuration with its env and header values and its OAuth client secret
    (``oauth_client_secret``, when one is set) opened: a ``ServerSpec``'s fields but the name,
    transport and enabled flag.

    Raises:
        VaultError: the secrets do not open with this vault.
    """
    config = dict(row.config)
    opened = vault.open(row.secrets, SECRETS_PLACE) if row.secrets else {}
    for field in ("env", "headers"):
        if field in config:
            config[field] = opened.get(field) or {}
    if config.pop(OAUTH_CLIENT_SECRET_SET, False):
        config["oauth_client_secret"] = opened.get("oauth_client_secret")
    return config


def load_spec(row: Row[Any], vault: Vault) -> ServerSpec:
    """The stored server as a spec, secrets included: callers that show it must hide them.

    Raises:
        VaultError: the secrets do not open with this vault.
    """
    config = load_config(row, vault)
    return ServerSpec(name=row.name, transport=row.transport, enabled=row.enabled, **config)


def load_server(row: Row[Any], vault: Vault) -> Server:
    """The stored server as the data plane and the upstream pool know it.

    Raises:
        VaultError: the secrets do not open with this vault.
    """
    spec = load_spec(row, vault)
    return Server(
        id=row.id,
        name=spec.name,
        transport=Transport(spec.transport),
        enabled=spec.enabled,
        command=spec.command,
        args=tuple(spec.args),
        env=spec.env,
        identity_env=frozenset(spec.identity_env),
        cwd=spec.cwd,
        url=spec.url,
        headers=spec.headers,
        revision=row.revision,
    )


def list_servers(
    conn: Connection,
    *,
    on_gateways: Collection[int] | Literal["any"] | None,
    name_contains: str | None,
    transport: Transport | None,
    enabled: bool | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Row[Any]], str | None]:
    """A page of server rows by name. ``on_gateways`` None lists every server; ``ANY_GATEWAY`` only
    those assigned to some gateway; ids only those assigned to one of these gateways.

    Raises:
        ValueError: a malformed cursor.
    """
    query = select(servers)
    if on_gateways is not None:
        assigned = select(gateway_servers.c.server_id)
        if on_gateways != ANY_GATEWAY:
            assigned = assigned.where(gateway_servers.c.gateway_id.in_(on_gateways))
        query = query.where(servers.c.id.in_(assigned))
    if name_contains:
        query = query.where(servers.c.name.contains(name_contains, autoescape=True))
    if transport is not None:
        query = query.where(servers.c.transport == transport.value)
    if enabled is not None:
        query = query.where(servers.c.enabled == enabled)
    return page(conn, query, servers.c.name, cursor, limit)
