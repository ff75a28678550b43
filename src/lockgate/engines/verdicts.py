"""What the gateway accepts from an engine: reasons safe to store and show, and a ``modify``
replacement that is still the same JSON-RPC message (docs/rule-engines.md, "Verdicts").

A replacement body (JSON-RPC 2.0 §4 and §5; MCP 2025-11-25 server/tools) must be a JSON object with
``jsonrpc: "2.0"``, the original's ``id`` (same value and type; none for a notification or a relayed
request, whose id is the relay's) and no member the original has not (nor one fewer), and

- for a request to the server: only ``params.arguments`` may differ, and it must stay an object.
  Every other member of the message and of ``params`` is the original's, deeply equal (``method``,
  ``params.name``, a ``resources/read`` ``uri``, ``_meta``, ``inputResponses``, ``requestState``...):
  none added or removed. An engine edits the arguments of a call; it cannot route it to another tool
  or resource, nor answer on the client's behalf. A request without a ``params.arguments`` object
  (``resources/read``, a call without arguments) cannot be modified at all;
- for a notification or a relayed request to the client during a call: the original's ``method``
  and a ``params`` object (its strings are what the engine edits);
- for an error response: an ``error`` object with the original's ``code`` and a string ``message``;
- for any other response: a ``result`` object whose ``content``, when present, is a list of objects
  each with a string ``type``;

nested at most ``MAX_DEPTH`` levels (the size is bounded by the answer's cap).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import orjson

from lockgate.domain.json_depth import exceeds_depth
from lockgate.domain.rules import Direction
from lockgate.engines.http import EngineFailure

REASON_CHARS = 256
MAX_DEPTH = 64
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def clean_reason(reason: Any) -> str | None:
    """An engine's reason cut to ``REASON_CHARS`` characters, without control or format characters
    (Unicode Cc, Cf: line breaks, escapes, bidirectional overrides), stripped; None when no string
    or nothing is left."""
    if not isinstance(reason, str):
        return None
    kept = "".join(c for c in reason[: REASON_CHARS * 4] if unicodedata.category(c) not in ("Cc", "Cf"))
    return kept.strip()[:REASON_CHARS] or None


def check_replacement(original: Mapping[str, Any], body: Any, direction: Direction) -> dict[str, Any]:
    """``body`` if it may replace ``original``, going ``direction`` (see the module's rules).

    Raises:
        EngineFailure: naming the first rule ``body`` breaks (never a value of either message).
    """
    if not isinstance(body, dict):
        raise EngineFailure("the modified payload's body is not a JSON object")
    if body.get("jsonrpc") != "2.0":
        raise EngineFailure('the modified payload\'s body is not JSON-RPC "2.0"')
    if ("id" in body) != ("id" in original) or not _same(body.get("id"), original.get("id")):
        raise EngineFailure("the modified payload's body changed the JSON-RPC id")
    if exceeds_depth(body, MAX_DEPTH):
        raise EngineFailure(f"the modified payload's body is nested deeper than {MAX_DEPTH} levels")
    if "method" in original and direction is Direction.REQUEST:
        _check_request(original, body)
    elif "method" in original:
        _check_toward_client(original, body)
    elif isinstance(original.get("error"), Mapping):
        _check_error(original["error"], body)
    else:
        _check_response(body)
    if body.keys() != original.keys():
        raise EngineFailure("the modified payload's body added or removed a member of the message")
    return body


def _check_request(original: Mapping[str, Any], body: dict[str, Any]) -> None:
    was = original.get("params")
    if not isinstance(was, Mapping) or not isinstance(was.get("arguments"), Mapping):
        raise EngineFailure("a request without params.arguments cannot be modified")
    _require_same(original, body, "params", "")
    params = body.get("params")
    if not isinstance(params, dict) or not isinstance(params.get("arguments"), dict):
        raise EngineFailure("the modified payload's body has no params.arguments object")
    _require_same(was, params, "arguments", "params.")


def _require_same(original: Mapping[str, Any], body: Mapping[str, Any], free: str, where: str) -> None:
    """Raises EngineFailure unless every member of ``body`` but ``free`` is the original's, deeply
    equal, and none is added or removed; names the member (prefixed with ``where``)."""
    for key in original:
        if key != free and (key not in body or not _same(body[key], original[key])):
            raise EngineFailure(f"the modified payload's body changed {where}{_named(key)}")
    if any(key not in original for key in body):
        raise EngineFailure(
            f"the modified payload's body added a member to {where.rstrip('.') or 'the message'}"
        )


def _check_toward_client(original: Mapping[str, Any], body: dict[str, Any]) -> None:
    if body.get("method") != original.get("method"):
        raise EngineFailure("the modified payload's body changed the method")
    if isinstance(original.get("params"), Mapping) and not isinstance(body.get("params"), dict):
        raise EngineFailure("the modified payload's body has no params object")


def _check_error(was: Mapping[str, Any], body: dict[str, Any]) -> None:
    error = body.get("error")
    if not isinstance(error, dict):
        raise EngineFailure("the modified payload's body has no error object")
    if not _same(error.get("code"), was.get("code")) or not isinstance(error.get("message"), str):
        raise EngineFailure("the modified payload's error changed its code or has no message")


def _check_response(body: dict[str, Any]) -> None:
    result = body.get("result")
    if not isinstance(result, dict) or "error" in body:
        raise EngineFailure("the modified payload's body has no result object")
    content = result.get("content")
    if content is None:
        return
    if not isinstance(content, list) or not all(
        isinstance(item, dict) and isinstance(item.get("type"), str) for item in content
    ):
        raise EngineFailure("the modified payload's result.content is not a list of typed items")


def _same(a: Any, b: Any) -> bool:
    """Whether two JSON values are deeply equal, types included (``1`` is not ``1.0`` nor ``true``);
    the order of an object's members does not matter."""
    try:
        return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not JSON (a value no parser produced): never the same
        return False


def _named(key: str) -> str:
    """A member's name as a failure reason may show it: the name when it is an identifier (``uri``,
    ``_meta``), else "a member" (a name is the client's, and may be anything)."""
    return key if _IDENTIFIER.fullmatch(key) else "a member"
