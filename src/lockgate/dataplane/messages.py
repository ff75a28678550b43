"""One POSTed body as a JSON-RPC message (JSON-RPC 2.0 §4-§5; MCP basic/transports: one message per
POST), held to bounds every later step relies on.

* JSON as RFC 8259 §8.1 requires on the wire: UTF-8, no byte order mark; else -32700.
* One object with ``"jsonrpc": "2.0"`` (a batch, an array, is refused since MCP 2025-06-18), a
  ``method`` that is a string when present, an ``id`` that is a string, a number or null (§4: "MUST
  contain a String, Number, or NULL value"); else -32600.
* Nested at most ``MAX_DEPTH`` levels; else -32600. orjson reads 1024 levels but writes only 254,
  and the gateway re-serializes what it takes (forwarding, the audit): 128 leaves room to wrap.
"""

from __future__ import annotations

from typing import Any

import orjson

from lockgate.dataplane.errors import INVALID_REQUEST, PARSE_ERROR, JsonRpcError
from lockgate.domain.json_depth import MAX_DEPTH, exceeds_depth, may_exceed_depth
from lockgate.domain.mcp import JsonObject


class MessageError(JsonRpcError):
    """A body that is not a message the gateway takes; answered under HTTP 400, echoing the id and
    naming the method when the body had valid ones."""

    def __init__(self, code: int, message: str, request_id: Any = None, method: str | None = None) -> None:
        super().__init__(code, message, http_status=400)
        self.request_id = request_id
        self.method = method


def parse_message(body: bytes) -> JsonObject:
    """The JSON-RPC message in ``body``.

    Raises:
        MessageError: -32700 when the body is not JSON, -32600 when it is not one valid message.
    """
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MessageError(PARSE_ERROR, f"Parse error: the body is not UTF-8 JSON ({exc.msg})") from None
    if isinstance(message, list):
        raise MessageError(INVALID_REQUEST, "JSON-RPC batches are not supported")
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise MessageError(INVALID_REQUEST, "not a JSON-RPC 2.0 message")
    request_id = message.get("id")
    method = message.get("method")
    if not is_valid_id(request_id):
        raise MessageError(INVALID_REQUEST, "the id must be a string, a number or null")
    if method is not None and not isinstance(method, str):
        raise MessageError(INVALID_REQUEST, "the method must be a string", request_id)
    if may_exceed_depth(body) and exceeds_depth(message):
        raise MessageError(
            INVALID_REQUEST, f"the message is nested deeper than {MAX_DEPTH} levels", request_id, method
        )
    return message


def is_valid_id(value: Any) -> bool:
    """A JSON-RPC id: a string, a number (not a boolean) or null."""
    if isinstance(value, bool):
        return False
    return value is None or isinstance(value, str | int | float)
