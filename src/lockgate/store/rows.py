"""Rows in and out: one row inserted for its new id, and rows as plain dicts for callers outside the
store (CLI tables, JSON output)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, Table, insert


def insert_returning_id(conn: Connection, table: Table, values: Mapping[str, Any]) -> int:
    """Insert one row of ``values`` into ``table`` and return its new integer primary key.

    Raises:
        sqlalchemy.exc.IntegrityError: a constraint refused the row.
    """
    key = conn.execute(insert(table).values(dict(values))).inserted_primary_key
    if key is None:  # SQLAlchemy gives None only for statements that are not single-row inserts
        raise TypeError(f"no primary key came back from an insert into {table.name}")
    return int(key[0])


def as_dict(row: Row[*tuple[Any, ...]]) -> dict[str, Any]:
    """The row's columns by plain ``str`` name (SQLAlchemy's names are a ``str`` subclass that some
    JSON encoders refuse as keys)."""
    return {str(key): value for key, value in row._mapping.items()}
