"""Aggregated lists: tools, prompts, resources and resource templates across a gateway's servers.

Each page asks every enabled server for one page at once, so the latency is the slowest server's,
not the sum. A server whose complete listing the catalog holds within the ``ttlMs`` the server gave
(MCP 2026-07-28 server/utilities/caching) is not asked: its whole listing is in the first page. A
server's complete one-page answer is kept in the catalog for next time. Names of prefixed assignments
are exposed as ``prefix__name``; resource URIs are never rewritten. A server that fails is left out
of the page (its legs say why) so one broken server does not hide the others. For modern clients the
page carries ``ttlMs`` (the smallest a server allowed) and ``cacheScope: private`` (what a client
sees depends on who it is).

Every page shows only what provisioning lets through to the caller, with the metadata filter applied
(``provisioning.Governance``); a server whose features were hidden from a page adds a
``gateway_feature_filtered`` leg saying how many and why (never the definitions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from lockgate.dataplane.catalog import Catalog
from lockgate.dataplane.cursors import decode_cursor, encode_cursor
from lockgate.dataplane.errors import INVALID_PARAMS, JsonRpcError
from lockgate.dataplane.exchange import Exchange
from lockgate.dataplane.provisioning import Governance, Verdict, describe_hidden
from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import Era, JsonObject
from lockgate.domain.model import Assignment
from lockgate.upstream.listing import Listing

Forward = Callable[[Exchange, Assignment, JsonObject | None], Awaitable[JsonObject]]
"""Sends the exchange's method to one server and records its legs (``Forwarder.forward``)."""
FILTERED_LEG = "gateway_feature_filtered"


class Aggregator:
    """Answers list methods; ``forward`` reaches one server, ``cursor_key`` seals the cursors."""

    def __init__(self, forward: Forward, catalog: Catalog, governance: Governance, cursor_key: bytes) -> None:
        self._forward = forward
        self._catalog = catalog
        self._governance = governance
        self._key = cursor_key

    async def list(self, ex: Exchange, kind: FeatureKind) -> JsonObject:
        """One aggregated page of ``kind`` for the client of ``ex``.

        Raises:
            JsonRpcError: -32602 for a cursor the gateway did not issue.
        """
        cursor = (ex.params or {}).get("cursor")
        by_id = {a.id: a for a in ex.enabled_assignments}
        if cursor is None:
            targets: list[tuple[Assignment, Any]] = [(a, None) for a in by_id.values()]
        else:
            if not isinstance(cursor, str):
                raise JsonRpcError(INVALID_PARAMS, "Invalid cursor")
            targets = [(by_id[aid], c) for aid, c in decode_cursor(self._key, cursor) if aid in by_id]
        pages = await asyncio.gather(*(self._page(ex, kind, a, c) for a, c in targets))
        items: list[JsonObject] = []
        more: list[tuple[int, Any]] = []
        ttls: list[int] = []
        for (assignment, _), (page, verdict) in zip(targets, pages, strict=True):
            items.extend(verdict.visible)
            if verdict.withheld:
                ex.record(FILTERED_LEG, server=assignment.server.name, error=describe_hidden(verdict.hidden))
            if page.get("nextCursor") is not None:
                more.append((assignment.id, page["nextCursor"]))
            if isinstance(page.get("ttlMs"), int):
                ttls.append(page["ttlMs"])
        result: JsonObject = {kind.value: items}
        if more:
            result["nextCursor"] = encode_cursor(self._key, more)
        if ex.era is Era.MODERN:
            result["ttlMs"] = min(ttls, default=0)
            result["cacheScope"] = "private"
        return {"result": result}

    async def _page(
        self, ex: Exchange, kind: FeatureKind, assignment: Assignment, cursor: Any
    ) -> tuple[JsonObject, Verdict]:
        """One server's page (its ``nextCursor`` and ``ttlMs``) and the verdict over its items."""
        teams, gateway = ex.access.principal.teams, ex.access.assignments
        if cursor is None and (known := self._catalog.fresh(assignment, kind)) is not None:
            entry, remaining_ms = known
            return {"ttlMs": remaining_ms}, self._governance.verdict(assignment, kind, teams, entry, gateway)
        params = dict(ex.params or {})
        params.pop("cursor", None)
        if cursor is not None:
            params["cursor"] = cursor
        try:
            response = await self._forward(ex, assignment, params or None)
            result = response.get("result")
        except JsonRpcError:
            result = None  # recorded by forward; the other servers still answer
        if not isinstance(result, dict):  # failed, or does not offer this kind (e.g. -32601)
            return {}, self._governance.judge(assignment, kind, teams, (), gateway)
        listing = Listing.from_pages([result], kind)
        if cursor is None and result.get("nextCursor") is None:
            entry = self._catalog.store(assignment, kind, listing)
            return result, self._governance.verdict(assignment, kind, teams, entry, gateway)
        return result, self._governance.judge(assignment, kind, teams, listing.items, gateway)
