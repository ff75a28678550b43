"""The upstream pool: what it keys connections by, and that clients cannot grow it without bound."""

from __future__ import annotations

import pytest

from lockgate.domain.model import Server, Transport
from lockgate.upstream.base import Client, Era, JsonObject, relayed_capabilities
from lockgate.upstream.pool import UpstreamPool

pytestmark = pytest.mark.anyio


async def ignore(_server_id: int, _message: JsonObject) -> None:
    pass


async def test_clients_declaring_endlessly_varied_capabilities_share_a_bounded_set_of_connections() -> None:
    pool = UpstreamPool(ignore)
    server = Server(1, "local", Transport.STDIO, command="true")
    for i in range(50):
        declared = {
            "roots": {"listChanged": True, "padding": "x" * i},
            "sampling": {"tools": {"n": i}},
            "experimental": {"n": i},
        }
        pool.get(server, Client(capabilities=declared, era=Era.LEGACY))
    assert len(pool.live(server.id)) == 1


def test_relayed_capabilities_keep_the_schemas_fields_only() -> None:
    declared = {
        "roots": {"listChanged": True, "x": 1},
        "sampling": {"context": {"deep": "x" * 100}, "other": {}},
        "elicitation": {"form": {}, "url": False},
        "experimental": {"anything": {}},
        "tasks": {},
    }
    assert relayed_capabilities(declared) == {
        "roots": {"listChanged": True},
        "sampling": {"context": {}},
        "elicitation": {"form": {}},
    }
    assert relayed_capabilities({"sampling": True, "roots": {"listChanged": False}}) == {"roots": {}}
