"""The data plane's one read per request: token → connection → host, gateway, user, and the gateway's
servers, with every enabled flag read fresh (product spec §5.4: "checked on every request, with no
caching")."""

from __future__ import annotations

from sqlalchemy import Engine, select

from lockgate.domain.model import Access, Assignment, Principal, Server, Transport
from lockgate.store.schema import api_tokens, connections, gateway_servers, gateways, hosts, servers, users

_PRINCIPAL = (
    select(
        api_tokens.c.id.label("token_id"),
        api_tokens.c.revoked_at,
        connections.c.id.label("connection_id"),
        connections.c.enabled.label("connection_enabled"),
        hosts.c.name.label("host"),
        hosts.c.enabled.label("host_enabled"),
        gateways.c.id.label("gateway_id"),
        gateways.c.name.label("gateway"),
        gateways.c.enabled.label("gateway_enabled"),
        gateways.c.archived.label("gateway_archived"),
        users.c.id.label("user_id"),
        users.c.email.label("user_email"),
    )
    .join(connections, connections.c.id == api_tokens.c.connection_id)
    .join(hosts, hosts.c.id == connections.c.host_id)
    .join(gateways, gateways.c.id == connections.c.gateway_id)
    .join(users, users.c.id == connections.c.user_id)
)

_ASSIGNMENTS = (
    select(
        gateway_servers.c.id,
        gateway_servers.c.prefix,
        servers.c.id.label("server_id"),
        servers.c.name,
        servers.c.transport,
        servers.c.enabled,
        servers.c.config,
        servers.c.revision,
    )
    .join(servers, servers.c.id == gateway_servers.c.server_id)
    .order_by(gateway_servers.c.position)
)


def load_access(engine: Engine, token_hash: str) -> Access | None:
    """The access a token grants, or None when no token has this hash.

    Two indexed queries; the caller decides what the flags mean.
    """
    with engine.connect() as conn:
        row = conn.execute(_PRINCIPAL.where(api_tokens.c.token_hash == token_hash)).first()
        if row is None:
            return None
        rows = conn.execute(_ASSIGNMENTS.where(gateway_servers.c.gateway_id == row.gateway_id)).all()
    principal = Principal(
        token_id=row.token_id,
        connection_id=row.connection_id,
        host=row.host,
        gateway_id=row.gateway_id,
        gateway=row.gateway,
        user_id=row.user_id,
        user_email=row.user_email,
    )
    return Access(
        principal=principal,
        token_revoked=row.revoked_at is not None,
        host_enabled=row.host_enabled,
        connection_enabled=row.connection_enabled,
        gateway_enabled=row.gateway_enabled,
        gateway_archived=row.gateway_archived,
        assignments=tuple(_assignment(r) for r in rows),
    )


def _assignment(row: object) -> Assignment:
    r = row._mapping  # type: ignore[attr-defined]
    config = r["config"]
    server = Server(
        id=r["server_id"],
        name=r["name"],
        transport=Transport(r["transport"]),
        enabled=r["enabled"],
        command=config.get("command"),
        args=tuple(config.get("args") or ()),
        env=config.get("env") or {},
        cwd=config.get("cwd"),
        url=config.get("url"),
        headers=config.get("headers") or {},
        revision=r["revision"],
    )
    return Assignment(id=r["id"], server=server, prefix=r["prefix"])
