"""Picking an item by what it is rather than by its id: ``connections disable --host H --gateway G
[--user EMAIL]`` lists the connections with those filters and acts on the one that matches, through
the same client as any command (so over ``--url`` too)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import orjson
import typer

from lockgate.api.operation import Operation
from lockgate.cli.context import call, fail
from lockgate.cli.parameters import Parameter, resolve_parameters


@dataclass(frozen=True, slots=True)
class Lookup:
    """An id path parameter that may be picked instead with filters of its group's ``list``
    operation; the argument becomes optional and the filters become options."""

    parameter: str
    filters: tuple[str, ...]

    @property
    def options(self) -> str:
        return ", ".join("--" + f for f in self.filters)

    def resolve_options(self, lister: Operation) -> list[Parameter]:
        """The filters as options of the list operation's types, their help saying what they pick.

        Raises:
            ValueError: a filter the list operation does not have.
        """
        found = {p.field: p for p in resolve_parameters(lister, positional=False)}
        missing = set(self.filters) - set(found)
        if missing:
            raise ValueError(f"{lister.id} has no filter {missing.pop()!r}")
        return [
            dataclasses.replace(
                found[f], help=f"Pick the {self.parameter} by its {f}. {found[f].help}".strip()
            )
            for f in self.filters
        ]

    def select(self, ctx: typer.Context, lister: Operation, filters: dict[str, Any]) -> Any:
        """The id of the one item ``filters`` match.

        Raises:
            typer.BadParameter: no filter given (exit 2). Exits 1 when none or several match.
        """
        given = {k: v for k, v in filters.items() if v is not None}
        if not given:
            raise typer.BadParameter(
                f"give it, or pick it with {self.options}", param_hint=self.parameter.upper()
            )
        picked = " ".join(f"--{k} {v}" for k, v in given.items())
        items = orjson.loads(call(ctx, lister, {**given, "limit": 2}) or b"{}")["items"]
        if not items:
            fail(f"no {self.parameter} matches {picked}")
        if len(items) > 1:
            fail(f"more than one {self.parameter} matches {picked}: give its id, or more of {self.options}")
        return items[0]["id"]
