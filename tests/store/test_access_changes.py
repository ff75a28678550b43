"""The change counter and the access read that leans on it: every write to a table the access query
reads bumps the counter in its own transaction, and a token's access is answered from memory only
while the counter stands still. On either database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, Table, delete, insert, select, text, update
from sqlalchemy.sql.util import find_tables

from lockgate.domain.declaration import Declaration
from lockgate.domain.tokens import hash_token
from lockgate.settings import Settings
from lockgate.store.access import ACCESS_QUERIES, AccessReader
from lockgate.store.declarative import apply_declaration
from lockgate.store.rules import COUNTED_TABLES
from lockgate.store.schema import access_changes, hosts, metadata
from lockgate.store.tokens import create_token
from tests.conftest import TEST_VAULT

pytestmark = pytest.mark.anyio

DECLARATION = {
    "servers": [{"name": "remote", "transport": "http", "url": "http://127.0.0.1:9/mcp"}],
    "gateways": [{"name": "g", "servers": [{"server": "remote", "provisioning": "allow_all"}]}],
    "hosts": [{"name": "agent"}, {"name": "other"}],
}


def read_tables() -> set[Table]:
    """The tables the access query and the rules read (``store.rules.COUNTED_TABLES``) read, aliases
    resolved."""
    joined = [t for q in ACCESS_QUERIES for t in find_tables(q, include_aliases=True, include_joins=True)]
    found = [*COUNTED_TABLES, *joined]
    return {
        metadata.tables[t.name] for t in (getattr(f, "element", f) for f in found) if isinstance(t, Table)
    }


def change(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(access_changes.c.value)).scalar_one())


@pytest.fixture
def tokens(engine: Engine, settings: Settings) -> dict[str, str]:
    """A token hash for each declared host."""
    apply_declaration(engine, TEST_VAULT, Declaration.model_validate(DECLARATION))
    key = settings.key_bytes()
    return {
        host: hash_token(key, create_token(engine, key, host, "g", None, minted_by=None)[1])
        for host in ("agent", "other")
    }


@pytest.fixture
def reader(engine: Engine) -> Iterator[AccessReader]:
    reader = AccessReader(engine, TEST_VAULT, threads=2, cache_size=1)
    yield reader
    reader.close()


def test_the_access_query_reads_at_least_the_tables_it_joins() -> None:
    assert {"api_tokens", "connections", "hosts", "identities", "team_gateways"} <= {
        t.name for t in read_tables()
    }


def test_every_table_the_access_query_reads_has_its_triggers(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        catalog = "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        watched = text(catalog + " WHERE t.tgname LIKE 'access_changes_%'")
        expected = {t.name: 1 for t in read_tables()}
    else:
        watched = text(
            "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'access_changes_%'"
        )
        expected = {t.name: 3 for t in read_tables()}  # insert, update, delete
    with engine.connect() as conn:
        names = [row[0] for row in conn.execute(watched)]
    assert {name: names.count(name) for name in names} == expected


def test_inserting_updating_and_deleting_a_row_each_bump_the_counter(engine: Engine) -> None:
    seen = [change(engine)]
    for statement in (
        insert(hosts).values(name="new", kind="token", enabled=True, link_id="l", version=1, created_at=0.0),
        update(hosts).where(hosts.c.name == "new").values(enabled=False),
        delete(hosts).where(hosts.c.name == "new"),
    ):
        with engine.begin() as conn:
            conn.execute(statement)
        seen.append(change(engine))
    assert seen == sorted(set(seen))


def test_a_rolled_back_write_leaves_the_counter_where_it_was(engine: Engine, tokens: dict[str, str]) -> None:
    before = change(engine)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(update(hosts).values(enabled=False))
        raise RuntimeError("roll back")
    assert change(engine) == before


async def test_an_unchanged_store_answers_from_memory_and_a_change_is_seen_on_the_next_read(
    engine: Engine, tokens: dict[str, str], reader: AccessReader
) -> None:
    first = await reader.load(tokens["agent"])
    assert first is not None and first.host_enabled
    assert await reader.load(tokens["agent"]) is first
    with engine.begin() as conn:
        conn.execute(update(hosts).where(hosts.c.name == "agent").values(enabled=False))
    after = await reader.load(tokens["agent"])
    assert after is not None and not after.host_enabled


async def test_every_token_of_a_gateway_shares_one_provisioning_until_the_counter_moves(
    engine: Engine, tokens: dict[str, str], reader: AccessReader
) -> None:
    agent = await reader.load(tokens["agent"])
    other = await reader.load(tokens["other"])
    with engine.begin() as conn:
        conn.execute(update(hosts).where(hosts.c.name == "agent").values(enabled=False))
    changed = await reader.load(tokens["other"])

    assert agent is not None and other is not None and changed is not None
    assert agent.assignments[0].provisioning is other.assignments[0].provisioning
    assert changed.assignments[0].provisioning is not other.assignments[0].provisioning
    assert changed.assignments[0].provisioning == other.assignments[0].provisioning


async def test_the_remembered_tokens_are_bounded_and_the_least_recent_is_read_again(
    tokens: dict[str, str], reader: AccessReader
) -> None:
    agent = await reader.load(tokens["agent"])
    other = await reader.load(tokens["other"])
    assert other is not None and other.principal.host == "other"
    again = await reader.load(tokens["agent"])
    assert again == agent and again is not agent


async def test_a_counter_that_went_back_forgets_what_was_remembered_under_its_old_values(
    engine: Engine, tokens: dict[str, str]
) -> None:
    reader = AccessReader(engine, TEST_VAULT, threads=2)
    before = change(engine)
    assert (await reader.load(tokens["agent"])).host_enabled  # type: ignore[union-attr]
    with engine.begin() as conn:
        conn.execute(update(hosts).where(hosts.c.name == "agent").values(enabled=False))
    await reader.load(tokens["other"])  # the reader sees the counter move on
    with engine.begin() as conn:  # a restore puts the counter back where the agent was remembered
        conn.execute(update(access_changes).values(value=before))
    after = await reader.load(tokens["agent"])
    reader.close()
    assert after is not None and not after.host_enabled


async def test_without_the_counter_row_every_read_runs_the_query(
    engine: Engine, tokens: dict[str, str], reader: AccessReader
) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM access_changes"))
    try:
        first = await reader.load(tokens["agent"])
        assert first is not None
        assert await reader.load(tokens["agent"]) is not first
    finally:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO access_changes (id, value) VALUES (1, 0)"))


async def test_an_unknown_token_is_none(reader: AccessReader, tokens: dict[str, str]) -> None:
    assert await reader.load("no such hash") is None


async def test_loads_at_once_each_get_their_own_token_and_see_a_commit_made_before_they_began(
    engine: Engine, tokens: dict[str, str], reader: AccessReader
) -> None:
    hosts_seen = await asyncio.gather(*(reader.load(tokens[h]) for h in ["agent", "other"] * 16))
    assert [a.principal.host if a else None for a in hosts_seen] == ["agent", "other"] * 16
    with engine.begin() as conn:
        conn.execute(update(hosts).values(enabled=False))
    after = await asyncio.gather(*(reader.load(tokens[h]) for h in ["agent", "other"] * 16))
    assert not any(a is None or a.host_enabled for a in after)
