"""Aggregated lists: tools, prompts, resources and resource templates across a gateway's servers.

Each page asks every enabled server for one page at once, so the latency is the slowest server's,
not the sum. Names of prefixed assignments are exposed as ``prefix__name``; resource URIs are never
rewritten. A server that fails is left out of the page (its legs say why) so one broken server does
not hide the others. For modern clients the page carries ``ttlMs`` (the smallest a server gave) and
``cacheScope: private`` (what a client sees depends on who it is; MCP server/utilities/caching).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lockgate.dataplane.credentials import CredentialRefreshError
from lockgate.dataplane.cursors import decode_cursor, encode_cursor
from lockgate.dataplane.errors import JsonRpcError
from lockgate.dataplane.exchange import Exchange
from lockgate.domain.features import FeatureKind, expose_name
from lockgate.domain.mcp_headers import param_headers
from lockgate.domain.model import Assignment
from lockgate.upstream.base import Client, Era, JsonObject, UpstreamError

if TYPE_CHECKING:
    from lockgate.dataplane.forwarding import Forwarder

MAX_NAME_PAGES = 100


class Aggregator:
    def __init__(self, forwarder: Forwarder, cursor_key: bytes) -> None:
        self._forwarder = forwarder
        self._key = cursor_key

    async def list(self, ex: Exchange, kind: FeatureKind) -> JsonObject:
        """One aggregated page of ``kind`` for the client of ``ex``."""
        cursor = (ex.params or {}).get("cursor")
        by_id = {a.id: a for a in ex.enabled_assignments}
        if cursor is None:
            targets: list[tuple[Assignment, Any]] = [(a, None) for a in by_id.values()]
        else:
            if not isinstance(cursor, str):
                raise JsonRpcError(-32602, "Invalid cursor")
            targets = [(by_id[aid], c) for aid, c in decode_cursor(self._key, cursor) if aid in by_id]
        pages = await asyncio.gather(*(self._page(ex, a, c) for a, c in targets))
        items: list[JsonObject] = []
        more: list[tuple[int, Any]] = []
        ttls: list[int] = []
        for (assignment, _), page in zip(targets, pages, strict=True):
            if page is None:
                continue
            items.extend(_exposed(assignment, kind, page.get(kind.value) or []))
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

    async def _page(self, ex: Exchange, assignment: Assignment, cursor: Any) -> JsonObject | None:
        params = dict(ex.params or {})
        params.pop("cursor", None)
        if cursor is not None:
            params["cursor"] = cursor
        try:
            response = await self._forwarder.forward(ex, assignment, params or None)
        except JsonRpcError:
            return None  # recorded by forward; the other servers still answer
        result = response.get("result")
        if isinstance(result, dict):
            if cursor is None and result.get("nextCursor") is None:
                self._remember(assignment, ex.method, result)
            return result
        return None  # the server does not offer this kind (e.g. -32601): nothing to list

    def _remember(self, assignment: Assignment, method: str, result: JsonObject) -> None:
        """A complete one-page listing refreshes the routing index for free."""
        index = self._forwarder.index
        for kind in FeatureKind:
            if kind.list_method == method:
                items = result.get(kind.value) or []
                index.store(assignment, kind, frozenset(_names(kind, items)))
                if kind is FeatureKind.TOOL:
                    index.store_params(assignment, _tool_params(items))

    async def list_names(self, assignment: Assignment, kind: FeatureKind, client: Client) -> frozenset[str]:
        """All names a server lists for ``kind``, following its cursors (bounded)."""
        try:
            upstream = await self._forwarder.upstream_for(assignment, client)
            await self._forwarder.connect(upstream, client, assignment.server.name)
        except (UpstreamError, CredentialRefreshError):
            return frozenset()
        names: set[str] = set()
        annotated: dict[str, dict[str, str]] = {}
        cursor = None
        for _ in range(MAX_NAME_PAGES):
            params: JsonObject = {"cursor": cursor} if cursor is not None else {}
            try:
                async with asyncio.timeout(self._forwarder.timeout):
                    response = await upstream.request(kind.list_method, params, client)
            except Exception:
                return frozenset(names)
            result = response.get("result")
            if not isinstance(result, dict):
                break
            items = result.get(kind.value) or []
            names.update(_names(kind, items))
            annotated.update(_tool_params(items) if kind is FeatureKind.TOOL else {})
            cursor = result.get("nextCursor")
            if cursor is None:
                break
        if kind is FeatureKind.TOOL:
            self._forwarder.index.store_params(assignment, annotated)
        return frozenset(names)


def _names(kind: FeatureKind, items: list[JsonObject]) -> list[str]:
    return [i[kind.key] for i in items if isinstance(i, dict) and isinstance(i.get(kind.key), str)]


def _tool_params(items: list[JsonObject]) -> dict[str, dict[str, str]]:
    found = {item["name"]: param_headers(item) for item in items if isinstance(item, dict) and "name" in item}
    return {name: params for name, params in found.items() if params}


def _exposed(assignment: Assignment, kind: FeatureKind, items: list[JsonObject]) -> list[JsonObject]:
    if not assignment.prefix or kind not in (FeatureKind.TOOL, FeatureKind.PROMPT):
        return items
    return [{**item, "name": expose_name(assignment.prefix, item["name"])} for item in items]
