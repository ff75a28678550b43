"""Servers on the deprecated HTTP+SSE transport: a refusal the server answers as a JSON-RPC error is
relayed as it is."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.upstream.base import UpstreamError
from lockgate.upstream.http_client import HttpClient
from lockgate.upstream.sse import SseUpstream
from tests.conftest import DEADLINE
from tests.upstream.conftest import StartServer
from tests.upstream.scripted import Reply

pytestmark = pytest.mark.anyio
LEGACY = Client(era=Era.LEGACY)
NOT_FOUND = {"code": -32002, "message": "Resource not found", "data": {"uri": "file:///nowhere"}}


async def ignore(_message: JsonObject) -> None:
    pass


class SseServer:
    """An HTTP+SSE server: answers ``initialize`` on its event stream (``stream``, set once the GET
    arrived) and any other request with HTTP 400 and ``refusal`` as the body."""

    def __init__(self, refusal: object) -> None:
        self.refusal = refusal
        self.stream: Reply | None = None

    async def __call__(self, message: JsonObject, reply: Reply) -> None:
        if message["method"] != "initialize":
            reply.json(400, self.refusal)
            return
        reply.json(202, b"")
        assert self.stream is not None
        result = {"protocolVersion": Era.LEGACY.value, "capabilities": {}, "serverInfo": {"name": "s"}}
        await self.stream.event({"jsonrpc": "2.0", "id": message["id"], "result": result})


async def _answer_to_a_read(scripted: StartServer, http: HttpClient, refusal: object) -> JsonObject:
    sse = SseServer(refusal)
    server = await scripted(sse)
    upstream = SseUpstream("files", server.url, {}, http, ignore)
    try:
        read = asyncio.create_task(upstream.request("resources/read", {"uri": "file:///nowhere"}, LEGACY))
        with anyio.fail_after(DEADLINE):
            sse.stream = await server.streams.get()
            await sse.stream.event("/mcp", "endpoint")
            return await read
    finally:
        await upstream.close()


async def test_a_json_rpc_error_under_http_400_is_relayed_with_its_code_message_and_data(
    scripted: StartServer, http: HttpClient
) -> None:
    refusal = {"jsonrpc": "2.0", "id": None, "error": NOT_FOUND}
    assert await _answer_to_a_read(scripted, http, refusal) == {"error": NOT_FOUND}


async def test_an_answer_under_http_400_that_is_not_a_json_rpc_error_is_an_upstream_failure(
    scripted: StartServer, http: HttpClient
) -> None:
    with pytest.raises(UpstreamError, match="answered HTTP 400"):
        await _answer_to_a_read(scripted, http, {"detail": "could not parse message"})
