"""The upstream pool: connections are per identity, down to keep-alive, and clients cannot grow it
without bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from lockgate.domain.model import Credential, IdentityKind, IdentityStatus, Server, Transport
from lockgate.upstream.base import Client, Era, JsonObject, UpstreamError, relayed_capabilities
from lockgate.upstream.pool import UpstreamPool

pytestmark = pytest.mark.anyio
DISCOVERED = {"supportedVersions": [Era.MODERN.value], "capabilities": {"tools": {}}}


class RawMcpServer:
    """A stateless modern-era server answering every request; records which ``X-Api-Key`` each
    connection carried."""

    def __init__(self) -> None:
        self.keys_by_connection: list[set[str]] = []
        self.server: asyncio.Server | None = None

    async def on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        keys: set[str] = set()
        self.keys_by_connection.append(keys)
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            fields = dict(line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
            keys.add(fields.get("X-Api-Key", ""))
            message = orjson.loads(await reader.readexactly(int(fields["Content-Length"])))
            if "id" not in message:
                writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                continue
            result = DISCOVERED if message["method"] == "server/discover" else {"content": []}
            body = orjson.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result})
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/mcp"


@pytest.fixture
async def raw() -> AsyncIterator[RawMcpServer]:
    raw = RawMcpServer()
    raw.server = await asyncio.start_server(raw.on_connection, "127.0.0.1", 0)
    yield raw
    raw.server.close()


def _credential(identity_id: int, key: str) -> Credential:
    return Credential(
        identity_id,
        f"identity-{identity_id}",
        IdentityKind.HEADERS,
        True,
        IdentityStatus.READY,
        1,
        {"X-Api-Key": key},
    )


async def _no_notification(_server_id: int, _identity_id: int, _message: JsonObject) -> None:
    return None


async def test_keep_alive_connections_are_never_shared_across_identities(raw: RawMcpServer) -> None:
    server = Server(id=1, name="remote", transport=Transport.HTTP, url=raw.url)
    pool = UpstreamPool(_no_notification)
    await pool.start()
    alice, bob = _credential(1, "alice-key"), _credential(2, "bob-key")
    try:
        for credential in (alice, bob, alice, bob):
            upstream = pool.get(server, Client(), credential)
            answer = await upstream.request("tools/call", {"name": "t", "arguments": {}}, Client())
            assert answer["result"] == {"content": []}
    finally:
        await pool.close()
    assert sorted(map(sorted, raw.keys_by_connection)) == [["alice-key"], ["bob-key"]]


async def test_a_stored_server_header_with_a_line_break_is_never_sent(raw: RawMcpServer) -> None:
    # as a server row stored before its headers were checked holds it
    server = Server(
        id=1, name="remote", transport=Transport.HTTP, url=raw.url, headers={"X-Static": "s\r\nHost: x"}
    )
    pool = UpstreamPool(_no_notification)
    await pool.start()
    try:
        with pytest.raises(UpstreamError, match="refusing to send header 'X-Static'") as refused:
            await pool.get(server, Client()).request("tools/call", {"name": "t"}, Client())
    finally:
        await pool.close()
    assert refused.value.sent is False and raw.keys_by_connection == []


async def ignore(_server_id: int, _identity_id: int, _message: JsonObject) -> None:
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
