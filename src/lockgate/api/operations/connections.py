"""Connections: one host reaching one gateway as one user. Listed, and their break-glass toggle.

Connections are made by minting an API token (``tokens create``) and leave with their host,
gateway or user. They are team-scoped through their gateway.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy
from pydantic import BaseModel, Field

from lockgate.api.operation import Context, Input, Operation
from lockgate.api.operations.common import ListInput, Name, Page, RowId
from lockgate.domain.capabilities import Capability
from lockgate.policy.access_control import EVERYONE, resolve_visible_gateways
from lockgate.store import connections as store


class Connection(BaseModel):
    id: int
    host: str
    gateway: str
    user: str = Field(description="The email of the user the host acts as.")
    enabled: bool
    created_at: float


class ConnectionList(ListInput):
    host: Name | None = None
    gateway: Name | None = None
    user: str | None = Field(None, max_length=320, description="A user's email.")


class ConnectionRef(Input):
    connection: RowId


def _target(ctx: Context, conn: sqlalchemy.Connection, connection_id: int) -> sqlalchemy.Row[Any]:
    row = store.fetch_connection(conn, connection_id)
    ctx.require_gateway(row.gateway_id, row.gateway, f"no connection {connection_id}")
    return row


def _view(row: sqlalchemy.Row[Any]) -> Connection:
    return Connection.model_validate(row, from_attributes=True)


def list_connections(ctx: Context, args: ConnectionList) -> Page[Connection]:
    """The connections to the gateways the caller may use, oldest first."""
    with ctx.transaction() as conn:
        rows, cursor = store.list_connections(
            conn,
            visible=resolve_visible_gateways(ctx.actor),
            host=args.host,
            gateway=args.gateway,
            user=args.user,
            cursor=args.cursor,
            limit=args.limit,
        )
    return Page[Connection](items=[_view(r) for r in rows], next_cursor=cursor)


def get_connection(ctx: Context, args: ConnectionRef) -> Connection:
    with ctx.transaction() as conn:
        return _view(_target(ctx, conn, args.connection))


def _set_enabled(ctx: Context, connection_id: int, enabled: bool) -> Connection:
    with ctx.transaction() as conn:
        before = _view(_target(ctx, conn, connection_id))
        after = _view(store.save_connection_enabled(conn, connection_id, enabled))
        ctx.record(conn, "connection", str(after.id), before.model_dump(), after.model_dump())
    return after


def disable_connection(ctx: Context, args: ConnectionRef) -> Connection:
    """Refuse every call over this connection (its API tokens included) from the next request on."""
    return _set_enabled(ctx, args.connection, False)


def enable_connection(ctx: Context, args: ConnectionRef) -> Connection:
    return _set_enabled(ctx, args.connection, True)


_C = "/connections/{connection}"
_TOGGLE = Capability.DISABLE_AND_ENABLE_CONNECTIONS
OPERATIONS = [
    Operation("connections", "list", "GET", "/connections", "List connections", EVERYONE, list_connections,
              ConnectionList, Page[Connection], columns=("id", "host", "gateway", "user", "enabled")),
    Operation("connections", "get", "GET", _C, "Get a connection", EVERYONE, get_connection, ConnectionRef,
              Connection),
    Operation("connections", "disable", "POST", _C + "/disable", "Disable a connection", _TOGGLE,
              disable_connection, ConnectionRef, Connection),
    Operation("connections", "enable", "POST", _C + "/enable", "Enable a connection", _TOGGLE,
              enable_connection, ConnectionRef, Connection),
]  # fmt: skip
