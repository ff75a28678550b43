"""The seam to upstream servers: the ``Upstream`` protocol and upstream failures (the MCP vocabulary
both sides share, eras and the front ``Client``, is ``domain/mcp.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol

from lockgate.domain.mcp import Client, Era, JsonObject

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The default bound on one message from a server (an HTTP body, an SSE event, a stdio line)."""


class UpstreamError(Exception):
    """The server could not be reached or broke the protocol. The message is safe to show a client.

    ``sent`` is False when the request never left the gateway (the server could not be started or
    connected to), so the audit can tell "not sent" from "sent, no answer".
    """

    sent = True


class UpstreamUnavailableError(UpstreamError):
    """The server is down: it could not be started, connected to, or it exited mid-call."""


class ResponseTooLargeError(UpstreamError):
    """The server sent a message (an HTTP body, an SSE event, a stdio line) larger than the gateway
    takes, ``limit`` bytes; the call it answers fails rather than the gateway holding it."""

    def __init__(self, who: str, limit: int) -> None:
        super().__init__(f"{who} sent a message over the gateway's limit of {limit} bytes")
        self.limit = limit


class Upstream(Protocol):
    """One live connection (session, process or stateless channel) to a server.

    ``request`` returns the server's JSON-RPC response object (with ``result`` or ``error``, ``id``
    removed). It raises ``UpstreamError`` when no response can be had. Cancelling the awaiting task
    cancels the request upstream (``notifications/cancelled``, or closing the HTTP stream).
    """

    @property
    def era(self) -> Era: ...

    @property
    def server_capabilities(self) -> JsonObject: ...

    @property
    def server_info(self) -> JsonObject: ...

    @property
    def is_open(self) -> bool:
        """True while a connection is open (``connect`` would return at once)."""

    async def connect(self, client: Client) -> None:
        """Open the connection (start the process, handshake) unless it is open. Raises ``UpstreamError``."""

    async def request(self, method: str, params: JsonObject | None, client: Client) -> JsonObject: ...

    async def notify(self, method: str, params: JsonObject | None) -> None: ...

    def watch(self, uris: frozenset[str]) -> None:
        """The resource URIs whose updates the front clients of this connection want: a modern
        connection asks for them on its listen (``listen``); a legacy one has them subscribed by
        ``resources/subscribe`` and ignores this."""

    async def close(self) -> None: ...


async def open_within(upstream: Upstream, client: Client, server: str, deadline: float) -> None:
    """Open ``upstream`` (start the process, handshake) within ``deadline`` seconds.

    Raises:
        UpstreamUnavailableError: it did not open in time (``sent`` is False), or could not be opened.
    """
    try:
        async with asyncio.timeout(deadline):
            await upstream.connect(client)
    except TimeoutError:
        error = UpstreamUnavailableError(f"server {server!r} did not start within {deadline:g}s")
        error.sent = False
        raise error from None


OnServerNotification = Callable[[JsonObject], Awaitable[None]]
"""Receives notifications unrelated to any call (list_changed, resources/updated)."""
