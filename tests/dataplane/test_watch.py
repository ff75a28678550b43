"""The provisioning watch: a gateway whose provisioning rows change is told once, whoever wrote them;
a write that moves the access counter but not provisioning tells no one."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Engine, select, update

from lockgate.dataplane.watch import ProvisioningWatch, changed_gateways, read_fingerprints
from lockgate.domain.declaration import Declaration
from lockgate.domain.features import FeatureKind
from lockgate.domain.provisioning import Mode
from lockgate.store.declarative import apply_declaration
from lockgate.store.schema import gateway_servers, gateways
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
