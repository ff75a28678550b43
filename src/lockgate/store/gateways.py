"""Gateways as the control plane sees them: with their server assignments and granted teams."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal

from sqlalchemy import Connection, Row, Select, delete, func, insert, select, update

from lockgate.domain.features import FeatureKind
from lockgate.domain.model import Availability, IdentityScheme
from lockgate.domain.provisioning import Mode
from lockgate.store.errors import ConflictError, NotFoundError
from lockgate.store.provisioning import dump_modes, load_json
from lockgate.store.records import fetch_named, page
from lockgate.store.rows import as_dict, insert_returning_id
from lockgate.store.schema import gateway_servers, gateways, identities, rules, servers, team_gateways, teams


def select_gateway_names(on_gateways: Collection[int] | Literal["any"]) -> Select[tuple[str]]:
    """The names of the gateways with these ids (``"any"``: of every gateway), to scope records
    that hold only a gateway's name (the traffic log, admin events). A gateway's old names, and
    those of deleted gateways, are not among them."""
    names = select(gateways.c.name)
    return names if on_gateways == "any" else names.where(gateways.c.id.in_(on_gateways))


def describe_gateway(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    """The gateway row as a dict, with ``servers`` (its assignments in order: ``id, name, server,
    prefix, identity_scheme, identity``) and ``teams``."""
    assignments = conn.execute(
        select(
            gateway_servers.c.id,
            gateway_servers.c.name,
            servers.c.name.label("server"),
            gateway_servers.c.prefix,
            gateway_servers.c.identity_scheme,
            identities.c.name.label("identity"),
        )
        .join(servers, servers.c.id == gateway_servers.c.server_id)
        .outerjoin(identities, identities.c.id == gateway_servers.c.identity_id)
        .where(gateway_servers.c.gateway_id == row.id)
        .order_by(gateway_servers.c.position)
    )
    granted = conn.execute(
        select(teams.c.name)
        .join(team_gateways, team_gateways.c.team_id == teams.c.id)
        .where(team_gateways.c.gateway_id == row.id)
        .order_by(teams.c.name)
    )
    return as_dict(row) | {
        "servers": [as_dict(a) for a in assignments],
        "teams": [t.name for t in granted],
    }


def list_gateways(
    conn: Connection,
    *,
    visible: Collection[int] | None,
    name_contains: str | None,
    enabled: bool | None,
    archived: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of gateways by name; ``visible`` None means all, else only those ids."""
    query = select(gateways).where(gateways.c.archived == archived)
    if visible is not None:
        query = query.where(gateways.c.id.in_(visible))
    if name_contains:
        query = query.where(gateways.c.name.contains(name_contains, autoescape=True))
    if enabled is not None:
        query = query.where(gateways.c.enabled == enabled)
    rows, next_cursor = page(conn, query, gateways.c.name, cursor, limit)
    return [describe_gateway(conn, row) for row in rows], next_cursor


def resolve_shared_identity(
    conn: Connection, server_id: int, scheme: IdentityScheme, identity: str | None
) -> int | None:
    """The id of the identity an assignment of ``server_id`` under ``scheme`` uses for everyone:
    ``identity``, which must be a global identity of that server, for the shared scheme; None for
    the others (product spec §4.2).

    Raises:
        NotFoundError: no global identity of that server is called ``identity``; a private one, or
            one of another server, answers the same, so that names cannot be probed.
        ValueError: it is missing for the shared scheme, or given for another.
    """
    if scheme is not IdentityScheme.SHARED:
        if identity is not None:
            raise ValueError(f"an identity is chosen only for the shared scheme, not {scheme.value!r}")
        return None
    if identity is None:
        raise ValueError("the shared scheme needs an identity: a global identity of the server")
    row = conn.execute(select(identities).where(identities.c.name == identity)).first()
    if row is None or row.server_id != server_id or row.availability != Availability.GLOBAL.value:
        raise NotFoundError(f"no global identity of this server is named {identity!r}")
    return int(row.id)


def assign_server(
    conn: Connection,
    gateway_id: int,
    server_id: int,
    *,
    name: str,
    prefix: str | None,
    scheme: IdentityScheme = IdentityScheme.NONE,
    identity: str | None = None,
    modes: Mapping[FeatureKind, Mode] | None = None,
) -> int:
    """Append an assignment called ``name`` to the gateway and return its id. The same server may be
    assigned more than once, under different names (e.g. shared for reads, per-user for writes).
    ``modes`` is its provisioning (None: the column's default, every kind allowed).

    Raises:
        ConflictError: another assignment has that name or that prefix.
        NotFoundError, ValueError: as ``resolve_shared_identity``.
    """
    taken = conn.execute(
        select(gateway_servers.c.name, gateway_servers.c.prefix).where(
            gateway_servers.c.gateway_id == gateway_id
        )
    ).all()
    if any(t.name == name for t in taken):
        raise ConflictError(
            f"an assignment named {name!r} is already on this gateway; give the new one another name"
        )
    if prefix is not None and any(t.prefix == prefix for t in taken):
        raise ConflictError(f"another assignment on this gateway has the prefix {prefix!r}")
    identity_id = resolve_shared_identity(conn, server_id, scheme, identity)
    position = conn.execute(
        select(func.coalesce(func.max(gateway_servers.c.position) + 1, 0)).where(
            gateway_servers.c.gateway_id == gateway_id
        )
    ).scalar_one()
    values: dict[str, Any] = {
        "gateway_id": gateway_id,
        "server_id": server_id,
        "name": name,
        "prefix": prefix,
        "position": position,
        "identity_scheme": scheme.value,
        "identity_id": identity_id,
    }
    if modes is not None:
        values["provisioning"] = dump_modes(modes)
    return insert_returning_id(conn, gateway_servers, values)


def fetch_assignment(conn: Connection, gateway_id: int, name: str) -> Row[Any]:
    """The gateway's assignment called ``name``.

    Raises:
        NotFoundError: the gateway has none.
    """
    where = (gateway_servers.c.gateway_id == gateway_id) & (gateway_servers.c.name == name)
    row = conn.execute(select(gateway_servers).where(where)).first()
    if row is None:
        raise NotFoundError(f"the gateway has no assignment named {name!r}")
    return row


def set_identity_scheme(
    conn: Connection, gateway_id: int, name: str, scheme: IdentityScheme, identity: str | None
) -> None:
    """Set the identity scheme (and the shared identity) of the gateway's assignment ``name``.
    Users' choices of identity for it are kept, for when it is per-user again.

    Raises:
        NotFoundError: no such assignment or identity. ValueError: as ``resolve_shared_identity``.
    """
    row = fetch_assignment(conn, gateway_id, name)
    identity_id = resolve_shared_identity(conn, row.server_id, scheme, identity)
    conn.execute(
        update(gateway_servers)
        .where(gateway_servers.c.id == row.id)
        .values(identity_scheme=scheme.value, identity_id=identity_id)
    )


def unassign_server(conn: Connection, gateway_id: int, name: str) -> None:
    """Remove the assignment called ``name`` (and users' choices of identity for it).

    Raises:
        NotFoundError: the gateway has no assignment with that name.
        ConflictError: rules of the gateway are limited to it (naming them): they would be left
            limited to an assignment that is not there.
    """
    row = fetch_assignment(conn, gateway_id, name)
    scoped = conn.execute(select(rules.c.name, rules.c.assignments).where(rules.c.gateway_id == gateway_id))
    limited = sorted(r.name for r in scoped if name in (load_json(r.assignments) or ()))
    if limited:
        raise ConflictError(
            f"assignment {name!r} is named by the rules {', '.join(limited)}: change their assignments first"
        )
    conn.execute(delete(gateway_servers).where(gateway_servers.c.id == row.id))


def grant_team(conn: Connection, gateway_id: int, team: str) -> None:
    """Provision the gateway to a team.

    Raises:
        NotFoundError: no such team. ConflictError: already granted.
    """
    team_id = fetch_named(conn, teams, team, "team").id
    exists = conn.execute(
        select(team_gateways).where(
            (team_gateways.c.team_id == team_id) & (team_gateways.c.gateway_id == gateway_id)
        )
    ).first()
    if exists:
        raise ConflictError(f"team {team!r} is already granted this gateway")
    conn.execute(insert(team_gateways).values(team_id=team_id, gateway_id=gateway_id))


def revoke_team(conn: Connection, gateway_id: int, team: str) -> None:
    """Take the gateway back from a team.

    Raises:
        NotFoundError: no such team, or it was not granted the gateway.
    """
    team_id = fetch_named(conn, teams, team, "team").id
    removed = conn.execute(
        delete(team_gateways).where(
            (team_gateways.c.team_id == team_id) & (team_gateways.c.gateway_id == gateway_id)
        )
    ).rowcount
    if not removed:
        raise NotFoundError(f"team {team!r} is not granted this gateway")


def server_gateway_ids(conn: Connection, server_id: int) -> list[int]:
    """The gateways a server is assigned to."""
    query = select(gateway_servers.c.gateway_id).where(gateway_servers.c.server_id == server_id)
    return [r.gateway_id for r in conn.execute(query)]
