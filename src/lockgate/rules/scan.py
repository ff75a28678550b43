"""Which strings of a message rules look at, and how an edit of them is put back (spec §2.2, issue 12 §2).

Scanning is JSON-aware: a rule sees string values, one at a time, never the serialized message,
so a modification edits string values and the message stays valid JSON and the same JSON-RPC
message (its ``id`` and shape untouched). Object keys are not scanned (they are the tool's schema,
not the data).

What is scanned, by method and direction (MCP 2025-11-25 / 2026-07-28 server/tools, prompts,
resources, client/sampling, client/elicitation, server/utilities/logging, basic/utilities/progress,
basic/patterns/mrtr):

* ``tools/call`` request: every string in ``params.arguments`` and in ``params.inputResponses`` (the
  answers an MRTR retry carries);
* ``prompts/get`` request: every string in ``params.arguments``;
* ``completion/complete`` request (seen by the rules of ``prompts/get``, ``domain.rules.GOVERNED_AS``):
  ``params.argument.value`` and every string in ``params.context.arguments``;
* ``resources/read`` request: nothing (the URI routes the request, it is not data);
* a client's answer to a relayed ``sampling/createMessage`` or ``elicitation/create``
  (``{"result": ...}`` or ``{"error": ...}``, on its way to the server), on the request direction:
  every string in ``result``, or the error's ``message`` and every string in its ``data``;
* ``tools/call`` response: of each ``result.content`` item, the ``text`` of a text item, the
  ``resource.text`` of an embedded resource, the ``name``, ``title`` and ``description`` of a
  ``resource_link`` (not its ``uri``); every string in ``result.structuredContent``;
* ``prompts/get`` response: ``result.description`` and ``result.messages[*].content`` as a content item;
* ``resources/read`` response: ``result.contents[*].text`` (a base64 ``blob`` is not decoded, so not
  scanned);
* any of these responses: every string in ``result.inputRequests`` (an MRTR ``input_required``
  result asks the client through them), and of an error response ``error.message`` and every string
  in ``error.data``;
* a message to the client during a call (``TOWARD_CLIENT``: ``notifications/message``,
  ``notifications/progress``, a relayed ``sampling/createMessage`` or ``elicitation/create``), on the
  response direction: every string in ``params``.

A path is the tuple of keys and indexes from the message to the string.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from lockgate.domain.rules import LIMITS, Direction
from lockgate.rules.regex import ScanTooLarge

Path = tuple[str | int, ...]
TOWARD_CLIENT = frozenset(
    {"notifications/message", "notifications/progress", "sampling/createMessage", "elicitation/create"}
)
"""What a server sends the client during a call whose ``params`` rules see on the response direction."""
RELAYED = frozenset({"sampling/createMessage", "elicitation/create"})
"""The requests of ``TOWARD_CLIENT`` whose answer's ``result`` rules see on the request direction."""


def scanned_strings(method: str, leg: Direction, message: Mapping[str, Any]) -> list[tuple[Path, str]]:
    """The strings rules see in ``message`` (a request ``{"params": ...}`` or a response
    ``{"result": ...}`` or ``{"error": ...}``, or a message to the client ``{"params": ...}`` named by
    its own method; extra keys such as ``jsonrpc`` and ``id`` are ignored), with their paths, in
    document order. Nothing for a method or direction rules do not look at."""
    found: list[tuple[Path, str]] = []
    for item in _strings(method, leg, message, _Budget()):
        found.append(item)
        if len(found) > LIMITS.scan_strings:
            raise ScanTooLarge(f"more than {LIMITS.scan_strings} strings")
    return found


class _Budget:
    """How many JSON values a walk may still visit (``LIMITS.scan_values``), so a message of a
    million numbers costs a bounded walk, not one the size of the message."""

    def __init__(self) -> None:
        self.left = LIMITS.scan_values

    def spend(self, count: int) -> None:
        self.left -= count
        if self.left < 0:
            raise ScanTooLarge(f"more than {LIMITS.scan_values} JSON values")


def rewritten(message: Mapping[str, Any], edits: Mapping[Path, str]) -> dict[str, Any]:
    """``message`` with the string at each path of ``edits`` replaced; every other value is shared,
    not copied, and ``message`` itself is not changed.

    Raises:
        KeyError: a path does not lead to a value of ``message``.
    """
    steps: dict[Path, set[str | int]] = {}  # every prefix of an edited path → the keys taken from it
    for path in edits:
        for i in range(len(path)):
            steps.setdefault(path[:i], set()).add(path[i])
    out = _rebuild(message, (), steps, edits)
    assert isinstance(out, dict)
    return out


def _rebuild(value: Any, path: Path, steps: dict[Path, set[str | int]], edits: Mapping[Path, str]) -> Any:
    if path in edits:
        return edits[path]
    taken = steps.get(path)
    if taken is None:
        return value
    out: Any
    if isinstance(value, Mapping) and all(key in value for key in taken):
        out = dict(value)
    elif isinstance(value, list) and all(isinstance(i, int) and 0 <= i < len(value) for i in taken):
        out = list(value)
    else:
        raise KeyError(path)
    for key in taken:
        out[key] = _rebuild(value[key], (*path, key), steps, edits)
    return out


def _strings(
    method: str, leg: Direction, message: Mapping[str, Any], budget: _Budget
) -> Iterator[tuple[Path, str]]:
    params = message.get("params")
    if leg is Direction.REQUEST:
        if method in RELAYED:
            yield from _every_string(message.get("result"), ("result",), budget)
            yield from _error(message, budget)
        elif method in ("tools/call", "prompts/get") and isinstance(params, Mapping):
            yield from _every_string(params.get("arguments"), ("params", "arguments"), budget)
            if method == "tools/call":
                yield from _every_string(params.get("inputResponses"), ("params", "inputResponses"), budget)
        elif method == "completion/complete" and isinstance(params, Mapping):
            argument, context = params.get("argument"), params.get("context")
            if isinstance(argument, Mapping) and isinstance(argument.get("value"), str):
                yield ("params", "argument", "value"), argument["value"]
            if isinstance(context, Mapping):
                yield from _every_string(context.get("arguments"), ("params", "context", "arguments"), budget)
        return
    if method in TOWARD_CLIENT:
        yield from _every_string(params, ("params",), budget)
        return
    yield from _error(message, budget)
    result = message.get("result")
    if isinstance(result, Mapping):
        yield from _result(method, result, ("result",), budget)
        yield from _every_string(result.get("inputRequests"), ("result", "inputRequests"), budget)


def _error(message: Mapping[str, Any], budget: _Budget) -> Iterator[tuple[Path, str]]:
    """An error answer's ``error.message`` and every string in its ``error.data``."""
    error = message.get("error")
    if isinstance(error, Mapping):
        if isinstance(error.get("message"), str):
            yield ("error", "message"), error["message"]
        yield from _every_string(error.get("data"), ("error", "data"), budget)


def _result(
    method: str, result: Mapping[str, Any], base: Path, budget: _Budget
) -> Iterator[tuple[Path, str]]:
    if method == "tools/call":
        yield from _content_items(result.get("content"), (*base, "content"), budget)
        yield from _every_string(result.get("structuredContent"), (*base, "structuredContent"), budget)
    elif method == "prompts/get":
        if isinstance(result.get("description"), str):
            yield (*base, "description"), result["description"]
        messages = result.get("messages")
        if isinstance(messages, list):
            budget.spend(len(messages))
            for index, item in enumerate(messages):
                if isinstance(item, Mapping):
                    yield from _content_item(item.get("content"), (*base, "messages", index, "content"))
    elif method == "resources/read":
        contents = result.get("contents")
        if isinstance(contents, list):
            budget.spend(len(contents))
            for index, item in enumerate(contents):
                if isinstance(item, Mapping) and isinstance(item.get("text"), str):
                    yield (*base, "contents", index, "text"), item["text"]


def _content_items(items: Any, path: Path, budget: _Budget) -> Iterator[tuple[Path, str]]:
    if isinstance(items, list):
        budget.spend(len(items))
        for index, item in enumerate(items):
            yield from _content_item(item, (*path, index))


def _content_item(item: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if not isinstance(item, Mapping):
        return
    if item.get("type") == "text" and isinstance(item.get("text"), str):
        yield (*path, "text"), item["text"]
    resource = item.get("resource")
    if (
        item.get("type") == "resource"
        and isinstance(resource, Mapping)
        and isinstance(resource.get("text"), str)
    ):
        yield (*path, "resource", "text"), resource["text"]
    if item.get("type") == "resource_link":
        for key in ("name", "title", "description"):
            if isinstance(item.get(key), str):
                yield (*path, key), item[key]


def _every_string(value: Any, path: Path, budget: _Budget) -> Iterator[tuple[Path, str]]:
    """Every string value under ``value``, depth first (messages are depth-bounded on arrival); each
    value visited is spent from ``budget``, and only strings and containers get a path."""
    stack: list[tuple[Any, Path]] = [(value, path)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, str):
            yield at, node
        elif isinstance(node, Mapping):
            budget.spend(len(node))
            stack.extend((node[k], (*at, k)) for k in reversed(list(node)) if isinstance(node[k], _WALKED))
        elif isinstance(node, list):
            budget.spend(len(node))
            stack.extend(
                (node[i], (*at, i)) for i in range(len(node) - 1, -1, -1) if isinstance(node[i], _WALKED)
            )


_WALKED = (str, Mapping, list)
