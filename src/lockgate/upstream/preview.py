"""A live look at one server's features, for the control plane (product spec: automatic feature
discovery — "learns and previews each server's live tools, prompts, resources, and templates").

The preview asks the server now, over the pooled connection the data plane also uses (the one of
the identity it runs as, if any), so what it shows is what a host would be offered. Nothing is
cached and no name is prefixed.
"""

from __future__ import annotations

import asyncio

from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import Client, JsonObject
from lockgate.domain.model import Credential, Server
from lockgate.upstream.base import open_within
from lockgate.upstream.listing import list_all
from lockgate.upstream.pool import UpstreamPool

Preview = dict[FeatureKind, list[JsonObject]]
"""Every feature a server lists, by kind, as the server describes it (MCP server/* list results)."""


async def preview_features(
    pool: UpstreamPool,
    server: Server,
    credential: Credential | None,
    *,
    list_timeout: float,
    connect_timeout: float,
) -> Preview:
    """Every tool, prompt, resource and resource template ``server`` lists now to ``credential``
    (attached as ``UpstreamPool.get`` does; None: the server's own configuration), following its
    cursors (at most ``listing.MAX_PAGES`` pages of each). A kind the server does not announce in its
    capabilities, or whose list it refuses (e.g. -32601), is empty. ``list_timeout`` bounds each
    list request.

    Raises:
        UpstreamError: the server could not be started or connected to (within ``connect_timeout``),
            did not answer a list within ``list_timeout``, or went away while listing.
    """
    client = Client()
    upstream = pool.get(server, client, credential)
    await open_within(upstream, client, server.name, connect_timeout)
    kinds = [kind for kind in FeatureKind if kind.capability in upstream.server_capabilities]
    listings = await asyncio.gather(
        *(list_all(upstream, server.name, kind, client, list_timeout) for kind in kinds)
    )
    found: Preview = {kind: [] for kind in FeatureKind}
    found.update((kind, list(listing.items)) for kind, listing in zip(kinds, listings, strict=True))
    return found
