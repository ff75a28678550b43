"""Which assignment serves a named feature, and under which upstream name.

Prefixed assignments are recognised from the name alone. Unprefixed ones are looked up in each
server's feature names, listed in full on first need and dropped when the server announces a
``list_changed`` (or when a lookup misses, so a server that changed without telling is re-read).
When a gateway has one enabled unprefixed server there is nothing to look up: it gets the call.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lockgate.domain.features import FeatureKind, split_name
from lockgate.domain.model import Assignment
from lockgate.policy.identities import resolve_identity_refusal
from lockgate.upstream.base import Client

ListNames = Callable[[Assignment, FeatureKind, Client], Awaitable[frozenset[str]]]


@dataclass(frozen=True, slots=True)
class Route:
    assignment: Assignment
    upstream_name: str


def _key(assignment: Assignment) -> tuple[int, str, int]:
    """Features are remembered per server revision and identity: what a server lists may depend on
    whose credential asks."""
    return (assignment.server.id, assignment.server.revision, assignment.identity_key)


class FeatureIndex:
    """Per server (revision and identity): the names of its features of each kind, as last listed."""

    def __init__(self, list_names: ListNames) -> None:
        self._list_names = list_names
        self._names: dict[tuple[int, str, int, FeatureKind], frozenset[str]] = {}
        self._params: dict[tuple[int, str, int], dict[str, dict[str, str]]] = {}

    def forget(self, server_id: int, kind: FeatureKind | None = None) -> None:
        for key in [k for k in self._names if k[0] == server_id and (kind is None or k[3] is kind)]:
            del self._names[key]
        if kind in (None, FeatureKind.TOOL):
            for params_key in [k for k in self._params if k[0] == server_id]:
                del self._params[params_key]

    def store_params(self, assignment: Assignment, params: dict[str, dict[str, str]]) -> None:
        """Remember each tool's ``x-mcp-header`` parameters (tool → {argument: header suffix})."""
        self._params[_key(assignment)] = params

    def params(self, assignment: Assignment) -> dict[str, dict[str, str]] | None:
        return self._params.get(_key(assignment))

    async def names(self, assignment: Assignment, kind: FeatureKind, client: Client) -> frozenset[str]:
        key = (*_key(assignment), kind)
        names = self._names.get(key)
        if names is None:
            names = await self._list_names(assignment, kind, client)
            self._names[key] = names
        return names

    def store(self, assignment: Assignment, kind: FeatureKind, names: frozenset[str]) -> None:
        self._names[(*_key(assignment), kind)] = names

    def known(self, assignment: Assignment, kind: FeatureKind) -> bool:
        return (*_key(assignment), kind) in self._names


async def resolve_named(
    index: FeatureIndex, assignments: tuple[Assignment, ...], kind: FeatureKind, name: str, client: Client
) -> Route | None:
    """The route for a tool or prompt ``name``; disabled servers are included (the caller refuses them).

    Prefixed assignments first, then unprefixed ones in gateway order (the first server that has the
    name wins a collision).
    """
    for assignment in assignments:
        if assignment.prefix:
            upstream_name = split_name(assignment.prefix, name)
            if upstream_name is not None:
                return Route(assignment, upstream_name)
    plain = [a for a in assignments if not a.prefix]
    enabled = [a for a in plain if a.server.enabled]
    if len(plain) == 1 and len(enabled) == 1:
        return Route(enabled[0], name)
    for refresh in (False, True):
        for assignment in _reachable(plain):
            if refresh and index.known(assignment, kind):
                index.forget(assignment.server.id, kind)
            elif refresh:
                continue
            if name in await index.names(assignment, kind, client):
                return Route(assignment, name)
    return None


def _reachable(assignments: list[Assignment]) -> list[Assignment]:
    """The assignments whose server can be asked for its features as the calling user."""
    return [a for a in assignments if resolve_identity_refusal(a) is None]


def template_pattern(template: str) -> re.Pattern[str]:
    """A regex matching the URIs an RFC 6570 template can expand to (enough to route, not to parse)."""
    out, pos = [], 0
    for match in re.finditer(r"\{([+#./;?&]?)([^}]*)\}", template):
        out.append(re.escape(template[pos : match.start()]))
        operator = match.group(1)
        out.append(
            {"+": ".*", "#": "(#.*)?", "?": r"(\?.*)?", "&": "(&.*)?", "/": "(/[^/?#]*)*"}.get(
                operator, "[^/?#]*"
            )
        )
        pos = match.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out) + r"\Z")


async def resolve_uri(
    index: FeatureIndex, assignments: tuple[Assignment, ...], uri: str, client: Client
) -> Assignment | None:
    """The assignment whose server lists ``uri`` as a resource, or has a template that matches it."""
    plain = list(assignments)
    enabled = [a for a in plain if a.server.enabled]
    if len(plain) == 1 and len(enabled) == 1:
        return enabled[0]
    for refresh in (False, True):
        for assignment in _reachable(plain):
            if refresh:
                index.forget(assignment.server.id, FeatureKind.RESOURCE)
                index.forget(assignment.server.id, FeatureKind.RESOURCE_TEMPLATE)
            if uri in await index.names(assignment, FeatureKind.RESOURCE, client):
                return assignment
            templates = await index.names(assignment, FeatureKind.RESOURCE_TEMPLATE, client)
            if any(template_pattern(t).match(uri) for t in templates):
                return assignment
    return None
