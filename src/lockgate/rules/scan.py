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

from lockgate.domain.rules import Leg

Path = tuple[str | int, ...]


def scanned_strings(method: str, leg: Leg, message: Mapping[str, Any]) -> list[tuple[Path, str]]:
    """The strings rules see in ``message`` (a request ``{"params": ...}`` or a response
    ``{"result": ...}``; extra keys such as ``jsonrpc`` and ``id`` are ignored), with their paths, in
    document order. Nothing for a method or leg rules do not look at, or an error response."""
    return list(_strings(method, leg, message))


def rewritten(message: Mapping[str, Any], edits: Mapping[Path, str]) -> dict[str, Any]:
    """``message`` with the string at each path of ``edits`` replaced; every other value is shared,
    not copied, and ``message`` itself is not changed.

    Raises:
        KeyError, IndexError: a path does not lead to a value of ``message``.
    """
    tree: dict[Path, dict[str | int, str]] = {}
    for path, text in edits.items():
        tree.setdefault(path[:-1], {})[path[-1]] = text
    out = _rebuild(message, (), _prefixes(tree))
    assert isinstance(out, dict)
    return out


def _prefixes(tree: dict[Path, dict[str | int, str]]) -> dict[Path, dict[str | int, str] | None]:
    """Every prefix of an edited path: None where it only leads further, the edits where it ends."""
    out: dict[Path, dict[str | int, str] | None] = {}
    for parent, leaves in tree.items():
        for i in range(len(parent)):
            out.setdefault(parent[:i], None)
        out[parent] = leaves
    return out


def _rebuild(value: Any, path: Path, prefixes: dict[Path, dict[str | int, str] | None]) -> Any:
    if path not in prefixes:
        return value
    leaves = prefixes[path] or {}
    if isinstance(value, Mapping):
        out = dict(value)
        for key in list(out):
            out[key] = leaves[key] if key in leaves else _rebuild(out[key], (*path, key), prefixes)
        _check_reached(leaves, out)
        return out
    if isinstance(value, list):
        items = list(value)
        for index in range(len(items)):
            items[index] = (
                leaves[index] if index in leaves else _rebuild(items[index], (*path, index), prefixes)
            )
        _check_reached(leaves, range(len(items)))
        return items
    raise KeyError(path)


def _check_reached(leaves: Mapping[str | int, str], present: Any) -> None:
    missing = [key for key in leaves if key not in present]
    if missing:
        raise KeyError(missing[0])


def _strings(method: str, leg: Leg, message: Mapping[str, Any]) -> Iterator[tuple[Path, str]]:
    if leg is Leg.REQUEST:
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
