"""The migrations create exactly the tables ``store/schema.py`` declares, on either database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, insert, select

from lockgate.store.engine import _alembic_config, open_engine, upgrade
from lockgate.store.schema import metadata, servers
from lockgate.store.servers import load_config
from tests.conftest import TEST_VAULT


def test_the_migrated_database_matches_the_schema_module(engine: Engine) -> None:
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    assert differences == []


def test_upgrading_a_store_with_plaintext_server_secrets_seals_them(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(_alembic_config(engine, None), "0002")
    config = {"url": "http://127.0.0.1:9/mcp", "headers": {"Authorization": "Bearer planted-7c1d"}}
    with engine.begin() as conn:
        conn.execute(
            insert(servers).values(
                name="remote", transport="http", enabled=True, config=config, revision="r", version=1,
                created_at=0.0, updated_at=0.0,
            )
        )  # fmt: skip

    upgrade(engine, TEST_VAULT)

    with engine.connect() as conn:
        row = conn.execute(select(servers)).one()
    assert row.config == {"url": "http://127.0.0.1:9/mcp", "headers": ["Authorization"], "env": []}
    assert "planted-7c1d" not in row.secrets
    assert load_config(row, TEST_VAULT)["headers"] == {"Authorization": "Bearer planted-7c1d"}
    engine.dispose()
