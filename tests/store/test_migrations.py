"""The migrations create exactly the tables ``store/schema.py`` declares, on either database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, insert, inspect, select, text

from lockgate.store.engine import _alembic_config, open_engine, upgrade
from lockgate.store.schema import (
    access_changes,
    admin_events,
    api_tokens,
    connections,
    gateways,
    hosts,
    metadata,
    roles,
    servers,
    users,
)
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


def test_upgrading_takes_private_identities_from_tokens_someone_else_minted(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(_alembic_config(engine, TEST_VAULT), "0003")
    with engine.begin() as conn:
        member = conn.execute(text("SELECT id FROM roles WHERE name = 'Member'")).scalar_one()
        for statement in (
            "INSERT INTO hosts (id, name, kind, enabled, link_id, version, created_at)"
            " VALUES (1, 'h', 'token', 1, 'link', 1, 0)",
            "INSERT INTO gateways (id, name, enabled, archived, version, created_at, updated_at)"
            " VALUES (1, 'g', 1, 0, 1, 0, 0)",
            "INSERT INTO users (id, email, role_id, active, version, created_at) VALUES"
            " (1, 'ada@example.com', :member, 1, 1, 0), (2, 'bob@example.com', :member, 1, 1, 0)",
            "INSERT INTO connections (id, host_id, gateway_id, user_id, enabled, created_at)"
            " VALUES (1, 1, 1, 1, 1, 0), (2, 1, 1, 2, 1, 0)",
            "INSERT INTO api_tokens (public_id, token_hash, connection_id, created_at)"
            " VALUES ('tok_own', 'a', 1, 0), ('tok_handed', 'b', 2, 0), ('tok_enrolled', 'c', 2, 0)",
            "INSERT INTO admin_events (correlation_id, created_at, actor, operation, kind, name) VALUES"
            " ('c1', 0, 'ada@example.com', 'tokens_create', 'api_token', 'tok_own'),"
            " ('c2', 0, 'ada@example.com', 'tokens_create', 'api_token', 'tok_handed')",
        ):
            conn.execute(text(statement), {"member": member} if ":member" in statement else {})

    upgrade(engine, TEST_VAULT)

    with engine.connect() as conn:
        rows = conn.execute(
            select(api_tokens.c.public_id, api_tokens.c.private_identities, api_tokens.c.expires_at)
        )
        assert {r.public_id: (r.private_identities, r.expires_at) for r in rows} == {
            "tok_own": (True, None),
            "tok_handed": (False, None),
            "tok_enrolled": (True, None),
        }
    engine.dispose()


def test_downgrading_from_tokens_hosts_keeps_every_host_connection_and_token(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'new.db'}")
    upgrade(engine, TEST_VAULT)
    with engine.begin() as conn:
        member = conn.execute(text("SELECT id FROM roles WHERE name = 'Member'")).scalar_one()
        for statement in (
            "INSERT INTO hosts (id, name, kind, enabled, link_id, version, created_at, webhook_set_by)"
            " VALUES (1, 'h', 'token', 1, 'link', 1, 0, 1)",
            "INSERT INTO gateways (id, name, enabled, archived, version, created_at, updated_at)"
            " VALUES (1, 'g', 1, 0, 1, 0, 0)",
            "INSERT INTO users (id, email, role_id, active, version, created_at)"
            " VALUES (1, 'ada@example.com', :member, 1, 1, 0)",
            "INSERT INTO connections (id, host_id, gateway_id, user_id, enabled, created_at)"
            " VALUES (1, 1, 1, 1, 1, 0)",
            "INSERT INTO api_tokens (public_id, token_hash, connection_id, created_at, expires_at)"
            " VALUES ('tok_a', 'a', 1, 0, 5)",
        ):
            conn.execute(text(statement), {"member": member} if ":member" in statement else {})

    command.downgrade(_alembic_config(engine, TEST_VAULT), "0003")

    with engine.connect() as conn:
        for table in (hosts, connections, api_tokens):
            assert conn.execute(select(func.count()).select_from(table)).scalar() == 1
    engine.dispose()


def test_upgrading_gives_each_token_the_sponsor_it_stands_on_and_admins_view_all_logs(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(_alembic_config(engine, TEST_VAULT), "0003")
    with engine.begin() as conn:
        member = conn.execute(select(roles.c.id).where(roles.c.name == "Member")).scalar_one()
        for user_id, email in [
            (1, "ada@example.com"),
            (2, "bot@agents.lockgate.invalid"),
            (3, "kim@example.com"),
        ]:
            conn.execute(
                insert(users).values(
                    id=user_id, email=email, role_id=member, active=True, version=1, created_at=0.0
                )
            )
        conn.execute(
            insert(hosts).values(
                id=1, name="bot", kind="token", enabled=True, link_id="l", version=1, created_at=0.0
            )
        )
        conn.execute(
            insert(gateways).values(
                id=1, name="g", enabled=True, archived=False, version=1, created_at=0.0, updated_at=0.0
            )
        )
        for connection_id, user_id in [(1, 1), (2, 2)]:
            conn.execute(
                insert(connections).values(
                    id=connection_id, host_id=1, gateway_id=1, user_id=user_id, enabled=True, created_at=0.0
                )
            )
        for token_id, connection_id in [(1, 1), (2, 2), (3, 2)]:
            conn.execute(
                insert(api_tokens).values(
                    id=token_id,
                    public_id=f"tok_{token_id}",
                    token_hash=str(token_id),
                    connection_id=connection_id,
                    created_at=0.0,
                )
            )
        conn.execute(
            insert(admin_events).values(
                correlation_id="c",
                created_at=0.0,
                actor="kim@example.com",
                operation="tokens_create",
                kind="api_token",
                name="tok_2",
                before=None,
                after={},
            )
        )
        conn.execute(
            insert(admin_events).values(
                correlation_id="c",
                created_at=0.0,
                actor="operator@host",
                operation="tokens_create",
                kind="api_token",
                name="tok_3",
                before=None,
                after={},
            )
        )

    upgrade(engine, TEST_VAULT)

    with engine.connect() as conn:
        sponsors = dict(conn.execute(select(api_tokens.c.public_id, api_tokens.c.sponsor_id)).all())
        grants = dict(conn.execute(select(roles.c.name, roles.c.capabilities)).all())
    assert sponsors == {"tok_1": 1, "tok_2": 3, "tok_3": None}  # the person; the minter; the operator
    assert "viewAllLogs" in grants["Super admin"]
    assert "viewAllLogs" in grants["Administrator"]
    assert grants["Member"] == []
    engine.dispose()


def test_downgrading_from_access_changes_drops_the_counter_and_its_triggers_and_upgrading_restores_them(
    engine: Engine,
) -> None:
    config = _alembic_config(engine, TEST_VAULT)
    command.downgrade(config, "0005_tokens_hosts")
    with engine.begin() as conn:  # a write with no counter to bump still succeeds
        conn.execute(text("UPDATE hosts SET enabled = enabled"))
    assert not inspect(engine).has_table("access_changes")

    command.upgrade(config, "head")  # later revisions may change what access reads (0007 grants a capability)

    with engine.connect() as conn:
        upgraded = conn.execute(select(access_changes.c.value)).scalar_one()
    with engine.begin() as conn:
        conn.execute(insert(gateways).values(name="g", version=1, created_at=0.0, updated_at=0.0))
    with engine.connect() as conn:
        assert conn.execute(select(access_changes.c.value)).scalar_one() == upgraded + 1
