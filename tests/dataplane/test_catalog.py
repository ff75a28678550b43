"""The feature catalog: whole definitions listed once, every page within its deadline, kept per server
revision, identity and kind, forgotten on list_changed, and answering lists only within the server's
``ttlMs`` (MCP 2026-07-28 server/utilities/caching)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from lockgate.audit.recorder import AuditRecorder
from lockgate.dataplane.aggregation import Aggregator
from lockgate.dataplane.catalog import Catalog
from lockgate.dataplane.exchange import Exchange
from lockgate.dataplane.hub import Hub
from lockgate.dataplane.provisioning import Governance
from lockgate.dataplane.sessions import SessionRegistry
from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.domain.model import (
    Access,
    Assignment,
    Credential,
    IdentityKind,
    IdentityStatus,
    Principal,
    Server,
    Transport,
)
from lockgate.upstream.base import UpstreamUnavailableError
from lockgate.upstream.listing import MAX_PAGES, Listing, list_all

pytestmark = pytest.mark.anyio
TOOL = FeatureKind.TOOL
CURSOR_KEY = b"k" * 32


def _tool(name: str) -> JsonObject:
    return {
        "name": name,
        "title": name.title(),
        "description": f"does {name}",
        "inputSchema": {
            "type": "object",
            "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
        },
        "outputSchema": {"type": "object"},
        "annotations": {"readOnlyHint": True},
        "_meta": {"example.com/owner": "ops"},
    }


class PagedUpstream:
    """An ``Upstream`` whose ``tools/list`` answers ``pages`` in turn, cursors ``"1"``, ``"2"``, ...;
    ``endless`` keeps giving a next cursor; ``stall`` never answers. Counts its requests."""

    def __init__(self, pages: list[dict[str, Any]], *, endless: bool = False, stall: bool = False) -> None:
        self.pages = pages
        self.endless = endless
        self.stall = stall
        self.requests: list[tuple[str, JsonObject | None]] = []

    era = Era.MODERN
    server_capabilities: JsonObject = {"tools": {}}
    server_info: JsonObject = {"name": "paged"}
    is_open = True

    async def connect(self, client: Client) -> None:
        return None

    async def request(self, method: str, params: JsonObject | None, client: Client) -> JsonObject:
        self.requests.append((method, params))
        if self.stall:
            await asyncio.Event().wait()
        index = int((params or {}).get("cursor") or 0)
        page = dict(self.pages[min(index, len(self.pages) - 1)])
        if self.endless or index + 1 < len(self.pages):
            page["nextCursor"] = str(index + 1)
        return {"result": page}

    async def notify(self, method: str, params: JsonObject | None) -> None:
        return None

    async def close(self) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _assignment(server_id: int = 1, *, revision: str = "r1", identity: int | None = None) -> Assignment:
    server = Server(id=server_id, name=f"s{server_id}", transport=Transport.HTTP, revision=revision)
    credential = (
        Credential(identity, "id", IdentityKind.HEADERS, True, IdentityStatus.READY, 1) if identity else None
    )
    return Assignment(id=100 + server_id, server=server, credential=credential)


class Servers:
    """``ListFeatures`` over one ``PagedUpstream`` per server id, counting listings."""

    def __init__(self, upstreams: dict[int, PagedUpstream]) -> None:
        self.upstreams = upstreams
        self.listed: Counter[int] = Counter()

    async def list_features(self, assignment: Assignment, kind: FeatureKind, client: Client) -> Listing:
        self.listed[assignment.server.id] += 1
        return await list_all(self.upstreams[assignment.server.id], "s", kind, client, list_timeout=5)


async def test_a_listing_follows_every_page_and_keeps_whole_definitions() -> None:
    upstream = PagedUpstream([{"tools": [_tool("a")]}, {"tools": [_tool("b")]}, {"tools": [_tool("c")]}])

    listing = await list_all(upstream, "s", TOOL, Client(), list_timeout=5)

    assert [t["name"] for t in listing.items] == ["a", "b", "c"]
    assert listing.items[1] == _tool("b")
    assert [params for _, params in upstream.requests] == [None, {"cursor": "1"}, {"cursor": "2"}]


async def test_a_listing_stops_after_its_page_bound() -> None:
    upstream = PagedUpstream([{"tools": [_tool("a")]}], endless=True)

    await list_all(upstream, "s", TOOL, Client(), list_timeout=5)

    assert len(upstream.requests) == MAX_PAGES


async def test_a_page_not_answered_within_the_list_deadline_fails_the_listing() -> None:
    upstream = PagedUpstream([], stall=True)

    with pytest.raises(UpstreamUnavailableError, match=r"did not answer tools/list within 0.01s"):
        await list_all(upstream, "s", TOOL, Client(), list_timeout=0.01)


async def test_a_listing_keeps_the_smallest_ttl_and_is_public_only_when_every_page_is() -> None:
    pages = [{"ttlMs": 5000, "cacheScope": "public"}, {"ttlMs": 2000, "cacheScope": "private"}]

    mixed = Listing.from_pages(pages, TOOL)
    legacy = Listing.from_pages([{"tools": []}, {"ttlMs": 2000}], TOOL)

    assert (mixed.ttl_ms, mixed.cache_scope) == (2000, "private")
    assert (legacy.ttl_ms, legacy.cache_scope) == (None, "private")


async def test_a_known_definition_is_answered_without_asking_the_server_again() -> None:
    servers = Servers({1: PagedUpstream([{"tools": [_tool("a"), _tool("b")]}])})
    catalog, assignment = Catalog(), _assignment()

    first = await catalog.definition(assignment, TOOL, "b", Client(), servers.list_features)
    again = await catalog.definition(assignment, TOOL, "b", Client(), servers.list_features)
    params = await catalog.tool_params(assignment, "a", Client(), servers.list_features)

    assert first == again == _tool("b")
    assert params == {"region": "Region"}
    assert servers.listed == {1: 1}


async def test_a_forgotten_server_is_listed_again_and_others_are_kept() -> None:
    servers = Servers({1: PagedUpstream([{"tools": [_tool("a")]}]), 2: PagedUpstream([{"tools": []}])})
    catalog, first, second = Catalog(), _assignment(1), _assignment(2)
    for assignment in (first, second):
        await catalog.entry(assignment, TOOL, Client(), servers.list_features)

    catalog.forget(1, TOOL)

    assert not catalog.known(first, TOOL) and catalog.known(second, TOOL)
    await catalog.entry(first, TOOL, Client(), servers.list_features)
    assert servers.listed == {1: 2, 2: 1}


async def test_a_tools_list_changed_notification_makes_the_catalog_forget_that_server() -> None:
    servers = Servers({1: PagedUpstream([{"tools": [_tool("a")]}])})
    catalog, assignment = Catalog(), _assignment()
    await catalog.entry(assignment, TOOL, Client(), servers.list_features)

    await Hub(SessionRegistry(), catalog).on_server_notification(
        1, 0, {"method": "notifications/tools/list_changed"}
    )

    assert not catalog.known(assignment, TOOL)


async def test_each_identity_and_revision_has_its_own_entry_and_an_old_revision_is_dropped() -> None:
    servers = Servers({1: PagedUpstream([{"tools": [_tool("a")]}])})
    catalog = Catalog()
    ada, bob, revised = _assignment(identity=7), _assignment(identity=8), _assignment(revision="r2")
    await catalog.entry(ada, TOOL, Client(), servers.list_features)

    assert not catalog.known(bob, TOOL)
    await catalog.entry(revised, TOOL, Client(), servers.list_features)
    assert not catalog.known(ada, TOOL)


async def test_an_entry_older_than_its_max_age_is_listed_again() -> None:
    servers = Servers({1: PagedUpstream([{"tools": [_tool("a")]}])})
    clock = Clock()
    catalog, assignment = Catalog(max_age=60, clock=clock), _assignment()
    await catalog.entry(assignment, TOOL, Client(), servers.list_features)

    clock.now += 60
    await catalog.entry(assignment, TOOL, Client(), servers.list_features)

    assert servers.listed == {1: 2}


async def test_a_listing_answers_lists_only_within_the_ttl_the_server_gave() -> None:
    clock = Clock()
    catalog, modern, legacy = Catalog(clock=clock), _assignment(1), _assignment(2)
    catalog.store(modern, TOOL, Listing((_tool("a"),), ttl_ms=60_000, cache_scope="public"))
    catalog.store(legacy, TOOL, Listing((_tool("b"),)))

    clock.now += 59.5
    fresh = catalog.fresh(modern, TOOL)
    assert fresh is not None and fresh[1] == 500
    assert catalog.fresh(legacy, TOOL) is None
    clock.now += 0.5
    assert catalog.fresh(modern, TOOL) is None


def _exchange(assignments: tuple[Assignment, ...], params: JsonObject | None = None) -> Exchange:
    principal = Principal(1, 1, "agent", 1, "g", 1, "ada@example.com")
    access = Access(principal, False, None, True, True, True, False, True, None, assignments)
    recorder = AuditRecorder(lambda entries: None)
    return Exchange("c", access, Era.MODERN, "tools/list", params, Client(era=Era.MODERN), recorder)


async def test_a_warm_list_is_answered_from_the_catalog_without_asking_the_servers() -> None:
    asked: list[int] = []

    async def forward(ex: Exchange, assignment: Assignment, params: JsonObject | None) -> JsonObject:
        asked.append(assignment.server.id)
        tools = [_tool(f"t{assignment.server.id}")]
        return {"result": {"tools": tools, "ttlMs": 60_000, "cacheScope": "public"}}

    clock = Clock()
    catalog = Catalog(clock=clock)
    lists = Aggregator(forward, catalog, Governance(catalog, None), CURSOR_KEY)
    assignments = (_assignment(1), _assignment(2))

    cold = await lists.list(_exchange(assignments), TOOL)
    clock.now += 10
    warm = await lists.list(_exchange(assignments), TOOL)

    assert asked == [1, 2]
    assert warm["result"]["tools"] == cold["result"]["tools"] == [_tool("t1"), _tool("t2")]
    assert (warm["result"]["ttlMs"], warm["result"]["cacheScope"]) == (50_000, "private")


async def test_a_server_that_gave_no_ttl_is_asked_again_for_every_list() -> None:
    asked: list[int] = []

    async def forward(ex: Exchange, assignment: Assignment, params: JsonObject | None) -> JsonObject:
        asked.append(assignment.server.id)
        return {"result": {"tools": [_tool("a")]}}

    lists = Aggregator(forward, catalog := Catalog(), Governance(catalog, None), CURSOR_KEY)

    for _ in range(2):
        await lists.list(_exchange((_assignment(1),)), TOOL)

    assert asked == [1, 1]


async def test_a_warm_servers_listing_is_in_the_first_page_only_while_a_paging_server_goes_on_by_cursor() -> (
    None
):
    async def forward(ex: Exchange, assignment: Assignment, params: JsonObject | None) -> JsonObject:
        if assignment.server.id == 1:
            return {"result": {"tools": [_tool("warm")], "ttlMs": 60_000, "cacheScope": "public"}}
        if (params or {}).get("cursor") is None:
            return {"result": {"tools": [_tool("p1")], "nextCursor": "next", "ttlMs": 60_000}}
        return {"result": {"tools": [_tool("p2")], "ttlMs": 60_000}}

    lists = Aggregator(forward, catalog := Catalog(), Governance(catalog, None), CURSOR_KEY)
    assignments = (_assignment(1), _assignment(2))
    await lists.list(_exchange(assignments), TOOL)  # the warm server's listing is kept

    first = (await lists.list(_exchange(assignments), TOOL))["result"]
    second = (await lists.list(_exchange(assignments, {"cursor": first["nextCursor"]}), TOOL))["result"]

    assert [t["name"] for t in first["tools"]] == ["warm", "p1"]
    assert [t["name"] for t in second["tools"]] == ["p2"] and "nextCursor" not in second
