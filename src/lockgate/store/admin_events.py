"""Admin events: every control-plane change, who made it, and the resource before and after."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, insert

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
