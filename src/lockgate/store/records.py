"""Reading and writing named, versioned rows: the shape every control-plane resource shares.

Each change bumps ``version`` in the same UPDATE that checks it, so two writers holding the same
version cannot both succeed, across processes and databases (optimistic concurrency).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Row, Select, Table, delete, select, update
from sqlalchemy.exc import IntegrityError

from lockgate.store.errors import ConflictError, NotFoundError, StaleVersionError
from lockgate.store.rows import insert_returning_id

MAX_PAGE = 500


def fetch_named(conn: Connection, table: Table, name: str, kind: str) -> Row[Any]:
    """The row called ``name``.

    Raises:
        NotFoundError: there is none.
    """
    row = conn.execute(select(table).where(table.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no {kind} named {name!r}")
    return row


def insert_row(conn: Connection, table: Table, kind: str, values: dict[str, Any]) -> Row[Any]:
    """Insert a row (with timestamps and version 1) and return it as stored.

    Raises:
        ConflictError: a unique column (the name) is taken.
    """
    now = time.time()
    stamps: dict[str, Any] = {"created_at": now}
    if "updated_at" in table.c:
        stamps["updated_at"] = now
    if "version" in table.c:
        stamps["version"] = 1
    try:
        with conn.begin_nested():
            new_id = insert_returning_id(conn, table, {**values, **stamps})
    except IntegrityError as exc:
        label = values.get("name", values.get("email", ""))
        raise ConflictError(f"a {kind} named {label!r} already exists") from exc
    return conn.execute(select(table).where(table.c.id == new_id)).one()


def update_row(
    conn: Connection, table: Table, row: Row[Any], kind: str, values: dict[str, Any], expected: int | None
) -> Row[Any]:
    """Apply ``values`` to ``row`` and bump its version; with ``expected``, only if the stored
    version still is that, checked in the UPDATE itself (optimistic concurrency, RFC 9110 §13.1.1).

    Raises:
        StaleVersionError: the row's version is no longer ``expected``, or the row is gone.
        ConflictError: a unique column (the name) is taken.
    """
    if expected is not None and row.version != expected:
        raise StaleVersionError(f"{kind} {_label(row)!r} is at version {row.version}, not {expected}")
    # Without ``expected`` the change applies to whatever version is stored, atomically: the
    # database serializes two such UPDATEs of one row and each bumps the version.
    stamps: dict[str, Any] = {"version": table.c.version + 1}
    if "updated_at" in table.c:
        stamps["updated_at"] = time.time()
    where = table.c.id == row.id
    if expected is not None:
        where &= table.c.version == expected
    statement = update(table).where(where).values(**values, **stamps)
    try:
        with conn.begin_nested():
            changed = conn.execute(statement).rowcount
    except IntegrityError as exc:
        raise ConflictError(f"a {kind} named {values.get('name')!r} already exists") from exc
    if not changed:
        raise StaleVersionError(f"{kind} {_label(row)!r} changed while this request ran")
    return conn.execute(select(table).where(table.c.id == row.id)).one()


def delete_row(conn: Connection, table: Table, row: Row[Any], kind: str, expected: int | None) -> None:
    """Delete ``row``; with ``expected``, only at that version.

    Raises:
        StaleVersionError: the row's version is no longer ``expected``.
        ConflictError: other rows still refer to it.
    """
    if expected is not None and row.version != expected:
        raise StaleVersionError(f"{kind} {_label(row)!r} is at version {row.version}, not {expected}")
    try:
        with conn.begin_nested():
            conn.execute(delete(table).where(table.c.id == row.id))
    except IntegrityError as exc:
        raise ConflictError(f"{kind} {_label(row)!r} is still in use") from exc


def _label(row: Row[Any]) -> str:
    """What a row is called in messages: its name, or a user's email."""
    return str(row._mapping.get("name", row._mapping.get("email", row.id)))


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The sort key a cursor stands for.

    Raises:
        ValueError: the cursor is not one this store issued.
    """
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("not a cursor this server issued") from exc


def page(
    conn: Connection,
    query: Select[Any],
    key: Column[Any],
    cursor: str | None,
    limit: int,
    descending: bool = False,
) -> tuple[list[Row[Any]], str | None]:
    """One page of ``query`` ordered by the unique ``key`` (highest first when ``descending``),
    after ``cursor`` (keyset pagination).

    Returns the rows and the cursor of the next page (None on the last page).

    Raises:
        ValueError: a malformed cursor.
    """
    if cursor:
        after: Any = decode_cursor(cursor)
        if key.type.python_type is int:
            if not after.isdigit():
                raise ValueError("not a cursor this server issued")
            after = int(after)
        query = query.where(key < after if descending else key > after)
    rows = list(conn.execute(query.order_by(key.desc() if descending else key).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(str(rows[-1]._mapping[key.name]))


def page_newest(
    conn: Connection,
    table: Table,
    *,
    equal: dict[str, Any],
    since: float | None,
    cursor: str | None,
    limit: int,
    where: ColumnElement[bool] | None = None,
) -> tuple[list[Row[Any]], str | None]:
    """One page of an append-only table (admin events, audit entries), newest first: keyset on
    ``id``, so rows appended meanwhile do not shift the pages. ``equal`` maps columns to the value
    they must hold (None: any); ``since`` keeps rows created at or after it (seconds since the epoch);
    ``where``, when given, keeps the rows it holds for (a reader's scope).

    Raises:
        ValueError: a malformed cursor.
    """
    query = select(table) if where is None else select(table).where(where)
    for column, value in equal.items():
        if value is not None:
            query = query.where(table.c[column] == value)
    if since is not None:
        query = query.where(table.c.created_at >= since)
    return page(conn, query, table.c.id, cursor, limit, descending=True)
