"""Teams as the control plane sees them: their members and the gateways they are granted."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select

from lockgate.store.approvals import forget_team
from lockgate.store.errors import ConflictError, NotFoundError
from lockgate.store.records import delete_row, page
from lockgate.store.schema import gateways, team_gateways, team_members, teams, users


def describe_team(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    """``{name, members, gateways, version, created_at}``: members' emails and the names of the
    gateways granted to the team, each sorted."""
    members = conn.execute(
        select(users.c.email)
        .join(team_members, team_members.c.user_id == users.c.id)
        .where(team_members.c.team_id == row.id)
        .order_by(users.c.email)
    )
    granted = conn.execute(
        select(gateways.c.name)
        .join(team_gateways, team_gateways.c.gateway_id == gateways.c.id)
        .where(team_gateways.c.team_id == row.id)
        .order_by(gateways.c.name)
    )
    return {
        "name": row.name,
        "members": [m.email for m in members],
        "gateways": [g.name for g in granted],
        "version": row.version,
        "created_at": row.created_at,
    }


def list_teams(
    conn: Connection, *, member: int | None, name_contains: str | None, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of teams by name; ``member`` None means every team, else only the user's."""
    query = select(teams)
    if member is not None:
        query = query.where(
            teams.c.id.in_(select(team_members.c.team_id).where(team_members.c.user_id == member))
        )
    if name_contains:
        query = query.where(teams.c.name.contains(name_contains, autoescape=True))
    rows, next_cursor = page(conn, query, teams.c.name, cursor, limit)
    return [describe_team(conn, row) for row in rows], next_cursor


def is_member(conn: Connection, team_id: int, user_id: int | None) -> bool:
    query = select(team_members).where(
        (team_members.c.team_id == team_id) & (team_members.c.user_id == user_id)
    )
    return conn.execute(query).first() is not None


def add_member(conn: Connection, team: Row[Any], user: Row[Any]) -> None:
    """Make the user a member of the team: they may use the gateways it is granted.

    Raises:
        ConflictError: they already are.
    """
    if is_member(conn, team.id, user.id):
        raise ConflictError(f"{user.email!r} is already a member of team {team.name!r}")
    conn.execute(insert(team_members).values(team_id=team.id, user_id=user.id))


def remove_member(conn: Connection, team: Row[Any], user: Row[Any]) -> None:
    """Take the user out of the team.

    Raises:
        NotFoundError: they are not a member.
    """
    removed = conn.execute(
        delete(team_members).where((team_members.c.team_id == team.id) & (team_members.c.user_id == user.id))
    ).rowcount
    if not removed:
        raise NotFoundError(f"{user.email!r} is not a member of team {team.name!r}")


def delete_team(conn: Connection, row: Row[Any], expected: int | None) -> None:
    """Delete the team ``row`` (with ``expected``, only at that version) and take it out of every
    team-limited approval and rejection (``forget_team``): the one path of every surface.

    Raises:
        StaleVersionError: the team is no longer at ``expected``.
    """
    delete_row(conn, teams, row, "team", expected)
    forget_team(conn, row.id)
