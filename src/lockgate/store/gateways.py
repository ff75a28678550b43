"""Gateways as the control plane sees them: with their server assignments and granted teams."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select

from lockgate.store.errors import ConflictError, NotFoundError
from lockgate.store.records import fetch_named, page
from lockgate.store.rows import as_dict
from lockgate.store.schema import gateway_servers, gateways, servers, team_gateways, teams


def describe_gateway(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    """The gateway row as a dict, with ``servers`` (its assignments in order) and ``teams``."""
    assignments = conn.execute(
        select(gateway_servers.c.id, servers.c.name.label("server"), gateway_servers.c.prefix)
        .join(servers, servers.c.id == gateway_servers.c.server_id)
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


def assign_server(conn: Connection, gateway_id: int, server_id: int, prefix: str | None) -> None:
    """Append an assignment to the gateway.

    Raises:
        ConflictError: the server is already assigned, or another assignment has that prefix.
    """
    taken = conn.execute(
        select(gateway_servers.c.server_id, gateway_servers.c.prefix).where(
            gateway_servers.c.gateway_id == gateway_id
        )
    ).all()
    if any(t.server_id == server_id for t in taken):
        raise ConflictError("the server is already assigned to this gateway")
    if prefix is not None and any(t.prefix == prefix for t in taken):
        raise ConflictError(f"another assignment on this gateway has the prefix {prefix!r}")
    position = conn.execute(
        select(func.coalesce(func.max(gateway_servers.c.position) + 1, 0)).where(
            gateway_servers.c.gateway_id == gateway_id
        )
    ).scalar_one()
    conn.execute(
        insert(gateway_servers).values(
            gateway_id=gateway_id, server_id=server_id, prefix=prefix, position=position
        )
    )


def unassign_server(conn: Connection, gateway_id: int, assignment_id: int) -> None:
    """Remove one assignment.

    Raises:
        NotFoundError: the gateway has no assignment with that id.
    """
    removed = conn.execute(
        delete(gateway_servers).where(
            (gateway_servers.c.id == assignment_id) & (gateway_servers.c.gateway_id == gateway_id)
        )
    ).rowcount
    if not removed:
        raise NotFoundError(f"the gateway has no assignment {assignment_id}")


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
