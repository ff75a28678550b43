"""JSON-RPC errors the gateway answers with (JSON-RPC 2.0 §5.1; MCP 2026-07-28 basic §error codes).

Gateway-specific failures use the implementation-defined range -32000..-32019 and always name the
server in ``data.server`` so the user knows where to look.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UPSTREAM_UNAVAILABLE = -32010
UPSTREAM_TIMEOUT = -32011
UPSTREAM_FAILED = -32012
REFUSED = -32013
IDENTITY_REQUIRED = -32014  # the call needs an identity the user has not brought (or must re-authorize)
AUDIT_UNAVAILABLE = -32015  # the audit cannot be written: refused under HTTP 503 with Retry-After
GATEWAY_BUSY = -32016  # a bound of the gateway is reached (e.g. its legacy sessions); retry later
RULE_BLOCKED = -32017  # a gateway rule stopped the request or its response (data.rule names it)
RESOURCE_NOT_FOUND = -32002  # the legacy era's code for an unknown resource URI (2025-11-25 server/resources)
HEADER_MISMATCH = -32020
MISSING_CAPABILITY = -32021  # the client did not declare what the server needs (e.g. MRTR input)
UNSUPPORTED_PROTOCOL_VERSION = -32022
MODERN_HTTP_STATUS = {
    INVALID_PARAMS: 400,
    HEADER_MISMATCH: 400,
    MISSING_CAPABILITY: 400,
    UNSUPPORTED_PROTOCOL_VERSION: 400,
    METHOD_NOT_FOUND: 404,
}
"""The HTTP status a modern answer with this JSON-RPC error goes under, whoever raised it (the gateway
or a server it relays): 400 for -32602 and -32020..-32022, 404 for -32601 (MCP 2026-07-28 basic §_meta,
basic/transports/streamable-http §Server Validation); a legacy answer keeps its status (200)."""
"""Errors a modern (2026-07-28) server answers under HTTP 400 (streamable-http §Error responses)."""


class JsonRpcError(Exception):
    """An error to answer a client message with, and the HTTP status to send it under."""

    def __init__(self, code: int, message: str, data: Any = None, http_status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data
        self.http_status = http_status

    def to_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class Refusal(JsonRpcError):
    """The gateway refuses a message: ``reason`` is recorded in its ``leg`` (``gateway_refused``, or
    ``gateway_feature_blocked`` for a feature provisioning withholds, ``policy_enforced_abort`` for a
    gateway rule; by ``pipeline.py``, once) and sent in ``data.reason``; ``server`` names the server
    it was for (in ``data.server`` unless ``hide_server``: a withheld feature's error says no more
    than an unknown one's); ``outcomes`` are what gateway rules did (``RuleOutcome.to_json``), for
    the leg, never sent."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str,
        *,
        http_status: int = 200,
        server: str | None = None,
        leg: str = "gateway_refused",
        hide_server: bool = False,
        outcomes: Sequence[Mapping[str, Any]] = (),
        **data: Any,
    ) -> None:
        extra = {"server": server} if server is not None and not hide_server else {}
        super().__init__(code, message, {"reason": reason, **extra, **data}, http_status=http_status)
        self.reason = reason
        self.server = server
        self.leg = leg
        self.outcomes = outcomes
        self.recorded = False


def error_message(request_id: Any, error: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error}
