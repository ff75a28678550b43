"""Hosts as the control plane lists them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select

from lockgate.store.records import page
from lockgate.store.schema import hosts


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
