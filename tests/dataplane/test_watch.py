"""The provisioning watch: a gateway whose provisioning rows change is told once, whoever wrote them;
a write that moves the access counter but not provisioning tells no one."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine, insert, select, update

from lockgate.dataplane.watch import ProvisioningWatch, changed_gateways, read_fingerprints
from lockgate.domain.declaration import Declaration
from lockgate.domain.features import FeatureKind
from lockgate.domain.provisioning import Mode
from lockgate.store.declarative import apply_declaration
from lockgate.store.schema import gateway_servers, gateways, team_members, teams, users
from tests.conftest import DEADLINE, TEST_VAULT
from tests.dataplane.in_process import ECHO
from tests.dataplane.provisioning_kit import approve, set_modes

pytestmark = pytest.mark.anyio


def _declare(engine: Engine) -> None:
    declaration = {
        "servers": [
            {"name": name, "transport": "http", "url": f"https://{name}.example/mcp"} for name in ("a", "b")
        ],
        "gateways": [
            {"name": "one", "servers": [{"server": "a"}]},
            {"name": "two", "servers": [{"server": "b"}]},
        ],
    }
    apply_declaration(engine, TEST_VAULT, Declaration.model_validate(declaration))


def test_a_fingerprint_moves_with_modes_filters_and_approvals_and_not_with_other_columns(
    engine: Engine,
) -> None:
    _declare(engine)
    before = read_fingerprints(engine)
    with engine.begin() as conn:
        conn.execute(update(gateway_servers).values(prefix="p"))
    renamed = read_fingerprints(engine)
    set_modes(engine, "a", {FeatureKind.TOOL: Mode.BLOCK_ALL})
    moded = read_fingerprints(engine)
    approve(engine, "b", FeatureKind.TOOL, ECHO)
    approved = read_fingerprints(engine)

    assert renamed == before
    assert len(changed_gateways(renamed, moded)) == 1
    assert changed_gateways(renamed, moded) != changed_gateways(moded, approved)


async def test_the_watch_tells_the_gateway_whose_provisioning_a_store_write_changed(engine: Engine) -> None:
    _declare(engine)
    told: asyncio.Queue[int] = asyncio.Queue()
    watch = ProvisioningWatch(engine, told.put_nowait, interval=0.01)
    await watch.start()
    try:
        with engine.begin() as conn:  # the counter moves, provisioning does not
            conn.execute(update(gateway_servers).values(prefix="p"))
        set_modes(engine, "a", {FeatureKind.TOOL: Mode.BLOCK_ALL})
        async with asyncio.timeout(DEADLINE):
            gateway = await told.get()
    finally:
        await watch.close()

    with engine.connect() as conn:
        one = conn.execute(select(gateways.c.id).where(gateways.c.name == "one")).scalar_one()
    assert gateway == one
    assert told.empty()


def test_a_fingerprint_moves_when_a_team_an_approval_is_limited_to_gains_a_member(engine: Engine) -> None:
    declaration = {
        "servers": [{"name": "a", "transport": "http", "url": "https://a.example/mcp"}],
        "gateways": [{"name": "one", "servers": [{"server": "a"}], "teams": ["red"]}],
        "teams": [{"name": "red"}],
        "users": [{"email": "red@example.com", "teams": ["red"]}, {"email": "new@example.com"}],
    }
    apply_declaration(engine, TEST_VAULT, Declaration.model_validate(declaration))
    approve(engine, "a", FeatureKind.TOOL, ECHO, team_names=["red"])
    before = read_fingerprints(engine)
    with engine.begin() as conn:
        red = conn.execute(select(teams.c.id).where(teams.c.name == "red")).scalar_one()
        new = conn.execute(select(users.c.id).where(users.c.email == "new@example.com")).scalar_one()
        conn.execute(insert(team_members).values(team_id=red, user_id=new))

    assert len(changed_gateways(before, read_fingerprints(engine))) == 1


async def test_a_fault_in_the_watch_is_logged_and_the_watch_goes_on(engine: Engine) -> None:
    _declare(engine)
    told: asyncio.Queue[int] = asyncio.Queue()
    faults = [RuntimeError("a fault outside the store")]

    def on_changed(gateway: int) -> None:
        if faults:
            raise faults.pop()
        told.put_nowait(gateway)

    watch = ProvisioningWatch(engine, on_changed, interval=0.001)
    await watch.start()
    try:
        set_modes(engine, "a", {FeatureKind.TOOL: Mode.BLOCK_ALL})
        async with asyncio.timeout(DEADLINE):
            gateway = await told.get()
    finally:
        await watch.close()

    assert not faults and gateway > 0
