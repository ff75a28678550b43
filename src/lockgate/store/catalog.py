"""Servers, gateways (with their server assignments), hosts, users and connections.

Used by the CLI; the data plane reads through ``access.load_access`` instead.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, Engine, Table, insert, select, update

from lockgate.store.errors import NotFoundError
from lockgate.store.people import ensure_user
from lockgate.store.rows import as_dict
from lockgate.store.schema import connections, gateways, hosts, servers, users

Toggleable = Literal["hosts", "gateways", "servers"]
_TABLES: dict[Toggleable, Table] = {"hosts": hosts, "gateways": gateways, "servers": servers}


def server_revision(transport: str, config: dict[str, Any]) -> str:
    """A digest of a server's configuration; pooled upstream connections are replaced when it changes."""
    blob = orjson.dumps({"transport": transport, "config": config}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:16]


def set_enabled(engine: Engine, kind: Toggleable, name: str, enabled: bool) -> bool:
    """Flip the break-glass toggle of a host, gateway or server. Returns True when it changed.

    Raises:
        NotFoundError: no such resource.
    """
    table = _TABLES[kind]
    with engine.begin() as conn:
        row = conn.execute(select(table.c.id, table.c.enabled).where(table.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no {kind[:-1]} named {name!r}")
        if row.enabled == enabled:
            return False
        conn.execute(update(table).where(table.c.id == row.id).values(enabled=enabled))
        return True


def agent_email(host: str) -> str:
    """The user a token-based host's connection acts as when no person is named (RFC 2606 ``.invalid``)."""
    return f"{host}@agents.lockgate.invalid"


def resolve_connection(conn: Connection, host: str, gateway: str, email: str | None, create: bool) -> int:
    """The id of the connection host × gateway × user, created (with the user) when ``create``.

    Raises:
        NotFoundError: the host or gateway does not exist, or (without ``create``) the connection.
    """
    host_id = conn.execute(select(hosts.c.id).where(hosts.c.name == host)).scalar()
    if host_id is None:
        raise NotFoundError(f"no host named {host!r}")
    gateway_id = conn.execute(select(gateways.c.id).where(gateways.c.name == gateway)).scalar()
    if gateway_id is None:
        raise NotFoundError(f"no gateway named {gateway!r}")
    email = email or agent_email(host)
    user_id = conn.execute(select(users.c.id).where(users.c.email == email)).scalar()
    if user_id is None:
        if not create:
            raise NotFoundError(f"no user {email!r}")
        user_id = ensure_user(conn, email)
    where = (
        (connections.c.host_id == host_id)
        & (connections.c.gateway_id == gateway_id)
        & (connections.c.user_id == user_id)
    )
    connection_id = conn.execute(select(connections.c.id).where(where)).scalar()
    if connection_id is None:
        if not create:
            raise NotFoundError(f"no connection for host {host!r}, gateway {gateway!r}, user {email!r}")
        connection_id = conn.execute(
            insert(connections).values(
                host_id=host_id, gateway_id=gateway_id, user_id=user_id, enabled=True, created_at=time.time()
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    return int(connection_id)


def set_connection_enabled(engine: Engine, host: str, gateway: str, email: str | None, enabled: bool) -> bool:
    """Flip the toggle of one connection. Returns True when it changed.

    Raises:
        NotFoundError: the host, gateway, user or connection does not exist.
    """
    with engine.begin() as conn:
        connection_id = resolve_connection(conn, host, gateway, email, create=False)
        result = conn.execute(
            update(connections)
            .where((connections.c.id == connection_id) & (connections.c.enabled != enabled))
            .values(enabled=enabled)
        )
        return bool(result.rowcount)


def list_rows(engine: Engine, kind: Toggleable) -> list[dict[str, Any]]:
    """Every host, gateway or server as plain dicts, ordered by name."""
    table = _TABLES[kind]
    columns = [c for c in table.c if c.name != "config"]
    with engine.connect() as conn:
        return [as_dict(r) for r in conn.execute(select(*columns).order_by(table.c.name))]


def list_connections(engine: Engine) -> list[dict[str, Any]]:
    """Every connection with its host, gateway and user names."""
    query = (
        select(
            connections.c.id,
            hosts.c.name.label("host"),
            gateways.c.name.label("gateway"),
            users.c.email.label("user"),
            connections.c.enabled,
        )
        .join(hosts, hosts.c.id == connections.c.host_id)
        .join(gateways, gateways.c.id == connections.c.gateway_id)
        .join(users, users.c.id == connections.c.user_id)
        .order_by(hosts.c.name, gateways.c.name, users.c.email)
    )
    with engine.connect() as conn:
        return [as_dict(r) for r in conn.execute(query)]
