"""Audit entries in the store: appended in batches, read back newest first or by correlation id, or
a page at a time within a reader's scope."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import fields
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Row, select

from lockgate.domain.audit import AuditEntry
from lockgate.store.gateways import select_gateway_names
from lockgate.store.records import page_newest
from lockgate.store.rows import as_dict
from lockgate.store.schema import audit_entries

_COLUMNS = [f.name for f in fields(AuditEntry)]


ROWS_PER_STATEMENT = 500  # 15 columns x 500 rows stays under SQLite's 32,766 bound parameters


def _insert_sql(rows: int, mark: str) -> str:
    """``INSERT ... VALUES (...), (...)`` for ``rows`` rows with positional ``mark`` placeholders.

    One multi-row statement instead of an executemany: the driver crosses into the database (and,
    for SQLite, gives the GIL away and takes it back) once per statement rather than once per row,
    which had the event loop waiting on the audit writer's thread."""
    group = "(" + ", ".join([mark] * len(_COLUMNS)) + ")"
    names = ", ".join(_COLUMNS)
    return f"INSERT INTO {audit_entries.name} ({names}) VALUES " + ", ".join([group] * rows)  # noqa: S608


def save_entries(engine: Engine, entries: Sequence[AuditEntry]) -> None:
    """Append ``entries`` in one transaction.

    PostgreSQL gets them through ``COPY ... FROM STDIN`` (psycopg 3 ``Cursor.copy``): one stream for
    the batch, no statement to parse or plan per row; a batch of one-row INSERTs was a fifth of the
    gateway's samples at 32 connections. SQLite gets multi-row statements (``_insert_sql``)."""
    if not entries:
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            _copy_entries(conn, entries)
            return
        for start in range(0, len(entries), ROWS_PER_STATEMENT):
            chunk = entries[start : start + ROWS_PER_STATEMENT]
            values = tuple(getattr(e, c) for e in chunk for c in _COLUMNS)
            conn.exec_driver_sql(_insert_sql(len(chunk), "?"), values)


def _copy_entries(conn: Connection, entries: Sequence[AuditEntry]) -> None:
    """Stream ``entries`` into PostgreSQL with ``COPY`` on ``conn``'s psycopg connection, inside its
    transaction (PostgreSQL COPY; every column is text or a number, sent in COPY's text format)."""
    names = ", ".join(_COLUMNS)
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(f"COPY {audit_entries.name} ({names}) FROM STDIN") as copy:
        for entry in entries:
            copy.write_row(tuple(getattr(entry, c) for c in _COLUMNS))


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


def load_entry_page(
    conn: Connection,
    *,
    on_gateways: Collection[int] | Literal["any"] | None,
    equal: dict[str, Any],
    since: float | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Row[Any]], str | None]:
    """A page of entries, newest first, filtered as ``page_newest`` does and scoped to the entries
    of the gateways ``on_gateways`` (ids; ``"any"``: of any gateway; None: every entry, those of
    no gateway too).

    Raises:
        ValueError: a malformed cursor.
    """
    scope = None if on_gateways is None else audit_entries.c.gateway.in_(select_gateway_names(on_gateways))
    return page_newest(conn, audit_entries, equal=equal, since=since, cursor=cursor, limit=limit, where=scope)
