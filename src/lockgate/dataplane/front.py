"""What the gateway itself answers: ``initialize``, ``server/discover``, ``ping``, and the
capabilities it declares to front clients."""

from __future__ import annotations

from lockgate.domain.mcp import LEGACY_VERSIONS, META_PREFIX, MODERN_VERSIONS, Era, JsonObject

SERVER_INFO = {"name": "lockgate", "title": "Lockgate MCP gateway", "version": "0.1.0"}
CAPABILITIES: JsonObject = {
    "tools": {"listChanged": True},
    "prompts": {"listChanged": True},
    "resources": {"subscribe": True, "listChanged": True},
    "completions": {},
    "logging": {},
}
INSTRUCTIONS = "Lockgate aggregates this gateway's MCP servers; prefixed names are 'prefix__name'."


def initialize_result(requested: object) -> JsonObject:
    """The InitializeResult: the client's version when we speak it, else our latest (lifecycle §Version)."""
    version = requested if requested in LEGACY_VERSIONS else Era.LEGACY.value
    return {
        "protocolVersion": version,
        "capabilities": CAPABILITIES,
        "serverInfo": SERVER_INFO,
        "instructions": INSTRUCTIONS,
    }


def discover_result() -> JsonObject:
    """The DiscoverResult (MCP 2026-07-28 server/discover)."""
    return {
        "supportedVersions": [*MODERN_VERSIONS, *LEGACY_VERSIONS],
        "capabilities": CAPABILITIES,
        "instructions": INSTRUCTIONS,
        "ttlMs": 0,
        "cacheScope": "private",
    }


def modern_result(result: JsonObject) -> JsonObject:
    """A result as a modern client must get it: ``resultType`` present, our ``serverInfo`` in ``_meta``."""
    meta = dict(result.get("_meta") or {})
    meta[META_PREFIX + "serverInfo"] = SERVER_INFO
    out = {**result, "_meta": meta}
    out.setdefault("resultType", "complete")
    return out
