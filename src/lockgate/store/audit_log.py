"""Audit entries in the store: appended in batches, read back newest first or by correlation id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine, insert, select

from lockgate.domain.audit import AuditEntry
from lockgate.store.schema import audit_entries


def save_entries(engine: Engine, entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` in one transaction (one executemany)."""
    if entries:
        with engine.begin() as conn:
            conn.execute(insert(audit_entries), [asdict(e) for e in entries])


def load_entries(
    engine: Engine,
    *,
    correlation_id: str | None = None,
    gateway: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Entries as dicts: one correlation id's legs in the order they happened, or the newest ``limit``."""
    query = select(audit_entries)
    if gateway:
        query = query.where(audit_entries.c.gateway == gateway)
    if correlation_id:
        query = query.where(audit_entries.c.correlation_id == correlation_id).order_by(audit_entries.c.id)
    else:
        query = query.order_by(audit_entries.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [r._asdict() for r in conn.execute(query)]
