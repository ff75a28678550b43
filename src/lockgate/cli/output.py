"""What a command prints: the API's JSON as it is (``-o json``, for scripts) or the same as YAML
(``-o yaml``), or for people an aligned table of a list's items (the operation's ``columns``) and
``key: value`` lines for one object. An operation whose answer reads better another way for people
has a view in ``VIEWS`` (``servers features``: one narrow table of every feature).

An operation's ``reveals`` field (a new token) is printed last and alone on stdout, with a note on
stderr that it is shown once, so ``$(lockgate ...)``'s last line is the secret.
"""

from __future__ import annotations

import datetime
import shutil
import unicodedata
from collections.abc import Callable
from typing import Any, Literal

import orjson
import typer
import yaml

from lockgate.api.operation import Operation

Format = Literal["table", "json"]
ReplyFormat = Literal["table", "json", "yaml"]
FEATURE_KINDS = {  # a Features answer's lists, in order, and what one item of each is called
    "tools": "tool",
    "prompts": "prompt",
    "resources": "resource",
    "resource_templates": "resource template",
}
FEATURE_COLUMNS = ["kind", "name", "title", "description"]
TITLE_WIDTH = 24


def show_reply(operation: Operation, body: bytes | None, output: ReplyFormat) -> None:
    """Print an operation's reply. ``body`` is the API's JSON, None for 204 No Content."""
    if body is None:
        if output == "table":
            typer.echo(f"{operation.summary}: done.", err=True)
        return
    data = orjson.loads(body)
    secret = data.get(operation.reveals) if operation.reveals else None
    if operation.reveals:
        typer.echo(f"{operation.summary}: the {operation.reveals} is shown once; keep it now.", err=True)
    if output == "json":
        typer.echo(body.decode())
        return
    if output == "yaml":
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)
        return
    if operation.id in VIEWS:
        for line in VIEWS[operation.id](data, shutil.get_terminal_size().columns):
            typer.echo(line)
        return
    if _is_page(data):
        echo_table(data["items"], list(operation.columns) or _keys(data["items"]))
        if data["next_cursor"]:
            typer.echo(f"more: add --cursor {data['next_cursor']}", err=True)
        return
    for line in format_object({k: v for k, v in data.items() if k != operation.reveals}):
        typer.echo(line)
    if secret is not None:
        typer.echo(secret)


def echo_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print rows as an aligned table for people; ``(none)`` when there are none."""
    for line in format_table(rows, columns):
        typer.echo(line)


def format_table(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    if not rows:
        return ["(none)"]
    cells = [[format_cell(c, r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return [line.rstrip() for line in lines]


def format_features(data: dict[str, Any], width: int) -> list[str]:
    """A server's features as one table, tools first: kind, name, title (at most ``TITLE_WIDTH``
    characters) and the description, each cut with ``…`` so that lines fit in ``width`` characters
    when the other columns leave room; whole definitions are in ``-o json`` and ``-o yaml``. Sizes
    under an assignment's metadata filter, when asked for, end it in one line."""
    rows = [
        {
            "kind": kind,
            "name": item.get("name") or item.get("uri") or item.get("uriTemplate"),
            "title": _cut(item.get("title") or (item.get("annotations") or {}).get("title"), TITLE_WIDTH),
            "description": " ".join(str(item.get("description") or "").split()),
        }
        for field, kind in FEATURE_KINDS.items()
        for item in data.get(field, [])
        if isinstance(item, dict)
    ]
    cells = [[format_cell(c, r[c]) for c in FEATURE_COLUMNS[:3]] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(FEATURE_COLUMNS[:3])]
    room = max(width - sum(widths) - 2 * len(widths), len("description"))
    for row in rows:
        row["description"] = _cut(row["description"], room)
    sizes = data.get("sizes")
    if not isinstance(sizes, dict):
        return format_table(rows, FEATURE_COLUMNS)
    footer = f"size: {sizes.get('before')} bytes as offered, {sizes.get('after')} after the metadata filter"
    return [*format_table(rows, FEATURE_COLUMNS), footer]


def _cut(text: Any, width: int) -> Any:
    """``text`` cut to ``width`` characters, the last one ``…``; anything else as it is."""
    if isinstance(text, str) and len(text) > width:
        return text[: width - 1] + "…"
    return text


VIEWS: dict[str, Callable[[dict[str, Any], int], list[str]]] = {"servers_features": format_features}
"""Views for people by operation id: the answer and the terminal's width, to lines."""


def format_object(data: dict[str, Any], indent: str = "") -> list[str]:
    """``key: value`` lines, aligned; a list of objects becomes an indented table, an object
    indented ``key: value`` lines."""
    width = max((len(k) for k in data), default=0) + 1
    lines = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            lines += [f"{indent}{visible(key)}:", *format_object(value, indent + "  ")]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines += [
                f"{indent}{visible(key)}:",
                *(indent + "  " + line for line in format_table(value, _keys(value))),
            ]
        else:
            lines.append(f"{indent}{visible(key) + ':':<{width}} {format_cell(key, value)}".rstrip())
    return lines


def format_cell(key: str, value: Any) -> str:
    """One value for people: ``-`` for nothing, times (``*_at``) in UTC, lists comma-separated."""
    if value is None or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if key.endswith("_at") and isinstance(value, int | float):
        return datetime.datetime.fromtimestamp(value, datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, list) and not any(isinstance(v, dict | list) for v in value):
        return ", ".join(format_cell("", v) for v in value)
    if isinstance(value, dict | list):
        return visible(orjson.dumps(value).decode())
    return visible(str(value))


def visible(text: str) -> str:
    """``text`` with every control character (C0, DEL, C1: ESC among them) and format character
    (bidirectional overrides and isolates, tag characters...) escaped as ``\\xNN``, ``\\uNNNN`` or
    ``\\UNNNNNNNN``, so a name a server or a user chose cannot drive or reorder the terminal."""
    return "".join(_escaped(c) if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _is_page(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("items"), list) and "next_cursor" in data


def _keys(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for row in rows for k in row))
