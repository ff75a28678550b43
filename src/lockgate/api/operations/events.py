"""Admin events: every control-plane change, who made it, and the resource before and after.

Each change and its event commit in one transaction (``Context.record``), so what is readable here is
exactly what happened. ``correlation_id`` is the ``X-Correlation-Id`` of the change's response. A
reader sees the events about the gateways they may use; "View all logs" lifts that scope (§6.1).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from lockgate.api.operation import Context, Operation
from lockgate.api.operations.common import ListInput, Page
from lockgate.domain.capabilities import Capability
from lockgate.policy.access_control import resolve_visible_logs
from lockgate.store.admin_events import load_event_page
from lockgate.store.rows import as_dict


class Event(BaseModel):
    id: int
    created_at: float
    correlation_id: str
    actor: str = Field(description="The email of who made the change.")
    operation: str = Field(description="The operation's id, e.g. 'users_update'.")
    kind: str = Field(description="What changed: 'user', 'role', 'team', 'gateway'...")
    name: str = Field(description="Which one: its name (a user's email, a token's public id).")
    before: Any = Field(description="The resource before the change; null when it was created.")
    after: Any = Field(description="The resource after the change; null when it was deleted.")


class EventList(ListInput):
    actor: str | None = Field(None, max_length=320)
    kind: str | None = Field(None, max_length=32)
    name: str | None = Field(None, max_length=320)
    operation: str | None = Field(None, max_length=64)
    correlation_id: str | None = Field(None, max_length=36)
    since: float | None = Field(None, ge=0, description="Only events at or after this time (epoch seconds).")


def list_events(ctx: Context, args: EventList) -> Page[Event]:
    """Admin events about the gateways the caller may use (their tokens and connections too; every
    event with "View all logs"), newest first; each filter keeps the events whose field equals it."""
    equal = args.model_dump(include={"actor", "kind", "name", "operation", "correlation_id"})
    with ctx.transaction() as conn:
        rows, cursor = load_event_page(
            conn,
            on_gateways=resolve_visible_logs(ctx.actor),
            equal=equal,
            since=args.since,
            cursor=args.cursor,
            limit=args.limit,
        )
    return Page[Event](items=[Event.model_validate(as_dict(r)) for r in rows], next_cursor=cursor)


OPERATIONS = [
    Operation("events", "list", "GET", "/events", "List admin events", Capability.VIEW_AND_EXPORT_LOGS,
              list_events, EventList, Page[Event], columns=("id", "actor", "operation", "kind", "name")),
]  # fmt: skip
