"""What the gateway accepts from an engine: reasons safe to store and show, and a ``modify``
replacement that is still the same JSON-RPC message (docs/rule-engines.md, "Verdicts").

A replacement body (JSON-RPC 2.0 §4 and §5; MCP 2025-11-25 server/tools) must be the same kind of
message as the original: a JSON object with ``jsonrpc: "2.0"`` and the original's ``id`` (none for a
notification or a relayed request, whose id is the relay's), and

- for a request (or a notification): the original's ``method``; when the original had them,
  ``params.name`` unchanged (an engine edits the arguments of a call, it does not route it to
  another tool) and ``params.arguments`` an object; ``params`` an object when the original had one;
- for an error response: an ``error`` object with the original's ``code`` and a string ``message``;
- for any other response: a ``result`` object whose ``content``, when the original's was a list, is
  a list of objects each with a string ``type``;

nested at most ``MAX_DEPTH`` levels (the size is bounded by the answer's cap).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from lockgate.engines.http import EngineFailure

REASON_CHARS = 256
MAX_DEPTH = 64


def clean_reason(reason: Any) -> str | None:
    """An engine's reason cut to ``REASON_CHARS`` characters, without control or format characters
    (Unicode Cc, Cf: line breaks, escapes, bidirectional overrides), stripped; None when no string
    or nothing is left."""
    if not isinstance(reason, str):
        return None
    kept = "".join(c for c in reason[: REASON_CHARS * 4] if unicodedata.category(c) not in ("Cc", "Cf"))
    return kept.strip()[:REASON_CHARS] or None


def check_replacement(original: Mapping[str, Any], body: Any) -> dict[str, Any]:
    """``body`` if it may replace ``original`` (see the module's rules).

    Raises:
        EngineFailure: naming the first rule ``body`` breaks.
    """
    if not isinstance(body, dict):
        raise EngineFailure("the modified payload's body is not a JSON object")
    if body.get("jsonrpc") != "2.0":
        raise EngineFailure('the modified payload\'s body is not JSON-RPC "2.0"')
    if (
        ("id" in body) != ("id" in original)
        or body.get("id") != original.get("id")
        or type(body.get("id")) is not type(original.get("id"))
    ):
        raise EngineFailure("the modified payload's body changed the JSON-RPC id")
    if _depth(body) > MAX_DEPTH:
        raise EngineFailure(f"the modified payload's body is nested deeper than {MAX_DEPTH} levels")
    if "method" in original:
        _check_request(original, body)
    elif isinstance(original.get("error"), Mapping):
        _check_error(original["error"], body)
    else:
        _check_response(original, body)
    return body


def _check_request(original: Mapping[str, Any], body: dict[str, Any]) -> None:
    if body.get("method") != original.get("method"):
        raise EngineFailure("the modified payload's body changed the method")
    was, params = original.get("params"), body.get("params")
    if not isinstance(was, Mapping):
        return
    if not isinstance(params, dict):
        raise EngineFailure("the modified payload's body has no params object")
    if "arguments" in was and not isinstance(params.get("arguments"), dict):
        raise EngineFailure("the modified payload's body has no params.arguments object")
    if "name" in was and params.get("name") != was["name"]:
        raise EngineFailure("the modified payload's body changed params.name")


def _check_error(was: Mapping[str, Any], body: dict[str, Any]) -> None:
    error = body.get("error")
    if not isinstance(error, dict) or "result" in body:
        raise EngineFailure("the modified payload's body has no error object")
    if error.get("code") != was.get("code") or not isinstance(error.get("message"), str):
        raise EngineFailure("the modified payload's error changed its code or has no message")


def _check_response(original: Mapping[str, Any], body: dict[str, Any]) -> None:
    result = body.get("result")
    if not isinstance(result, dict) or "error" in body:
        raise EngineFailure("the modified payload's body has no result object")
    was = original.get("result")
    if not isinstance(was, Mapping) or not isinstance(was.get("content"), list):
        return
    content = result.get("content")
    if not isinstance(content, list) or not all(
        isinstance(item, dict) and isinstance(item.get("type"), str) for item in content
    ):
        raise EngineFailure("the modified payload's result.content is not a list of typed items")


def _depth(value: Any) -> int:
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest
