"""Validation of modern (2026-07-28) requests at the front (MCP basic/transports/streamable-http
§Header validation, basic/versioning).

``inputResponses`` on a retried ``tools/call``, ``prompts/get`` or ``resources/read`` must be an object
of result objects (basic/patterns/mrtr, schema ``InputResponses``); anything else, ``null`` included, is a
protocol error the gateway answers itself, whichever era the server behind it speaks.

The mirrored headers must agree with the body: ``MCP-Protocol-Version`` with the ``_meta`` version,
``Mcp-Method`` with the method, ``Mcp-Name`` with ``params.name``/``params.uri`` (values trimmed of
optional whitespace, RFC 9110 §5.5; ``=?base64?...?=`` decoded).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockgate.dataplane.errors import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    UNSUPPORTED_PROTOCOL_VERSION,
    JsonRpcError,
)
from lockgate.domain.mcp import (
    LEGACY_VERSIONS,
    META_CLIENT_CAPABILITIES,
    META_PROTOCOL_VERSION,
    MODERN_VERSIONS,
)
from lockgate.domain.mcp_headers import HeaderValueError, decode_header_value

MODERN_METHODS = frozenset(
    {
        "server/discover",
        "tools/list",
        "tools/call",
        "prompts/list",
        "prompts/get",
        "resources/list",
        "resources/read",
        "resources/templates/list",
        "completion/complete",
        "subscriptions/listen",
    }
)
NAME_KEYS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def is_modern(headers: Mapping[str, str], params: Any) -> bool:
    """A request is modern when its ``_meta`` or its ``MCP-Protocol-Version`` header says so."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    if isinstance(meta, dict) and META_PROTOCOL_VERSION in meta:
        return True
    return headers.get("mcp-protocol-version", "").strip() in MODERN_VERSIONS


def validate_modern(headers: Mapping[str, str], method: str, params: Any) -> None:
    """Raise the error a modern request earns, if any.

    Raises:
        JsonRpcError: 400 -32022 unsupported version, 400 -32602 missing ``_meta`` field or malformed
        ``inputResponses``, 400 -32020 header mismatch, 404 -32601 a method the modern era does not have.
    """
    meta = params.get("_meta") if isinstance(params, dict) else None
    meta = meta if isinstance(meta, dict) else {}
    version = meta.get(META_PROTOCOL_VERSION)
    if version is None:
        raise JsonRpcError(INVALID_PARAMS, f"_meta is missing {META_PROTOCOL_VERSION}", http_status=400)
    _expect_header(headers, "mcp-protocol-version", version)
    if version not in MODERN_VERSIONS:
        data = {"supported": [*MODERN_VERSIONS, *LEGACY_VERSIONS], "requested": version}
        raise JsonRpcError(
            UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version", data, http_status=400
        )
    if method not in MODERN_METHODS:
        raise JsonRpcError(METHOD_NOT_FOUND, f"Method not found: {method}", http_status=404)
    if not isinstance(meta.get(META_CLIENT_CAPABILITIES), dict):
        raise JsonRpcError(INVALID_PARAMS, f"_meta is missing {META_CLIENT_CAPABILITIES}", http_status=400)
    _expect_header(headers, "mcp-protocol-version", version)
    _expect_header(headers, "mcp-method", method)
    key = NAME_KEYS.get(method)
    if key is not None:
        if not isinstance(params.get(key), str):
            raise JsonRpcError(INVALID_PARAMS, f"{method} needs a string '{key}'", http_status=400)
        _expect_header(headers, "mcp-name", params[key])
        _expect_input_responses(params)


def _expect_input_responses(params: Mapping[str, Any]) -> None:
    if "inputResponses" not in params:
        return
    responses = params["inputResponses"]
    if not isinstance(responses, dict) or not all(isinstance(r, dict) for r in responses.values()):
        message = "inputResponses must be an object whose values are result objects"
        raise JsonRpcError(INVALID_PARAMS, message, http_status=400)


def _expect_header(headers: Mapping[str, str], name: str, expected: Any) -> None:
    present = headers.get(name)
    try:
        value = decode_header_value(present) if present is not None else None
    except HeaderValueError:
        value = None
    if value is None or value != str(expected):
        message = f"header {name} is {'missing' if present is None else 'not ' + repr(expected)}"
        raise JsonRpcError(HEADER_MISMATCH, message, {"header": name}, http_status=400)
