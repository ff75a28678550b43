"""The gateway's own listen to a modern server written by others (the `mcp` SDK, serving our
conformance fixture): the server acknowledges it, and a tool list change arrives on it, and so do the
updates of the resource URIs the gateway watches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest

from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.upstream.http import StreamableHttpUpstream
from lockgate.upstream.http_client import HttpClient
from tests.conformance.servers import running_server, server
from tests.conftest import DEADLINE

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
ACKNOWLEDGED = "notifications/subscriptions/acknowledged"
TOOLS_CHANGED = "notifications/tools/list_changed"
UPDATED = "notifications/resources/updated"
WATCHED = "test://watched"


@pytest.fixture
def fixture_url(tmp_path: Path) -> Iterator[str]:
    with running_server(server("fixture"), tmp_path, "fixture") as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    client = HttpClient()
    yield client
    await client.close()


class Heard:
    """What the gateway's upstream connection hears outside any call, in order."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[JsonObject] = asyncio.Queue()

    async def put(self, message: JsonObject) -> None:
        await self._queue.put(message)

    async def next_of(self, method: str) -> JsonObject:
        """The next notification of ``method``, skipping others, within the deadline."""
        with anyio.fail_after(DEADLINE):
            while (message := await self._queue.get())["method"] != method:
                pass
        return message


async def test_a_modern_sdk_servers_tool_list_change_arrives_on_the_gateways_listen(
    fixture_url: str, http: HttpClient
) -> None:
    heard = Heard()
    upstream = StreamableHttpUpstream("fixture", fixture_url, {}, http, heard.put, Era.MODERN)
    client = Client(era=Era.MODERN)
    try:
        await upstream.connect(client)
        assert upstream.era is Era.MODERN
        await heard.next_of(ACKNOWLEDGED)  # the server holds our listen now
        called = await upstream.request("tools/call", {"name": "test_trigger_tool_change"}, client)
        assert called["result"]["content"][0]["text"] == "tool list changed"
        changed = await heard.next_of(TOOLS_CHANGED)
    finally:
        await upstream.close()
    assert "io.modelcontextprotocol/subscriptionId" in changed["params"]["_meta"]


async def test_a_modern_sdk_servers_update_of_a_watched_uri_arrives_on_the_gateways_new_listen(
    fixture_url: str, http: HttpClient
) -> None:
    heard = Heard()
    upstream = StreamableHttpUpstream("fixture", fixture_url, {}, http, heard.put, Era.MODERN)
    client = Client(era=Era.MODERN)
    try:
        await upstream.connect(client)
        await heard.next_of(ACKNOWLEDGED)
        upstream.watch(frozenset({WATCHED}))
        acknowledged = await heard.next_of(ACKNOWLEDGED)  # the listen sent again, naming the URI
        trigger = {"name": "test_trigger_resource_update", "arguments": {"uri": WATCHED}}
        assert "result" in await upstream.request("tools/call", trigger, client)
        updated = await heard.next_of(UPDATED)
    finally:
        await upstream.close()
    assert acknowledged["params"]["notifications"]["resourceSubscriptions"] == [WATCHED]
    assert updated["params"]["uri"] == WATCHED
