"""Streamable HTTP servers: what a server answers reaches the caller as the server said it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lockgate.upstream.base import Client, Era, JsonObject, UpstreamError
from lockgate.upstream.http import StreamableHttpUpstream
from lockgate.upstream.http_client import HttpClient
from tests.upstream.conftest import StartServer
from tests.upstream.scripted import Reply

pytestmark = pytest.mark.anyio
MODERN = Client(era=Era.MODERN)
NOT_FOUND = {"code": -32602, "message": "Resource not found", "data": {"uri": "file:///nowhere"}}


async def ignore(_message: JsonObject) -> None:
    pass


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    client = HttpClient()
    yield client
    await client.close()


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
