"""Listing every feature of one kind a server offers, following its cursors (MCP
server/utilities/pagination), and the cache rules it gave (MCP 2026-07-28 server/utilities/caching).

This is the one list-all loop: the control plane's preview and the data plane's catalog both use it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import Client, JsonObject
from lockgate.upstream.base import Upstream, UpstreamUnavailableError

MAX_PAGES = 100
"""At most this many pages of one kind are followed; what lies past them is not listed."""


@dataclass(frozen=True, slots=True)
class Listing:
    """Every feature of one kind as the server describes it, and how long it allows that to be kept.

    ``ttl_ms`` is the smallest ``ttlMs`` of its pages (None: a page gave none, as legacy servers do);
    ``cache_scope`` is ``public`` only when every page said so.
    """

    items: tuple[JsonObject, ...]
    ttl_ms: int | None = None
    cache_scope: str = "private"

    @staticmethod
    def from_pages(pages: list[JsonObject], kind: FeatureKind) -> Listing:
        """The listing made of a server's list ``result`` pages, in order."""
        items = tuple(i for page in pages for i in page.get(kind.value) or [] if isinstance(i, dict))
        ttls = [page.get("ttlMs") for page in pages]
        valid = [t for t in ttls if isinstance(t, int) and not isinstance(t, bool) and t >= 0]
        ttl_ms = min(valid) if pages and len(valid) == len(ttls) else None
        public = bool(pages) and all(page.get("cacheScope") == "public" for page in pages)
        return Listing(items, ttl_ms, "public" if public else "private")


async def list_all(
    upstream: Upstream, server: str, kind: FeatureKind, client: Client, list_timeout: float
) -> Listing:
    """Every ``kind`` feature the open ``upstream`` lists, at most ``MAX_PAGES`` pages, each request
    within ``list_timeout`` seconds. A list the server refuses (e.g. -32601) ends the listing.

    Raises:
        UpstreamError: the server did not answer a page within ``list_timeout`` or went away.
    """
    pages: list[JsonObject] = []
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
        pages.append(result)
        cursor = result.get("nextCursor")
        if cursor is None:
            break
    return Listing.from_pages(pages, kind)
