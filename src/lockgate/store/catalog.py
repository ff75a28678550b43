"""Servers, gateways (with their server assignments), hosts, users and connections.

Used by the CLI; the data plane reads through ``access.load_access`` instead.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, Engine, Table, delete, insert, select, update

from lockgate.domain.declaration import Declaration, GatewaySpec, HostSpec, ServerSpec
from lockgate.store.errors import NotFoundError
from lockgate.store.people import ensure_user
from lockgate.store.rows import as_dict
from lockgate.store.schema import connections, gateway_servers, gateways, hosts, servers, users

Toggleable = Literal["hosts", "gateways", "servers"]
_TABLES: dict[Toggleable, Table] = {"hosts": hosts, "gateways": gateways, "servers": servers}


@dataclass(frozen=True, slots=True)
class Change:
    """One line of what ``apply`` did: ``created``, ``updated`` or ``unchanged``."""

    action: Literal["created", "updated", "unchanged"]
    kind: str
    name: str
    detail: str = ""

    def __str__(self) -> str:
        mark = {"created": "+", "updated": "~", "unchanged": "="}[self.action]
        tail = f" ({self.detail})" if self.detail else ""
        return f"{mark} {self.kind} {self.name}{tail}"


def server_revision(transport: str, config: dict[str, Any]) -> str:
    """A digest of a server's configuration; pooled upstream connections are replaced when it changes."""
    blob = orjson.dumps({"transport": transport, "config": config}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:16]


def apply_declaration(engine: Engine, declaration: Declaration) -> list[Change]:
    """Create or update everything ``declaration`` names, in one transaction. Idempotent.

    Nothing is deleted: servers, gateways and hosts the file does not name are left alone, and a
    gateway's assignments become exactly the ones listed.

    Raises:
        NotFoundError: a gateway assigns a server that neither the file nor the store has.
    """
    with engine.begin() as conn:
        changes = [_apply_server(conn, spec) for spec in declaration.servers]
        changes += [_apply_gateway(conn, spec) for spec in declaration.gateways]
        changes += [_apply_host(conn, spec) for spec in declaration.hosts]
    return changes


def _diff(row: Any, wanted: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in wanted.items() if getattr(row, k) != v)


def _upsert(conn: Connection, table: Table, kind: str, name: str, wanted: dict[str, Any]) -> Change:
    now = time.time()
    row = conn.execute(select(table).where(table.c.name == name)).first()
    if row is None:
        stamps = {"created_at": now} | ({"updated_at": now} if "updated_at" in table.c else {})
        conn.execute(insert(table).values(name=name, **wanted, **stamps))
        return Change("created", kind, name)
    changed = _diff(row, wanted)
    if not changed:
        return Change("unchanged", kind, name)
    stamps = {"updated_at": now} if "updated_at" in table.c else {}
    conn.execute(update(table).where(table.c.id == row.id).values(**wanted, **stamps))
    return Change("updated", kind, name, ", ".join(changed))


def _apply_server(conn: Connection, spec: ServerSpec) -> Change:
    config = spec.config()
    wanted = {
        "transport": spec.transport.value,
        "enabled": spec.enabled,
        "config": config,
        "revision": server_revision(spec.transport.value, config),
    }
    return _upsert(conn, servers, "server", spec.name, wanted)


def _apply_host(conn: Connection, spec: HostSpec) -> Change:
    return _upsert(conn, hosts, "host", spec.name, {"kind": spec.kind.value, "enabled": spec.enabled})


def _apply_gateway(conn: Connection, spec: GatewaySpec) -> Change:
    change = _upsert(conn, gateways, "gateway", spec.name, {"enabled": spec.enabled})
    gateway_id = conn.execute(select(gateways.c.id).where(gateways.c.name == spec.name)).scalar_one()
    wanted = []
    for position, assignment in enumerate(spec.servers):
        server_id = conn.execute(select(servers.c.id).where(servers.c.name == assignment.server)).scalar()
        if server_id is None:
            raise NotFoundError(
                f"gateway {spec.name!r} assigns server {assignment.server!r}, which does not exist"
            )
        wanted.append((server_id, assignment.prefix, position))
    current = [
        (r.server_id, r.prefix, r.position)
        for r in conn.execute(
            select(gateway_servers).where(gateway_servers.c.gateway_id == gateway_id).order_by("position")
        )
    ]
    if current == wanted:
        return change
    conn.execute(delete(gateway_servers).where(gateway_servers.c.gateway_id == gateway_id))
    for server_id, prefix, position in wanted:
        conn.execute(
            insert(gateway_servers).values(
                gateway_id=gateway_id, server_id=server_id, prefix=prefix, position=position
            )
        )
    if change.action == "created":
        return change
    detail = ", ".join(filter(None, [change.detail, "servers"]))
    return Change("updated", "gateway", spec.name, detail)


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
