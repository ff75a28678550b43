"""Hosts as the control plane lists them, their connection link ids, and the gateways they serve."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import Connection, Row, select

from lockgate.store.records import page
from lockgate.store.schema import connections, hosts


def list_hosts(
    conn: Connection, *, name_contains: str | None, enabled: bool | None, cursor: str | None, limit: int
) -> tuple[list[Row[Any]], str | None]:
    """A page of host rows by name.

    Raises:
        ValueError: a malformed cursor.
    """
    query = select(hosts)
    if name_contains:
        query = query.where(hosts.c.name.contains(name_contains, autoescape=True))
    if enabled is not None:
        query = query.where(hosts.c.enabled == enabled)
    return page(conn, query, hosts.c.name, cursor, limit)


def new_link_id() -> str:
    """A host's connection link id (``hosts.link_id``): 128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)


def list_served_gateways(conn: Connection, host_id: int) -> list[int]:
    """The id of each gateway the host has a connection to (so tokens, now or later, whose delivery
    its webhook receives)."""
    query = select(connections.c.gateway_id).where(connections.c.host_id == host_id).distinct()
    return sorted(conn.execute(query).scalars())
