"""Admin events: every control-plane change, who made it, and the resource before and after;
appended with the change, read a page at a time within a reader's scope."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any, Literal

from sqlalchemy import Connection, Row, insert

from lockgate.store.gateways import select_gateway_names
from lockgate.store.records import page_newest
from lockgate.store.schema import admin_events


def save_admin_event(
    conn: Connection,
    *,
    correlation_id: str,
    actor: str,
    operation: str,
    kind: str,
    name: str,
    before: Any,
    after: Any,
) -> None:
    """Append one event in the caller's transaction, so it commits with the change it describes."""
    conn.execute(
        insert(admin_events).values(
            correlation_id=correlation_id,
            created_at=time.time(),
            actor=actor,
            operation=operation,
            kind=kind,
            name=name,
            before=before,
            after=after,
        )
    )


def load_event_page(
    conn: Connection,
    *,
    on_gateways: Collection[int] | Literal["any"] | None,
    equal: dict[str, Any],
    since: float | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Row[Any]], str | None]:
    """A page of events, newest first, filtered as ``page_newest`` does and scoped to the events
    about the gateways ``on_gateways`` (ids; ``"any"``: about any gateway; None: every event): a
    change to the gateway itself, or to a resource naming it as its ``gateway`` before or after
    (API tokens, connections). Changes to people, roles, teams, servers and hosts concern no one
    gateway, so only an unscoped reader sees them.

    Raises:
        ValueError: a malformed cursor.
    """
    scope = None
    if on_gateways is not None:
        names = select_gateway_names(on_gateways)
        scope = (
            ((admin_events.c.kind == "gateway") & admin_events.c.name.in_(names))
            | admin_events.c.before["gateway"].as_string().in_(names)
            | admin_events.c.after["gateway"].as_string().in_(names)
        )
    return page_newest(conn, admin_events, equal=equal, since=since, cursor=cursor, limit=limit, where=scope)
