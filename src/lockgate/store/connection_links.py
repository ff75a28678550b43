"""What the connection flow reads (product spec §5.3, seed 004): the host a shareable connection
link names, the gateways a user may connect to, and each server assignment on a gateway with the
identity the user chose for it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, select

from lockgate.domain.model import IdentityKind, IdentityScheme, IdentityStatus, Transport
from lockgate.store.schema import (
    connections,
    gateway_servers,
    gateways,
    hosts,
    identities,
    identity_choices,
    servers,
)


@dataclass(frozen=True, slots=True)
class ChosenIdentity:
    """The identity a user chose for an assignment; ``usable`` when enabled and ready."""

    id: int
    name: str
    kind: IdentityKind
    status: IdentityStatus
    enabled: bool
    owner_id: int | None

    @property
    def usable(self) -> bool:
        return self.enabled and self.status is IdentityStatus.READY


@dataclass(frozen=True, slots=True)
class LinkAssignment:
    """A server assignment on a gateway, as the connection flow shows it to one user."""

    id: int
    name: str
    server_id: int
    server: str
    transport: Transport
    scheme: IdentityScheme
    chosen: ChosenIdentity | None
    identity_env: tuple[str, ...] = ()  # stdio: the variables an identity may set


def fetch_link_host(conn: Connection, link_id: str) -> Row[Any] | None:
    """The host whose connection link is ``link_id`` (its row), or None."""
    return conn.execute(select(hosts).where(hosts.c.link_id == link_id)).first()


def list_link_gateways(conn: Connection, visible: Collection[int] | None) -> list[Row[Any]]:
    """The live (not archived) gateways among ``visible`` (None: all), by name: ``id``, ``name``,
    ``enabled``."""
    query = select(gateways.c.id, gateways.c.name, gateways.c.enabled).where(~gateways.c.archived)
    if visible is not None:
        query = query.where(gateways.c.id.in_(visible))
    return list(conn.execute(query.order_by(gateways.c.name)))


def fetch_link_gateway(conn: Connection, name: str) -> Row[Any] | None:
    """The gateway called ``name`` (``id``, ``name``, ``enabled``, ``archived``), or None."""
    query: Select[Any] = select(gateways.c.id, gateways.c.name, gateways.c.enabled, gateways.c.archived)
    return conn.execute(query.where(gateways.c.name == name)).first()


def list_link_assignments(conn: Connection, gateway_id: int, user_id: int) -> list[LinkAssignment]:
    """The gateway's assignments in order, each with the identity ``user_id`` chose for it."""
    query: Select[Any] = (
        select(
            gateway_servers.c.id,
            gateway_servers.c.name,
            gateway_servers.c.identity_scheme,
            servers.c.id.label("server_id"),
            servers.c.name.label("server"),
            servers.c.transport,
            servers.c.config,
            identities.c.id.label("identity_id"),
            identities.c.name.label("identity"),
            identities.c.kind,
            identities.c.status,
            identities.c.enabled,
            identities.c.owner_id,
        )
        .join(servers, servers.c.id == gateway_servers.c.server_id)
        .outerjoin(
            identity_choices,
            (identity_choices.c.assignment_id == gateway_servers.c.id)
            & (identity_choices.c.user_id == user_id),
        )
        .outerjoin(identities, identities.c.id == identity_choices.c.identity_id)
        .where(gateway_servers.c.gateway_id == gateway_id)
        .order_by(gateway_servers.c.position)
    )
    return [_assignment(row) for row in conn.execute(query)]


def _assignment(row: Row[Any]) -> LinkAssignment:
    chosen = None
    if row.identity_id is not None:
        chosen = ChosenIdentity(
            row.identity_id,
            row.identity,
            IdentityKind(row.kind),
            IdentityStatus(row.status),
            bool(row.enabled),
            row.owner_id,
        )
    return LinkAssignment(
        row.id,
        row.name,
        row.server_id,
        row.server,
        Transport(row.transport),
        IdentityScheme(row.identity_scheme),
        chosen,
        tuple((row.config or {}).get("identity_env") or ()),
    )


def find_authorizable_identity(conn: Connection, user_id: int, server_id: int) -> int | None:
    """The newest OAuth identity of ``user_id`` for the server still awaiting authorization
    (pending or needing re-authorization), to authorize again rather than add another; or None."""
    awaiting = (IdentityStatus.PENDING.value, IdentityStatus.NEEDS_REAUTHORIZATION.value)
    found = conn.execute(
        select(identities.c.id)
        .where(
            (identities.c.owner_id == user_id)
            & (identities.c.server_id == server_id)
            & (identities.c.kind == IdentityKind.OAUTH.value)
            & identities.c.status.in_(awaiting)
        )
        .order_by(identities.c.id.desc())
        .limit(1)
    ).scalar()
    return int(found) if found is not None else None


def load_connection_enabled(conn: Connection, host_id: int, gateway_id: int, user_id: int) -> bool | None:
    """The break-glass toggle of the connection host × gateway × user; None when there is none yet."""
    found = conn.execute(
        select(connections.c.enabled).where(
            (connections.c.host_id == host_id)
            & (connections.c.gateway_id == gateway_id)
            & (connections.c.user_id == user_id)
        )
    ).first()
    return None if found is None else bool(found.enabled)
