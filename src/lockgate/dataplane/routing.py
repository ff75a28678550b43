"""Which assignment serves a named feature, and under which upstream name.

Prefixed assignments are recognised from the name alone. Unprefixed ones are looked up in the
catalog (``catalog.py``): each server's features, listed in full on first need and dropped when the
server announces a ``list_changed`` (or when a lookup misses, so a server that changed without
telling is re-read).
When a gateway has one enabled unprefixed server there is nothing to look up: it gets the call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lockgate.dataplane.access import may_ask
from lockgate.dataplane.catalog import Catalog, ListFeatures
from lockgate.dataplane.credentials import CredentialRefreshError
from lockgate.dataplane.errors import INVALID_PARAMS, Refusal
from lockgate.dataplane.uri_templates import MAX_URI_CHARS, template_pattern
from lockgate.domain.features import FeatureKind, split_name
from lockgate.domain.mcp import Client, JsonObject
from lockgate.domain.model import Assignment
from lockgate.upstream.base import UpstreamError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Route:
    assignment: Assignment
    upstream_name: str


async def _names(
    catalog: Catalog, assignment: Assignment, kind: FeatureKind, client: Client, list_features: ListFeatures
) -> dict[str, JsonObject]:
    """The assignment's features of ``kind`` by name; none while its server cannot list them."""
    try:
        entry = await catalog.entry(assignment, kind, client, list_features)
    except (UpstreamError, CredentialRefreshError) as exc:
        log.info("server %r could not list %s to route a call: %s", assignment.server.name, kind.value, exc)
        return {}
    return entry.by_name(kind)


async def resolve_named(
    catalog: Catalog,
    list_features: ListFeatures,
    assignments: tuple[Assignment, ...],
    kind: FeatureKind,
    name: str,
    client: Client,
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
            if refresh and catalog.known(assignment, kind):
                catalog.forget(assignment.server.id, kind)
            elif refresh:
                continue
            if name in await _names(catalog, assignment, kind, client, list_features):
                return Route(assignment, name)
    return None


def _reachable(assignments: list[Assignment]) -> list[Assignment]:
    """The assignments whose server can be asked for its features as the calling user."""
    return [a for a in assignments if may_ask(a)]


async def resolve_uri(
    catalog: Catalog,
    list_features: ListFeatures,
    assignments: tuple[Assignment, ...],
    uri: str,
    client: Client,
) -> Assignment | None:
    """The assignment whose server lists ``uri`` as a resource, or has a template that matches it.

    Raises:
        Refusal: -32602 when ``uri`` is longer than ``MAX_URI_CHARS``.
    """
    if len(uri) > MAX_URI_CHARS:
        raise Refusal(INVALID_PARAMS, f"A URI is at most {MAX_URI_CHARS} characters", "invalid_params")
    plain = list(assignments)
    enabled = [a for a in plain if a.server.enabled]
    if len(plain) == 1 and len(enabled) == 1:
        return enabled[0]
    for refresh in (False, True):
        for assignment in _reachable(plain):
            if refresh:
                catalog.forget(assignment.server.id, FeatureKind.RESOURCE)
                catalog.forget(assignment.server.id, FeatureKind.RESOURCE_TEMPLATE)
            if uri in await _names(catalog, assignment, FeatureKind.RESOURCE, client, list_features):
                return assignment
            kind = FeatureKind.RESOURCE_TEMPLATE
            templates = await _names(catalog, assignment, kind, client, list_features)
            if any(template_pattern(t).match(uri) for t in templates):
                return assignment
    return None
