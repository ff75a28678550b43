"""The seam to upstream servers: the ``Upstream`` protocol, protocol eras and upstream failures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

JsonObject = dict[str, Any]
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The default bound on one message from a server (an HTTP body, an SSE event, a stdio line)."""


class Era(StrEnum):
    """The two protocol eras (MCP 2026-07-28 basic/versioning): the value is the version we speak."""

    LEGACY = "2025-11-25"
    MODERN = "2026-07-28"


LEGACY_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
MODERN_VERSIONS = ("2026-07-28",)
META_PREFIX = "io.modelcontextprotocol/"
META_PROTOCOL_VERSION = META_PREFIX + "protocolVersion"
META_CLIENT_CAPABILITIES = META_PREFIX + "clientCapabilities"
META_CLIENT_INFO = META_PREFIX + "clientInfo"
META_LOG_LEVEL = META_PREFIX + "logLevel"
RELAYED_CLIENT_CAPABILITIES = {
    "roots": ("listChanged",),
    "sampling": ("context", "tools"),
    "elicitation": ("form", "url"),
}
"""Client capabilities the gateway can relay, with the fields of each it passes on; only these (as
the front client declared them) are declared upstream (MCP 2025-11-25 basic/lifecycle: both sides
MUST only use negotiated capabilities)."""


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


@dataclass(slots=True)
class Client:
    """The front client an upstream exchange is made for: what it declared and how to reach it.

    ``on_request`` relays a server→client request (sampling, elicitation, roots) to the front
    client and returns its JSON-RPC response (``result`` or ``error``); None means the front client
    cannot be asked now. ``on_notification`` relays a notification related to the call (progress,
    logging).
    """

    capabilities: JsonObject = field(default_factory=dict)
    era: Era | None = None  # the front client's era; a dual-era HTTP server is spoken to in the same one
    info: JsonObject = field(default_factory=lambda: {"name": "lockgate", "version": "0"})
    upstream_headers: dict[str, str] = field(default_factory=dict)  # per call, e.g. Mcp-Param-*
    on_request: Callable[[str, JsonObject | None], Awaitable[JsonObject]] | None = None
    on_notification: Callable[[JsonObject], Awaitable[None]] | None = None


def relayed_capabilities(capabilities: JsonObject | None) -> JsonObject:
    """The part of a front client's capabilities the gateway declares upstream, in its schema's shape
    (MCP 2025-11-25 schema ``ClientCapabilities``): ``roots.listChanged`` as a boolean, the
    ``sampling`` and ``elicitation`` fields as empty objects, nothing else. Connections are pooled per
    relayed capabilities, so their few shapes bound how many a client's declarations can open."""
    if not capabilities:
        return {}
    relayed: JsonObject = {}
    for name, fields in RELAYED_CLIENT_CAPABILITIES.items():
        declared = capabilities.get(name)
        if not isinstance(declared, dict):
            continue
        present = [f for f in fields if declared.get(f) not in (None, False)]
        relayed[name] = {f: True if f == "listChanged" else {} for f in present}
    return relayed


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


OnServerNotification = Callable[[JsonObject], Awaitable[None]]
"""Receives notifications unrelated to any call (list_changed, resources/updated)."""
