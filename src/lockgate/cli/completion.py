"""Shell completion of resource names: a parameter named for a resource (``gateway``, ``server``,
``team``) completes from that resource's ``list`` operation, through the same client as a command
(the root's ``--url``/``--token``, else the local store)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson
import typer

from lockgate.api.operation import Operation
from lockgate.cli.context import open_client
from lockgate.cli.parameters import Parameter

Completer = Callable[[typer.Context, str], list[str]]
KEYS = ("name", "email", "id")  # what identifies an item, in order of preference


def resolve_completion(parameter: Parameter, operations: Sequence[Operation]) -> Completer | None:
    """A completer for a single-valued parameter named like a group with a ``list`` operation
    (``gateway`` → ``gateways list``, ``capability`` → ``capabilities list``); None otherwise."""
    if parameter.kind != "value":
        return None
    field = parameter.field
    group = field[:-1] + "ies" if field.endswith("y") and field[-2:-1] not in "aeiou" else field + "s"
    lister = next((op for op in operations if op.group == group and op.command == "list"), None)
    return None if lister is None else complete_names(lister)


def complete_names(lister: Operation) -> Completer:
    def complete(ctx: typer.Context, incomplete: str) -> list[str]:
        root = ctx.find_root().params
        try:
            body = open_client(root.get("url"), root.get("token")).call(lister, {})
            data = orjson.loads(body or b"{}")
            items = data.get("items", []) if isinstance(data, dict) else []
            key = next((k for k in KEYS if items and k in items[0]), None)
            names = [str(item[key]) for item in items] if key else []
        except Exception:  # completion must never break the shell: offer nothing instead
            return []
        return [name for name in names if name.startswith(incomplete)]

    return complete
