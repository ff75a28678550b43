"""The MCP vocabulary the data plane and the upstream side share: JSON objects, the two protocol eras
and their versions, the ``_meta`` keys of the modern era, and the front client an exchange is made for
(MCP 2025-11-25 and 2026-07-28 basic/lifecycle, basic/versioning)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JsonObject = dict[str, Any]


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
