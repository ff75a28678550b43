"""Which assignment serves a named feature or a resource URI, and under which upstream name."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pytest

from lockgate.dataplane.catalog import Catalog
from lockgate.dataplane.errors import Refusal
from lockgate.dataplane.routing import Route, resolve_named, resolve_uri
from lockgate.dataplane.uri_templates import template_pattern
from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import Client
from lockgate.domain.model import Assignment, Server, Transport
from lockgate.upstream.listing import Listing

TOOL = FeatureKind.TOOL


def _assignment(server_id: int, prefix: str | None = None, *, enabled: bool = True) -> Assignment:
    server = Server(id=server_id, name=f"s{server_id}", transport=Transport.STDIO, enabled=enabled)
    return Assignment(id=100 + server_id, server=server, prefix=prefix)


class FakeServers:
    """What each server lists, changeable between listings; counts every listing."""

    def __init__(self, names: dict[int, Iterable[str]]) -> None:
        self.names = {server_id: frozenset(n) for server_id, n in names.items()}
        self.listed: Counter[tuple[int, FeatureKind]] = Counter()
        self.then: dict[int, frozenset[str]] = {}  # what a server lists from its second listing on

    async def list_features(self, assignment: Assignment, kind: FeatureKind, client: Client) -> Listing:
        server_id = assignment.server.id
        self.listed[(server_id, kind)] += 1
        names = self.names.get(server_id, frozenset())
        if self.listed[(server_id, kind)] > 1 and server_id in self.then:
            names = self.then[server_id]
        return Listing(tuple({kind.key: name} for name in sorted(names)))


@pytest.mark.parametrize(
    ("template", "uri"),
    [
        ("file:///{name}", "file:///readme.md"),
        ("test://static/resource/{id}", "test://static/resource/7"),
        ("test://static/resource/{id}", "test://static/resource/"),
        ("db://{schema}/{table}", "db://public/users"),
        ("file:///{+path}", "file:///a/b/c.txt"),
        ("file:///{+path}", "file:///a?b#c"),
        ("repo://{owner}/{+path}", "repo://ada/src/main.py"),
    ],
)
def test_a_template_matches_the_uris_it_expands_to(template: str, uri: str) -> None:
    assert template_pattern(template).match(uri)


@pytest.mark.parametrize(
    ("template", "uri"),
    [
        ("file:///{name}", "file:///a/b"),
        ("file:///{name}", "file:///a?b"),
        ("file:///{name}", "file:///a#b"),
        ("file:///{name}", "http:///readme.md"),
        ("file:///{name}.md", "file:///readme.txt"),
        ("res://a.b/{id}", "res://aXb/1"),
        ("test://static/resource/{id}", "test://static/resource/7/extra"),
        ("test://static/resource/{id}", "prefix-test://static/resource/7"),
        ("file:///{+path}", "http:///a/b"),
        ("repo://{owner}/{+path}", "repo://ada"),
    ],
)
def test_a_template_rejects_uris_it_cannot_expand_to(template: str, uri: str) -> None:
    assert not template_pattern(template).match(uri)


HOSTILE = "x://" + "a".join(f"{{+v{i}}}" for i in range(12)) + "!"
"""Twelve ``{+x}`` variables between literals: backtracking tries (URI length)^12 splits."""


@pytest.mark.timeout(10)
def test_a_hostile_template_matches_a_long_crafted_uri_in_linear_time() -> None:
    crafted = "x://" + "a" * 8000  # never ends with "!", so every split would be tried

    assert not template_pattern(HOSTILE).match(crafted)
    assert template_pattern(HOSTILE).match(crafted + "!")
    assert template_pattern("x://" + "{+a}{b}{+c}" * 5 + "!").match(crafted + "!")


def test_a_template_past_the_caps_matches_nothing() -> None:
    many = "x://" + "/".join(f"{{v{i}}}" for i in range(17))
    assert not template_pattern(many).match("x://a")
    assert not template_pattern("x://" + "a" * 600 + "{id}").match("x://" + "a" * 600 + "1")


@pytest.mark.anyio
async def test_a_uri_longer_than_the_cap_is_refused_with_invalid_params() -> None:
    servers, long_uri = FakeServers({}), "x://" + "a" * 9000
    with pytest.raises(Refusal) as refused:
        await resolve_uri(Catalog(), servers.list_features, (_assignment(1),), long_uri, Client())

    assert refused.value.code == -32602


@pytest.mark.anyio
async def test_a_prefixed_name_routes_to_its_assignment_without_listing() -> None:
    servers = FakeServers({})
    time, git = _assignment(1, "time"), _assignment(2, "git")

    route = await resolve_named(Catalog(), servers.list_features, (time, git), TOOL, "git__log", Client())

    assert route == Route(git, "log")
    assert not servers.listed


@pytest.mark.anyio
async def test_a_prefixed_name_wins_over_an_unprefixed_server_with_the_same_name() -> None:
    servers = FakeServers({2: {"time__now"}})
    time, plain = _assignment(1, "time"), _assignment(2)

    route = await resolve_named(Catalog(), servers.list_features, (plain, time), TOOL, "time__now", Client())

    assert route == Route(time, "now")


@pytest.mark.anyio
async def test_a_single_unprefixed_server_gets_every_other_name_without_listing() -> None:
    servers = FakeServers({})
    plain, git = _assignment(1), _assignment(2, "git")

    route = await resolve_named(Catalog(), servers.list_features, (git, plain), TOOL, "anything", Client())

    assert route == Route(plain, "anything")
    assert not servers.listed


@pytest.mark.anyio
async def test_an_unprefixed_name_is_looked_up_in_each_servers_names() -> None:
    servers = FakeServers({1: {"a_tool"}, 2: {"b_tool"}})
    first, second = _assignment(1), _assignment(2)
    index = Catalog()

    route = await resolve_named(index, servers.list_features, (first, second), TOOL, "b_tool", Client())

    assert route == Route(second, "b_tool")
    assert servers.listed == {(1, TOOL): 1, (2, TOOL): 1}


@pytest.mark.anyio
async def test_listed_names_are_reused_by_the_next_lookup() -> None:
    servers = FakeServers({1: {"a_tool"}, 2: {"b_tool"}})
    assignments = (_assignment(1), _assignment(2))
    index = Catalog()

    await resolve_named(index, servers.list_features, assignments, TOOL, "b_tool", Client())
    route = await resolve_named(index, servers.list_features, assignments, TOOL, "a_tool", Client())

    assert route == Route(assignments[0], "a_tool")
    assert servers.listed == {(1, TOOL): 1, (2, TOOL): 1}


@pytest.mark.anyio
async def test_the_first_server_in_gateway_order_wins_a_collision() -> None:
    servers = FakeServers({1: {"search"}, 2: {"search"}})
    first, second = _assignment(1), _assignment(2)

    route = await resolve_named(Catalog(), servers.list_features, (first, second), TOOL, "search", Client())

    assert route == Route(first, "search")


@pytest.mark.anyio
async def test_a_miss_re_lists_every_server_once_and_finds_a_new_name() -> None:
    servers = FakeServers({1: {"a_tool"}, 2: {"b_tool"}})
    servers.then[2] = frozenset({"b_tool", "new_tool"})
    first, second = _assignment(1), _assignment(2)

    route = await resolve_named(Catalog(), servers.list_features, (first, second), TOOL, "new_tool", Client())

    assert route == Route(second, "new_tool")
    assert servers.listed == {(1, TOOL): 2, (2, TOOL): 2}


@pytest.mark.anyio
async def test_an_unknown_name_resolves_to_none_after_one_refresh() -> None:
    servers = FakeServers({1: {"a_tool"}, 2: {"b_tool"}})

    route = await resolve_named(
        Catalog(), servers.list_features, (_assignment(1), _assignment(2)), TOOL, "nope", Client()
    )

    assert route is None
    assert servers.listed == {(1, TOOL): 2, (2, TOOL): 2}


@pytest.mark.anyio
async def test_an_unknown_prefix_with_only_prefixed_servers_resolves_to_none() -> None:
    servers = FakeServers({})
    assignments = (_assignment(1, "time"), _assignment(2, "git"))

    route = await resolve_named(Catalog(), servers.list_features, assignments, TOOL, "svn__log", Client())

    assert route is None
    assert not servers.listed


@pytest.mark.anyio
async def test_a_disabled_prefixed_server_is_still_resolved_for_the_caller_to_refuse() -> None:
    servers = FakeServers({})
    off = _assignment(1, "time", enabled=False)

    route = await resolve_named(Catalog(), servers.list_features, (off,), TOOL, "time__now", Client())

    assert route == Route(off, "now")


@pytest.mark.anyio
async def test_a_disabled_unprefixed_server_is_still_resolved_for_the_caller_to_refuse() -> None:
    servers = FakeServers({1: {"search"}, 2: {"other"}})
    off, on = _assignment(1, enabled=False), _assignment(2)

    route = await resolve_named(Catalog(), servers.list_features, (off, on), TOOL, "search", Client())

    assert route == Route(off, "search")


@pytest.mark.anyio
async def test_a_lone_disabled_unprefixed_server_is_looked_up_not_assumed() -> None:
    servers = FakeServers({1: {"search"}})
    off = _assignment(1, enabled=False)
    index = Catalog()

    assert await resolve_named(index, servers.list_features, (off,), TOOL, "search", Client()) == Route(
        off, "search"
    )
    assert await resolve_named(index, servers.list_features, (off,), TOOL, "nope", Client()) is None


@pytest.mark.anyio
async def test_a_new_server_revision_is_listed_afresh() -> None:
    servers = FakeServers({1: {"a_tool"}, 2: {"b_tool"}})
    index = Catalog()
    first, second = _assignment(1), _assignment(2)
    await resolve_named(index, servers.list_features, (first, second), TOOL, "a_tool", Client())
    revised = Assignment(first.id, Server(1, "s1", Transport.STDIO, revision="r2"))

    await resolve_named(index, servers.list_features, (revised, second), TOOL, "a_tool", Client())

    assert servers.listed[(1, TOOL)] == 2


@pytest.mark.anyio
async def test_a_forgotten_kind_is_listed_again_and_other_kinds_are_kept() -> None:
    servers = FakeServers({1: {"x"}})
    index = Catalog()
    assignment = _assignment(1)
    await index.entry(assignment, TOOL, Client(), servers.list_features)
    await index.entry(assignment, FeatureKind.PROMPT, Client(), servers.list_features)

    index.forget(1, TOOL)

    assert not index.known(assignment, TOOL)
    assert index.known(assignment, FeatureKind.PROMPT)


@pytest.mark.anyio
async def test_a_uri_routes_to_the_server_whose_template_matches() -> None:
    servers = FakeServers({})
    first, second = _assignment(1), _assignment(2)
    index = Catalog()
    index.store(first, FeatureKind.RESOURCE, Listing(({"uri": "file:///a"},)))
    index.store(first, FeatureKind.RESOURCE_TEMPLATE, Listing(()))
    index.store(second, FeatureKind.RESOURCE, Listing(()))
    index.store(second, FeatureKind.RESOURCE_TEMPLATE, Listing(({"uriTemplate": "repo://{owner}/{+path}"},)))

    assert await resolve_uri(index, servers.list_features, (first, second), "file:///a", Client()) is first
    assert (
        await resolve_uri(index, servers.list_features, (first, second), "repo://ada/src/x.py", Client())
        is second
    )
    assert not servers.listed
