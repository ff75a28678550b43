"""Streamable HTTP servers: what a server answers reaches the caller as the server said it, and a
modern server's list changes reach the gateway over one listen stream per connection."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.upstream.base import UpstreamError
from lockgate.upstream.http import StreamableHttpUpstream
from lockgate.upstream.http_client import HttpClient
from lockgate.upstream.listen import listen_filter
from tests.conftest import DEADLINE
from tests.upstream.conftest import StartServer
from tests.upstream.scripted import Reply

pytestmark = pytest.mark.anyio
MODERN = Client(era=Era.MODERN)
ACKNOWLEDGED = "notifications/subscriptions/acknowledged"
TOOLS_CHANGED = "notifications/tools/list_changed"
NOT_FOUND = {"code": -32602, "message": "Resource not found", "data": {"uri": "file:///nowhere"}}


async def ignore(_message: JsonObject) -> None:
    pass


async def test_a_json_rpc_error_under_http_400_is_relayed_with_its_code_message_and_data(
    scripted: StartServer, http: HttpClient
) -> None:
    async def answer(message: JsonObject, reply: Reply) -> None:
        reply.json(400, {"jsonrpc": "2.0", "id": message["id"], "error": NOT_FOUND})

    server = await scripted(answer)
    upstream = StreamableHttpUpstream("files", server.url, {}, http, ignore, Era.MODERN)
    try:
        response = await upstream.request("resources/read", {"uri": "file:///nowhere"}, MODERN)
    finally:
        await upstream.close()
    assert response == {"error": NOT_FOUND}


@pytest.mark.parametrize("answered_id", [None, "server-error"])
async def test_a_refusal_under_http_4xx_answers_its_request_whatever_id_it_carries(
    scripted: StartServer, http: HttpClient, answered_id: object
) -> None:
    refused = {"code": -32000, "message": "Bad Request: No valid session ID provided"}

    async def answer(_message: JsonObject, reply: Reply) -> None:
        reply.json(400, {"jsonrpc": "2.0", "id": answered_id, "error": refused})

    server = await scripted(answer)
    upstream = StreamableHttpUpstream("files", server.url, {}, http, ignore, Era.MODERN)
    try:
        response = await upstream.request("tools/call", {"name": "t"}, MODERN)
    finally:
        await upstream.close()
    assert response == {"error": refused}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"detail": "bad request"}, "application/json"),
        ({"error": "invalid_token"}, "application/json"),  # an OAuth error, not JSON-RPC
        ({"jsonrpc": "2.0", "id": 1, "error": {"code": "x", "message": "m"}}, "application/json"),
        (b"<html>bad gateway</html>", "text/html"),
    ],
)
async def test_an_answer_under_http_4xx_that_is_not_a_json_rpc_error_is_an_upstream_failure(
    scripted: StartServer, http: HttpClient, body: object, content_type: str
) -> None:
    async def answer(_message: JsonObject, reply: Reply) -> None:
        reply.json(400, body, content_type)

    server = await scripted(answer)
    upstream = StreamableHttpUpstream("files", server.url, {}, http, ignore, Era.MODERN)
    try:
        with pytest.raises(UpstreamError, match="answered HTTP 400"):
            await upstream.request("tools/call", {"name": "t"}, MODERN)
    finally:
        await upstream.close()


class ListeningServer:
    """Answers ``subscriptions/listen`` with an acknowledged stream the test feeds (``streams``), and
    any other request with an empty result."""

    def __init__(self) -> None:
        self.streams: asyncio.Queue[tuple[JsonObject, Reply]] = asyncio.Queue()

    async def __call__(self, message: JsonObject, reply: Reply) -> None:
        if message["method"] != "subscriptions/listen":
            reply.json(200, {"jsonrpc": "2.0", "id": message["id"], "result": {}})
            return
        reply.open_stream()
        tag = {"io.modelcontextprotocol/subscriptionId": message["id"]}
        await reply.event({"jsonrpc": "2.0", "method": ACKNOWLEDGED, "params": {"_meta": tag}})
        await self.streams.put((message, reply))


class Notes:
    """Collects what a connection sends on as unrelated to any call."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[JsonObject] = asyncio.Queue()

    async def __call__(self, message: JsonObject) -> None:
        await self.queue.put(message)

    async def next(self, method: str) -> JsonObject:
        with anyio.fail_after(DEADLINE):
            while (message := await self.queue.get())["method"] != method:
                pass
        return message


async def test_a_modern_server_advertising_list_changes_is_listened_to_for_those_and_its_changes_come_through(
    scripted: StartServer, http: HttpClient
) -> None:
    listening = ListeningServer()
    server = await scripted(listening)
    notes = Notes()
    upstream = StreamableHttpUpstream("files", server.url, {}, http, notes, Era.MODERN)
    try:
        assert await upstream.request("tools/list", {}, MODERN) == {"result": {}}
        with anyio.fail_after(DEADLINE):
            listen, stream = await listening.streams.get()
        assert listen["params"]["notifications"] == {"toolsListChanged": True, "resourcesListChanged": True}
        await stream.event({"jsonrpc": "2.0", "method": TOOLS_CHANGED})
        assert await notes.next(TOOLS_CHANGED) == {"jsonrpc": "2.0", "method": TOOLS_CHANGED}
        # calls go on while the listen stays open
        assert await upstream.request("tools/list", {}, MODERN) == {"result": {}}
    finally:
        await upstream.close()
    assert [m["method"] for m in server.received].count("subscriptions/listen") == 1


async def test_a_listen_stream_the_server_ends_is_opened_again(
    scripted: StartServer, http: HttpClient
) -> None:
    listening = ListeningServer()
    server = await scripted(listening)
    notes = Notes()
    upstream = StreamableHttpUpstream("files", server.url, {}, http, notes, Era.MODERN)
    upstream.listen_backoff = (0.01, 0.02)
    try:
        await upstream.connect(MODERN)
        with anyio.fail_after(DEADLINE):
            _, first = await listening.streams.get()
            first.end()
            _, second = await listening.streams.get()
        await second.event({"jsonrpc": "2.0", "method": TOOLS_CHANGED})
        await notes.next(TOOLS_CHANGED)
    finally:
        await upstream.close()


def test_a_listen_asks_for_the_list_changes_the_server_advertises_and_no_other() -> None:
    advertised = {
        "tools": {"listChanged": True},
        "prompts": {"listChanged": False},
        "resources": {"subscribe": True},
        "logging": {"listChanged": True},
    }
    assert listen_filter(advertised) == {"toolsListChanged": True}
    assert listen_filter({"tools": {}, "prompts": {}}) == {}


async def test_watched_resource_uris_are_asked_for_on_one_new_listen_per_burst_of_changes(
    scripted: StartServer, http: HttpClient
) -> None:
    listening = ListeningServer()
    server = await scripted(listening)
    upstream = StreamableHttpUpstream("files", server.url, {}, http, ignore, Era.MODERN)
    watched = frozenset({"file:///b", "file:///a"})
    try:
        await upstream.connect(MODERN)
        with anyio.fail_after(DEADLINE):
            first, _ = await listening.streams.get()
            upstream.watch(frozenset({"file:///a"}))
            upstream.watch(watched)  # within the delay: one new listen for both changes
            second, _ = await listening.streams.get()
            upstream.watch(watched)  # the same set: no new listen
            upstream.watch(frozenset())
            third, _ = await listening.streams.get()
    finally:
        await upstream.close()
    assert "resourceSubscriptions" not in first["params"]["notifications"]
    assert second["params"]["notifications"]["resourceSubscriptions"] == ["file:///a", "file:///b"]
    assert "resourceSubscriptions" not in third["params"]["notifications"]
    assert [m["method"] for m in server.received].count("subscriptions/listen") == 3


async def test_a_modern_connection_answers_a_resource_subscribe_itself_instead_of_sending_it(
    scripted: StartServer, http: HttpClient
) -> None:
    server = await scripted(ListeningServer())
    upstream = StreamableHttpUpstream("files", server.url, {}, http, ignore, Era.MODERN)
    try:
        for method in ("resources/subscribe", "resources/unsubscribe"):
            assert await upstream.request(method, {"uri": "file:///a"}, MODERN) == {"result": {}}
    finally:
        await upstream.close()
    assert not [m for m in server.received if m["method"].startswith("resources/")]


def test_a_listen_asks_for_watched_uris_only_of_a_server_that_advertises_resource_subscriptions() -> None:
    uris = frozenset({"file:///a"})
    assert listen_filter({"resources": {"subscribe": True}}, uris) == {"resourceSubscriptions": ["file:///a"]}
    assert listen_filter({"resources": {"listChanged": True}}, uris) == {"resourcesListChanged": True}
