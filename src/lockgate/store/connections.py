"""Connections (host × gateway × user) as the control plane sees them: with their names."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, Row, Select, select, update

from lockgate.store.errors import NotFoundError
from lockgate.store.people import ensure_user
from lockgate.store.records import page
from lockgate.store.rows import insert_returning_id
from lockgate.store.schema import connections, gateways, hosts, users

_NAMED: Select[Any] = (
    select(
        connections.c.id,
        hosts.c.name.label("host"),
        connections.c.gateway_id,
        gateways.c.name.label("gateway"),
        users.c.email.label("user"),
        connections.c.enabled,
        connections.c.created_at,
    )
    .join(hosts, hosts.c.id == connections.c.host_id)
    .join(gateways, gateways.c.id == connections.c.gateway_id)
    .join(users, users.c.id == connections.c.user_id)
)


def fetch_connection(conn: Connection, connection_id: int) -> Row[Any]:
    """The connection with its ``host``, ``gateway`` (and ``gateway_id``) and ``user`` (email).

    Raises:
        NotFoundError: there is none with that id.
    """
    row = conn.execute(_NAMED.where(connections.c.id == connection_id)).first()
    if row is None:
        raise NotFoundError(f"no connection {connection_id}")
    return row


def list_connections(
    conn: Connection,
    *,
    visible: Collection[int] | None,
    host: str | None,
    gateway: str | None,
    user: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Row[Any]], str | None]:
    """A page of connections by id (oldest first); ``visible`` None means on every gateway, else
    only on those gateway ids. ``host``, ``gateway`` and ``user`` (an email) match exactly.

    Raises:
        ValueError: a malformed cursor.
    """
    query = filter_connections(_NAMED, visible=visible, host=host, gateway=gateway, user=user)
    return page(conn, query, connections.c.id, cursor, limit)


def filter_connections(
    query: Select[Any],
    *,
    visible: Collection[int] | None,
    host: str | None,
    gateway: str | None,
    user: str | None,
) -> Select[Any]:
    """``query`` (which joins connections to hosts, gateways and users) narrowed to connections on
    ``visible`` gateways (None: all) and with exactly this host, gateway and user email, when given."""
    if visible is not None:
        query = query.where(connections.c.gateway_id.in_(visible))
    for column, value in ((hosts.c.name, host), (gateways.c.name, gateway), (users.c.email, user)):
        if value is not None:
            query = query.where(column == value)
    return query


def save_connection_enabled(conn: Connection, connection_id: int, enabled: bool) -> Row[Any]:
    """Set the connection's break-glass toggle; returns it as ``fetch_connection`` does."""
    conn.execute(update(connections).where(connections.c.id == connection_id).values(enabled=enabled))
    return fetch_connection(conn, connection_id)


def agent_email(host: str) -> str:
    """The user a token-based host's connection acts as when no person is named (RFC 2606 ``.invalid``)."""
    return f"{host}@agents.lockgate.invalid"


def ensure_agent(conn: Connection, host: str) -> str:
    """The email of the host's agent user (``agent_email``), made a Member on first use."""
    email = agent_email(host)
    ensure_user(conn, email)
    return email


def resolve_connection(conn: Connection, host: str, gateway: str, email: str | None, create: bool) -> int:
    """The id of the connection host × gateway × user, created when ``create``. ``email`` None
    names the host's agent user, made on first use; other users are never made here (adding people
    needs *Manage people*).

    Raises:
        NotFoundError: the host, gateway or (named) user does not exist, or (without ``create``)
            the connection.
    """
    host_id = conn.execute(select(hosts.c.id).where(hosts.c.name == host)).scalar()
    if host_id is None:
        raise NotFoundError(f"no host named {host!r}")
    gateway_id = conn.execute(select(gateways.c.id).where(gateways.c.name == gateway)).scalar()
    if gateway_id is None:
        raise NotFoundError(f"no gateway named {gateway!r}")
    if email is None:
        email = ensure_agent(conn, host) if create else agent_email(host)
    user_id = conn.execute(select(users.c.id).where(users.c.email == email)).scalar()
    if user_id is None:
        raise NotFoundError(f"no user with email {email!r}; people are added with 'users create'")
    where = (
        (connections.c.host_id == host_id)
        & (connections.c.gateway_id == gateway_id)
        & (connections.c.user_id == user_id)
    )
    connection_id = conn.execute(select(connections.c.id).where(where)).scalar()
    if connection_id is None:
        if not create:
            raise NotFoundError(f"no connection for host {host!r}, gateway {gateway!r}, user {email!r}")
        connection_id = insert_returning_id(
            conn,
            connections,
            {
                "host_id": host_id,
                "gateway_id": gateway_id,
                "user_id": user_id,
                "enabled": True,
                "created_at": time.time(),
            },
        )
    return int(connection_id)
