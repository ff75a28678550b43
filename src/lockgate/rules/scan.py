"""Which strings of a message rules look at, and how an edit of them is put back (spec §2.2, issue 12 §2).

Scanning is JSON-aware: a rule sees string values, one at a time, never the serialized message,
so a modification edits string values and the message stays valid JSON and the same JSON-RPC
message (its ``id`` and shape untouched). Object keys are not scanned (they are the tool's schema,
not the data).

What is scanned, by method and leg (MCP 2025-11-25 / 2026-07-28 server/tools, prompts, resources):

* ``tools/call`` request: every string in ``params.arguments``;
* ``tools/call`` response: ``result.content[*].text`` of text items, ``result.content[*].resource.text``
  of embedded resources, and every string in ``result.structuredContent``;
* ``prompts/get`` response: ``result.messages[*].content`` as a content item (text, embedded resource);
* ``resources/read`` response: ``result.contents[*].text``.

A path is the tuple of keys and indexes from the message to the string.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from lockgate.domain.rules import Direction

Path = tuple[str | int, ...]


def scanned_strings(method: str, leg: Direction, message: Mapping[str, Any]) -> list[tuple[Path, str]]:
    """The strings rules see in ``message`` (a request ``{"params": ...}`` or a response
    ``{"result": ...}``; extra keys such as ``jsonrpc`` and ``id`` are ignored), with their paths, in
    document order. Nothing for a method or leg rules do not look at, or an error response."""
    return list(_strings(method, leg, message))


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


def _strings(method: str, leg: Direction, message: Mapping[str, Any]) -> Iterator[tuple[Path, str]]:
    if leg is Direction.REQUEST:
        params = message.get("params")
        if method == "tools/call" and isinstance(params, Mapping):
            yield from _every_string(params.get("arguments"), ("params", "arguments"))
        return
    result = message.get("result")
    if not isinstance(result, Mapping):
        return
    base: Path = ("result",)
    if method == "tools/call":
        yield from _content_items(result.get("content"), (*base, "content"))
        yield from _every_string(result.get("structuredContent"), (*base, "structuredContent"))
    elif method == "prompts/get":
        messages = result.get("messages")
        if isinstance(messages, list):
            for index, item in enumerate(messages):
                if isinstance(item, Mapping):
                    yield from _content_item(item.get("content"), (*base, "messages", index, "content"))
    elif method == "resources/read":
        contents = result.get("contents")
        if isinstance(contents, list):
            for index, item in enumerate(contents):
                if isinstance(item, Mapping) and isinstance(item.get("text"), str):
                    yield (*base, "contents", index, "text"), item["text"]


def _content_items(items: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(items, list):
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


def _every_string(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    """Every string value under ``value``, depth first (messages are depth-bounded on arrival)."""
    stack: list[tuple[Any, Path]] = [(value, path)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, str):
            yield at, node
        elif isinstance(node, Mapping):
            stack.extend((node[key], (*at, key)) for key in reversed(list(node)))
        elif isinstance(node, list):
            stack.extend((node[i], (*at, i)) for i in range(len(node) - 1, -1, -1))
