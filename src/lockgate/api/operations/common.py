"""Pieces every resource's operations share: list paging, the page envelope, name patterns,
changing one versioned row with its admin event, and the server and assignment scope checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Row, Table

from lockgate.api.operation import Context, Input
from lockgate.domain.declaration import NAME
from lockgate.store.gateways import fetch_assignment, server_gateway_ids
from lockgate.store.records import MAX_PAGE, fetch_named, update_row
from lockgate.store.schema import gateways, servers

T = TypeVar("T")

Name = Annotated[str, Field(pattern=NAME, description="A unique name: letters, digits, '_', '.', '-'.")]
RowId = Annotated[int, Field(ge=1, le=2**31 - 1, description="A numeric id, as listings show it.")]


class ListInput(Input):
    """Keyset pagination: pass the previous page's ``next_cursor`` to get the next one."""

    cursor: str | None = Field(None, max_length=512, description="From the previous page's next_cursor.")
    limit: int = Field(100, ge=1, le=MAX_PAGE, description="Items per page.")


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_cursor`` is null on the last page."""

    items: list[T]
    next_cursor: str | None


Target = Callable[[Connection], Row[Any]]
View = Callable[[Connection, Row[Any]], dict[str, Any]]
Act = Callable[[Connection, Row[Any]], None]


def save_change(
    ctx: Context,
    table: Table,
    kind: str,
    target: Target,
    view: View,
    values: dict[str, Any] | Callable[[Row[Any]], dict[str, Any]],
    expected: int | None,
    act: Act | None = None,
) -> dict[str, Any]:
    """Change one named, versioned row in one transaction: read it (``target``, which also checks
    the caller's scope), run ``act`` (e.g. assign a server), write ``values`` (or what they compute
    from the row) with a version bump, and record the admin event with ``view`` before and after.
    Returns the view after.

    Raises:
        StaleVersionError: the row is no longer at ``expected`` (412), and whatever ``target``,
            ``act`` and the store raise.
    """
    with ctx.transaction() as conn:
        row = target(conn)
        before = view(conn, row)
        if act is not None:
            act(conn, row)
        row = update_row(conn, table, row, kind, values(row) if callable(values) else values, expected)
        after = view(conn, row)
        ctx.record(conn, kind, row.name, before, after)
    return after


def fetch_visible_server(ctx: Context, conn: Connection, name: str) -> Row[Any]:
    """The server called ``name``, which the actor must see (product spec §6.1): it is on a gateway
    they may use, or their role holds "View all servers". The one scope check of every act on an
    existing server — reading, editing, toggling, deleting, assigning it — by hand or declared.

    Raises:
        NotFoundError: there is no such server.
        NotFound: the actor does not see it (the same 404, so names cannot be probed).
    """
    row = fetch_named(conn, servers, name, "server")
    ctx.require_server(server_gateway_ids(conn, row.id), row.name)
    return row


@dataclass(frozen=True, slots=True)
class AssignmentTarget:
    """A gateway's row and one of its assignments' (``gateway_servers``) row."""

    gateway: Row[Any]
    assignment: Row[Any]


def fetch_assignment_target(
    ctx: Context, conn: Connection, gateway: str, assignment: str
) -> AssignmentTarget:
    """The gateway called ``gateway``, which the actor must be able to use, and its assignment called
    ``assignment``.

    Raises:
        NotFoundError: no such gateway or assignment.
        NotFound: the actor may not use the gateway (the answer for one that does not exist).
    """
    row = fetch_named(conn, gateways, gateway, "gateway")
    ctx.require_gateway(row.id, row.name)
    return AssignmentTarget(row, fetch_assignment(conn, row.id, assignment))
