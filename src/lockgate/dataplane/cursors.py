"""Gateway-owned pagination cursors (MCP server/utilities/pagination: cursors are opaque).

An aggregated page asks each server for one page; the cursor for the next one records, for every
assignment with more to give, the assignment id and that server's own cursor. It is signed so a
client cannot steer the gateway to an assignment it did not list.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import orjson

from lockgate.dataplane.errors import INVALID_PARAMS, JsonRpcError

_TAG = 12


def encode_cursor(key: bytes, positions: list[tuple[int, Any]]) -> str:
    """An opaque cursor for ``[(assignment_id, upstream_cursor), ...]``."""
    blob = orjson.dumps(positions)
    tag = hmac.new(key, blob, hashlib.sha256).digest()[:_TAG]
    return base64.urlsafe_b64encode(tag + blob).decode().rstrip("=")


def decode_cursor(key: bytes, cursor: str) -> list[tuple[int, Any]]:
    """The positions a cursor of ours records.

    Raises:
        JsonRpcError: -32602 for a cursor the gateway did not issue (pagination: invalid cursor).
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, blob = raw[:_TAG], raw[_TAG:]
        if not hmac.compare_digest(tag, hmac.new(key, blob, hashlib.sha256).digest()[:_TAG]):
            raise ValueError("bad tag")
        return [(int(a), c) for a, c in orjson.loads(blob)]
    except (ValueError, TypeError, orjson.JSONDecodeError) as exc:
        raise JsonRpcError(INVALID_PARAMS, "Invalid cursor") from exc
