"""The whole app in process over memory servers (``lockgate.upstream.memory``): no socket, no process.

``memory_gateway(settings, engine, servers, gateway=...)`` declares the servers (named like the memory
servers), a gateway over them and a host ``agent``, builds the app with a pool that reaches each server
in memory, runs the app's lifespan, and drives it through ``StreamingAsgiTransport``. The front client
helpers speak both eras::

    alpha = MemoryServer(tools=[ECHO])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = await gateway.legacy_client()
        answer = await client.request("tools/call", {"name": "echo", "arguments": {}})
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine

from lockgate.app import DataPlaneFirst, build_app
from lockgate.dataplane.inspection import AskEngine
from lockgate.domain.declaration import Declaration
from lockgate.domain.mcp import (
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_PROTOCOL_VERSION,
    Era,
    JsonObject,
)
from lockgate.settings import Settings
from lockgate.store.audit_log import load_entries
from lockgate.store.declarative import apply_declaration
from lockgate.store.tokens import create_token
from lockgate.upstream.memory import MemoryServer, memory_factory
from tests.conftest import DEADLINE, TEST_VAULT

BASE = "http://127.0.0.1:8080"
ECHO = {"name": "echo", "description": "Echoes its arguments", "inputSchema": {"type": "object"}}
Message = MutableMapping[str, Any]


class StreamingAsgiTransport(httpx.AsyncBaseTransport):
    """``httpx.ASGITransport`` that hands the response over as soon as it starts and streams its body as
    the app sends it (``ASGITransport`` waits for the whole body, so an SSE stream could not be read
    while open). Closing the response tells the app its client went away (``http.disconnect``) and
    waits for the app to return, re-raising what it raised."""

    def __init__(self, app: DataPlaneFirst) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": (request.url.host, request.url.port),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
        }
        started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = (
            asyncio.get_running_loop().create_future()
        )
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        gone = asyncio.Event()
        delivered = False

        async def receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.set_result((message["status"], list(message.get("headers", []))))
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    chunks.put_nowait(message["body"])
                if not message.get("more_body", False):
                    chunks.put_nowait(None)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            finally:
                if not started.done():
                    started.set_exception(RuntimeError("the app returned without a response"))
                chunks.put_nowait(None)

        task = asyncio.create_task(run())
        status, headers = await started
        return httpx.Response(status, headers=headers, stream=_BodyStream(chunks, gone, task))


class _BodyStream(httpx.AsyncByteStream):
    def __init__(self, chunks: asyncio.Queue[bytes | None], gone: asyncio.Event, task: asyncio.Task[None]):
        self._chunks, self._gone, self._task = chunks, gone, task

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._chunks.get()) is not None:
            yield chunk

    async def aclose(self) -> None:
        self._gone.set()
        async with asyncio.timeout(DEADLINE):
            await self._task


class SseReader:
    """Reads one SSE response's events (``id`` and ``data`` lines; WHATWG HTML §9.2), each within the
    test deadline."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.headers["content-type"].startswith("text/event-stream"), response.headers
        self._lines = response.aiter_lines()

    async def event(self) -> tuple[str | None, str]:
        """The next event's id and data (empty data for a priming event)."""
        event_id: str | None = None
        data: list[str] = []
        async with asyncio.timeout(DEADLINE):
            async for line in self._lines:
                if line == "":
                    return event_id, "\n".join(data)
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "id":
                    event_id = value
                elif name == "data":
                    data.append(value)
        raise AssertionError("the stream ended")

    async def message(self) -> JsonObject:
        """The next JSON-RPC message, skipping events without data."""
        while True:
            _, data = await self.event()
            if data:
                message: JsonObject = orjson.loads(data)
                return message


@dataclass
class FrontClient:
    """A host's client of ``/mcp/{gateway}`` with its bearer token; a legacy one carries its session."""

    http: httpx.AsyncClient
    path: str
    token: str
    era: Era
    capabilities: JsonObject = field(default_factory=dict)
    session: str | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def headers(self, method: str | None = None, params: JsonObject | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        if self.session is not None:
            headers["Mcp-Session-Id"] = self.session
        if self.era is Era.MODERN and method is not None:
            headers |= {"MCP-Protocol-Version": Era.MODERN.value, "Mcp-Method": method}
            name = (params or {}).get("name", (params or {}).get("uri"))
            if isinstance(name, str):
                headers["Mcp-Name"] = name
        return headers

    def body(self, method: str, params: JsonObject | None) -> JsonObject:
        """A request with a fresh id; a modern one carries the ``_meta`` the era requires."""
        if self.era is Era.MODERN:
            meta = {
                META_PROTOCOL_VERSION: Era.MODERN.value,
                META_CLIENT_CAPABILITIES: self.capabilities,
                META_CLIENT_INFO: {"name": "test", "version": "1"},
            }
            params = {**(params or {}), "_meta": meta}
        message: JsonObject = {"jsonrpc": "2.0", "id": next(self._ids), "method": method}
        if params is not None:
            message["params"] = params
        return message

    async def post(self, message: JsonObject) -> httpx.Response:
        params = message.get("params")
        headers = self.headers(message.get("method"), params if isinstance(params, dict) else None)
        return await self.http.post(self.path, content=orjson.dumps(message), headers=headers)

    async def request(self, method: str, params: JsonObject | None = None) -> JsonObject:
        """The JSON-RPC response to one request (from a JSON body or the last event of a stream)."""
        response = await self.post(self.body(method, params))
        if response.headers["content-type"].startswith("text/event-stream"):
            events = [e.removeprefix("data: ") for e in response.text.split("\n") if e.startswith("data: ")]
            answer: JsonObject = orjson.loads(events[-1])
            return answer
        answer = response.json()
        return answer

    @contextlib.asynccontextmanager
    async def stream(self, method: str, params: JsonObject | None = None) -> AsyncIterator[SseReader]:
        """A request whose answer is read as a stream (e.g. a call the server asks something during)."""
        message = self.body(method, params)
        headers = self.headers(method, params)
        async with self.http.stream("POST", self.path, content=orjson.dumps(message), headers=headers) as r:
            yield SseReader(r)

    @contextlib.asynccontextmanager
    async def listen_legacy(self) -> AsyncIterator[SseReader]:
        """The session's GET stream, open (its priming event read) when the block starts."""
        headers = {**self.headers(), "Accept": "text/event-stream"}
        async with self.http.stream("GET", self.path, headers=headers) as response:
            assert response.status_code == 200, response.status_code
            reader = SseReader(response)
            assert await reader.event() != (None, "")  # the priming event: the stream is registered
            yield reader


@dataclass
class MemoryGateway:
    """The running app over memory servers, with gateway ``gateway`` and host ``agent`` declared."""

    app: DataPlaneFirst
    engine: Engine
    settings: Settings
    http: httpx.AsyncClient
    gateway: str
    servers: Mapping[str, MemoryServer]

    def token(self, host: str = "agent") -> str:
        _token_id, token = create_token(
            self.engine, self.settings.key_bytes(), host, self.gateway, None, minted_by=None
        )
        return token

    async def legacy_client(
        self, capabilities: JsonObject | None = None, token: str | None = None
    ) -> FrontClient:
        """A legacy client with an initialized session."""
        client = FrontClient(self.http, f"/mcp/{self.gateway}", token or self.token(), Era.LEGACY)
        params = {
            "protocolVersion": Era.LEGACY.value,
            "capabilities": capabilities or {},
            "clientInfo": {"name": "test", "version": "1"},
        }
        response = await client.post(client.body("initialize", params))
        assert response.status_code == 200, response.text
        client.session = response.headers["mcp-session-id"]
        await client.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return client

    def modern_client(self, capabilities: JsonObject | None = None) -> FrontClient:
        return FrontClient(self.http, f"/mcp/{self.gateway}", self.token(), Era.MODERN, capabilities or {})

    async def legs(self, correlation_id: str) -> list[JsonObject]:
        await self.app.state.lockgate.recorder.flush()
        return load_entries(self.engine, correlation_id=correlation_id)


@contextlib.asynccontextmanager
async def running(app: DataPlaneFirst) -> AsyncIterator[None]:
    """The app's lifespan (ASGI lifespan protocol): started for the block, shut down after it."""
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()

    async def send(message: Message) -> None:
        await outbox.put(message)

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send))
    try:
        await inbox.put({"type": "lifespan.startup"})
        async with asyncio.timeout(DEADLINE):
            started = await outbox.get()
        assert started["type"] == "lifespan.startup.complete", started
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        async with asyncio.timeout(DEADLINE):
            stopped = await outbox.get()
            await task
        assert stopped["type"] == "lifespan.shutdown.complete", stopped


@contextlib.asynccontextmanager
async def memory_gateway(
    settings: Settings,
    engine: Engine,
    servers: Mapping[str, MemoryServer],
    *,
    gateway: str = "g",
    assignments: list[JsonObject] | None = None,
    ask: AskEngine | None = None,
) -> AsyncIterator[MemoryGateway]:
    """The app with ``servers`` declared (as HTTP servers, reached in memory) on ``gateway``, each
    assigned as ``assignments`` says (default: every server, no prefix), allowing every feature
    unless an assignment says otherwise, and host ``agent``; rule engines asked through ``ask``."""
    assigned = assignments or [{"server": name} for name in servers]
    declaration = {
        "servers": [
            {"name": name, "transport": "http", "url": f"https://{name}.example/mcp"} for name in servers
        ],
        "gateways": [{"name": gateway, "servers": [{"provisioning": "allow_all"} | a for a in assigned]}],
        "hosts": [{"name": "agent"}],
    }
    apply_declaration(engine, TEST_VAULT, Declaration.model_validate(declaration))
    app = build_app(settings, engine, upstream_factory=memory_factory(servers), ask=ask)
    transport = StreamingAsgiTransport(app)
    async with (
        running(app),
        httpx.AsyncClient(transport=transport, base_url=BASE, timeout=DEADLINE) as http,
    ):
        yield MemoryGateway(app, engine, settings, http, gateway, servers)
