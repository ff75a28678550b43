"""Audit entries in the store: appended in batches, read back newest first or by correlation id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import Engine, select

from lockgate.domain.audit import AuditEntry
from lockgate.store.rows import as_dict
from lockgate.store.schema import audit_entries

_COLUMNS = [f.name for f in fields(AuditEntry)]


def _insert_sql(engine: Engine) -> str:
    """A plain INSERT in the driver's own named parameter style: the batch skips SQLAlchemy's
    per-row parameter processing, which dominated the audit writer's time."""
    mark = ":{}" if engine.dialect.name == "sqlite" else "%({})s"  # sqlite3 and psycopg styles
    names = ", ".join(_COLUMNS)
    values = ", ".join(mark.format(c) for c in _COLUMNS)
    return f"INSERT INTO {audit_entries.name} ({names}) VALUES ({values})"  # noqa: S608 - fixed column names


def save_entries(engine: Engine, entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` in one transaction (one executemany)."""
    if entries:
        rows = [{c: getattr(e, c) for c in _COLUMNS} for e in entries]
        with engine.begin() as conn:
            conn.exec_driver_sql(_insert_sql(engine), rows)


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
        return [as_dict(r) for r in conn.execute(query)]
