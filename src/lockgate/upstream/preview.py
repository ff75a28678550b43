"""A live look at one server's features, for the control plane (product spec: automatic feature
discovery — "learns and previews each server's live tools, prompts, resources, and templates").

The preview asks the server now, over the pooled connection the data plane also uses, so what it
shows is what a host would be offered. Nothing is cached and no name is prefixed.
"""

from __future__ import annotations

import asyncio

from lockgate.domain.features import FeatureKind
from lockgate.domain.model import Server
from lockgate.upstream.base import Client, JsonObject, Upstream, UpstreamUnavailableError
from lockgate.upstream.pool import UpstreamPool

Preview = dict[FeatureKind, list[JsonObject]]
"""Every feature a server lists, by kind, as the server describes it (MCP server/* list results)."""

MAX_PAGES = 100


async def preview_features(
    pool: UpstreamPool, server: Server, *, list_timeout: float, connect_timeout: float
) -> Preview:
    """Every tool, prompt, resource and resource template ``server`` lists now, following its
    cursors (at most ``MAX_PAGES`` pages of each). A kind the server does not announce in its
    capabilities, or whose list it refuses (e.g. -32601), is empty. ``list_timeout`` bounds each
    list request.

    Raises:
        UpstreamError: the server could not be started or connected to (within ``connect_timeout``),
            did not answer a list within ``list_timeout``, or went away while listing.
    """
    client = Client()
    upstream = pool.get(server, client)
    try:
        async with asyncio.timeout(connect_timeout):
            await upstream.connect(client)
    except TimeoutError:
        raise UpstreamUnavailableError(
            f"server {server.name!r} did not start within {connect_timeout:g}s"
        ) from None
    kinds = [kind for kind in FeatureKind if kind.capability in upstream.server_capabilities]
    lists = await asyncio.gather(
        *(_list_all(upstream, server.name, kind, client, list_timeout) for kind in kinds)
    )
    found: Preview = {kind: [] for kind in FeatureKind}
    found.update(zip(kinds, lists, strict=True))
    return found


async def _list_all(
    upstream: Upstream, server: str, kind: FeatureKind, client: Client, list_timeout: float
) -> list[JsonObject]:
    items: list[JsonObject] = []
    cursor = None
    for _ in range(MAX_PAGES):
        params: JsonObject | None = {"cursor": cursor} if cursor is not None else None
        try:
            async with asyncio.timeout(list_timeout):
                response = await upstream.request(kind.list_method, params, client)
        except TimeoutError:
            raise UpstreamUnavailableError(
                f"server {server!r} did not answer {kind.list_method} within {list_timeout:g}s"
            ) from None
        result = response.get("result")
        if not isinstance(result, dict):
            break
        items.extend(i for i in result.get(kind.value) or [] if isinstance(i, dict))
        cursor = result.get("nextCursor")
        if cursor is None:
            break
    return items
