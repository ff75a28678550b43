"""Rows as plain dicts for callers outside the store (CLI tables, JSON output)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row


def as_dict(row: Row[*tuple[Any, ...]]) -> dict[str, Any]:
    """The row's columns by plain ``str`` name (SQLAlchemy's names are a ``str`` subclass that some
    JSON encoders refuse as keys)."""
    return {str(key): value for key, value in row._mapping.items()}
