"""Roles as the control plane sees them: named sets of capabilities, and who holds them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, func, select

from lockgate.domain.capabilities import BuiltinRole
from lockgate.store.people import role_capabilities
from lockgate.store.records import page
from lockgate.store.schema import roles, users


def describe_role(row: Row[Any]) -> dict[str, Any]:
    """``{name, builtin, locked, capabilities, version}``: ``capabilities`` are what the role holds
    (every one for Super admin, which is ``locked``), as sorted keys."""
    return {
        "name": row.name,
        "builtin": row.builtin,
        "locked": row.name == BuiltinRole.SUPER_ADMIN,
        "capabilities": sorted(role_capabilities(row.name, row.capabilities)),
        "version": row.version,
    }


def list_roles(
    conn: Connection, *, name_contains: str | None, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of roles by name, as ``describe_role`` gives them."""
    query = select(roles)
    if name_contains:
        query = query.where(roles.c.name.contains(name_contains, autoescape=True))
    rows, next_cursor = page(conn, query, roles.c.name, cursor, limit)
    return [describe_role(row) for row in rows], next_cursor


def count_holders(conn: Connection, role_id: int) -> int:
    """How many users, active or not, hold the role."""
    return int(conn.execute(select(func.count()).where(users.c.role_id == role_id)).scalar_one())
