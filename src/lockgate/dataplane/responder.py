"""Writing one POST's answer: plain JSON when the answer is all there is, an SSE stream as soon as
anything must go before it (progress, log messages, server→client requests).

Deciding lazily keeps the common call a single JSON body while still relaying notifications
(MCP basic/transports: a request POST gets ``application/json`` or ``text/event-stream``). A legacy
stream opens with a priming event carrying an id, a ``retry:`` field (``RETRY_MS``, how long a client
waits before it reconnects) and empty data (2025-11-25 basic/transports §Sending Messages to the Server).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

log = logging.getLogger(__name__)
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_event_ids = itertools.count(1)
RETRY_MS = 1000


def json_headers(extra: list[tuple[bytes, bytes]] | None = None) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", b"application/json"), *(extra or [])]


async def send_json(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": json_headers(extra)})
    await send({"type": "http.response.body", "body": body})


SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class Responder:
    """The answer to one POST. ``emit`` sends a message before the response; ``finish`` sends it."""

    def __init__(
        self, send: Send, *, prime: bool, extra_headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self._send = send
        self._prime = prime
        self._extra = extra_headers or []
        self._lock = asyncio.Lock()
        self.streaming = False
        self.finished = False
        self.body: bytes | None = None

    async def open_stream(self) -> None:
        """Start the SSE response now (GET streams and listen streams open before any message)."""
        self.streaming = True
        await self._send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS + self._extra})
        if self._prime:
            await self._event(b"", b"retry: %d\n" % RETRY_MS)

    async def _event(self, data: bytes, fields: bytes = b"") -> None:
        chunk = b"id: %d\n%sdata: %s\n\n" % (next(_event_ids), fields, data)
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def emit(self, message: dict[str, Any]) -> None:
        """Send a notification or request ahead of the response (opens the stream on first use).

        A message too deep to serialize (a server's, past orjson's 254 levels) is not sent, and logged."""
        try:
            data = orjson.dumps(message if "jsonrpc" in message else {"jsonrpc": "2.0", **message})
        except orjson.JSONEncodeError:
            log.warning("a %s message could not be serialized and was not relayed", message.get("method"))
            return
        async with self._lock:
            if self.finished:
                return
            if not self.streaming:
                await self.open_stream()
            await self._event(data)

    async def end_stream(self) -> None:
        """End an open stream with no further message (a GET stream whose session ended)."""
        async with self._lock:
            if self.streaming and not self.finished:
                self.finished = True
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    async def finish(self, message: dict[str, Any], status: int = 200) -> bytes:
        """Send the response; returns its serialized body (for the audit)."""
        body = orjson.dumps(message)
        async with self._lock:
            self.finished = True
            self.body = body
            if self.streaming:
                await self._event(body)
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await send_json(self._send, status, body, self._extra)
        return body
