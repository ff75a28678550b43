"""How deep a parsed JSON value nests, bounded so that whatever Lockgate takes in it can write out
again: orjson reads 1,024 levels of objects and arrays but writes only 254, and the gateway
re-serializes what it takes (forwarding, the audit, error envelopes). ``MAX_DEPTH`` leaves room to
wrap a value in a few more levels (a JSON-RPC envelope, an audit row)."""

from __future__ import annotations

from typing import Any

import orjson

MAX_DEPTH = 128
ORJSON_MAX_DEPTH = 254  # levels of objects and arrays orjson.dumps writes, at most (orjson 3)


def may_exceed_depth(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """False when the JSON text ``body`` holds too few brackets to nest past ``limit`` levels: C-speed
    counts that spare almost every body the check of ``exceeds_depth``."""
    return body.count(b"{") + body.count(b"[") > limit


def exceeds_depth(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` (a JSON value as ``orjson.loads`` returns it) nests objects and arrays more
    than ``limit`` levels, the outermost being 1; ``limit`` must be below ``ORJSON_MAX_DEPTH``.

    orjson counts for us, at C speed whatever the size: wrapped in ``ORJSON_MAX_DEPTH - limit``
    arrays, ``value`` serializes exactly when it nests at most ``limit`` levels. A walk in Python
    took ten times the parse on a body of many small objects."""
    wrapped = value
    for _ in range(ORJSON_MAX_DEPTH - limit):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError:
        return True
    return False
