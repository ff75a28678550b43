"""A scripted HTTP server on a raw socket, for the upstream tests: each POSTed message is answered by a
test's own ``answer(message, reply)``; ``reply`` writes a JSON body under any status, or opens an SSE
stream that the test feeds; a GET opens a stream the test takes from ``streams`` (HTTP+SSE servers).
Notifications get 202; modern-era ``server/discover`` is answered as ``DISCOVERED``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from lockgate.domain.mcp import Era, JsonObject

DISCOVERED = {
    "supportedVersions": [Era.MODERN.value],
    "capabilities": {"tools": {"listChanged": True}, "resources": {"listChanged": True, "subscribe": True}},
}


class Reply:
    """How the server answers one POST."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self.streaming = False

    def json(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        self._writer.write(
            f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n".encode()
            + f"Content-Length: {len(data)}\r\n\r\n".encode()
            + data
        )

    def open_stream(self) -> None:
        """Start an SSE answer; it ends when the connection closes (``end``)."""
        self.streaming = True
        self._writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")

    async def event(self, message: JsonObject | str, event: str = "message") -> None:
        data = message.encode() if isinstance(message, str) else orjson.dumps(message)
        self._writer.write(b"event: " + event.encode() + b"\ndata: " + data + b"\n\n")
        await self._writer.drain()

    def end(self) -> None:
        self._writer.close()


Answer = Callable[[JsonObject, Reply], Awaitable[None]]


class ScriptedServer:
    """Answers each POST with ``answer``; a GET is answered with a stream handed to ``streams``."""

    def __init__(self, answer: Answer) -> None:
        self._answer = answer
        self.received: list[JsonObject] = []
        self.streams: asyncio.Queue[Reply] = asyncio.Queue()
        self.server: asyncio.Server | None = None

    async def on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not writer.is_closing():
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            request_line, *lines = head.decode().split("\r\n")
            if request_line.startswith("GET "):
                stream = Reply(writer)
                stream.open_stream()
                await self.streams.put(stream)
                return
            fields = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines if line)}
            message = orjson.loads(await reader.readexactly(int(fields["content-length"])))
            self.received.append(message)
            reply = Reply(writer)
            if "id" not in message:
                reply.json(202, b"")
            elif message["method"] == "server/discover":
                reply.json(200, {"jsonrpc": "2.0", "id": message["id"], "result": DISCOVERED})
            else:
                await self._answer(message, reply)
            if reply.streaming:
                return
            await writer.drain()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/mcp"
