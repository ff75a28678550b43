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

ANY_GATEWAY: Final = "any"
"""A scope for ``list_servers``: servers assigned to at least one gateway."""


def server_revision(transport: str, config: dict[str, Any]) -> str:
    """A digest of a server's configuration; pooled upstream connections are replaced when it changes."""
    blob = orjson.dumps({"transport": transport, "config": config}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:16]


def server_values(spec: ServerSpec) -> dict[str, Any]:
    """The columns that store ``spec`` (all but its name): transport, enabled, config, revision."""
    config = spec.config()
    return {
        "transport": spec.transport.value,
        "enabled": spec.enabled,
        "config": config,
        "revision": server_revision(spec.transport.value, config),
    }


def load_spec(row: Row[Any]) -> ServerSpec:
    """The stored server as a spec, secrets included: callers that show it must hide them."""
    return ServerSpec(name=row.name, transport=row.transport, enabled=row.enabled, **row.config)


def load_server(row: Row[Any]) -> Server:
    """The stored server as the data plane and the upstream pool know it."""
    spec = load_spec(row)
    return Server(
        id=row.id,
        name=spec.name,
        transport=Transport(spec.transport),
        enabled=spec.enabled,
        command=spec.command,
        args=tuple(spec.args),
        env=spec.env,
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
