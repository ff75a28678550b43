"""The migrations create exactly the tables ``store/schema.py`` declares, on either database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from lockgate.store.schema import metadata


def test_the_migrated_database_matches_the_schema_module(engine: Engine) -> None:
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []
