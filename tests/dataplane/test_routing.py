"""Which assignment serves a named feature or a resource URI, and under which upstream name."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import pytest

from lockgate.dataplane.routing import FeatureIndex, Route, resolve_named, resolve_uri, template_pattern
from lockgate.domain.features import FeatureKind
from lockgate.domain.model import Assignment, Server, Transport
from lockgate.upstream.base import Client

TOOL = FeatureKind.TOOL


def _assignment(server_id: int, prefix: str | None = None, *, enabled: bool = True) -> Assignment:
    server = Server(id=server_id, name=f"s{server_id}", transport=Transport.STDIO, enabled=enabled)
    return Assignment(id=100 + server_id, server=server, prefix=prefix)


class FakeCatalog:
    """What each server lists, changeable between listings; counts every listing."""

    def __init__(self, names: dict[int, Iterable[str]]) -> None:
        self.names = {server_id: frozenset(n) for server_id, n in names.items()}
        self.listed: Counter[tuple[int, FeatureKind]] = Counter()
        self.then: dict[int, frozenset[str]] = {}  # what a server lists from its second listing on

    async def list_names(self, assignment: Assignment, kind: FeatureKind, client: Client) -> frozenset[str]:
        server_id = assignment.server.id
        self.listed[(server_id, kind)] += 1
        if self.listed[(server_id, kind)] > 1 and server_id in self.then:
            return self.then[server_id]
        return self.names.get(server_id, frozenset())


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


@pytest.mark.anyio
async def test_a_prefixed_name_routes_to_its_assignment_without_listing() -> None:
    catalog = FakeCatalog({})
    time, git = _assignment(1, "time"), _assignment(2, "git")

    route = await resolve_named(FeatureIndex(catalog.list_names), (time, git), TOOL, "git__log", Client())

    assert route == Route(git, "log")
    assert not catalog.listed


@pytest.mark.anyio
async def test_a_prefixed_name_wins_over_an_unprefixed_server_with_the_same_name() -> None:
    catalog = FakeCatalog({2: {"time__now"}})
    time, plain = _assignment(1, "time"), _assignment(2)

    route = await resolve_named(FeatureIndex(catalog.list_names), (plain, time), TOOL, "time__now", Client())

    assert route == Route(time, "now")


@pytest.mark.anyio
async def test_a_single_unprefixed_server_gets_every_other_name_without_listing() -> None:
    catalog = FakeCatalog({})
    plain, git = _assignment(1), _assignment(2, "git")

    route = await resolve_named(FeatureIndex(catalog.list_names), (git, plain), TOOL, "anything", Client())

    assert route == Route(plain, "anything")
    assert not catalog.listed


@pytest.mark.anyio
async def test_an_unprefixed_name_is_looked_up_in_each_servers_names() -> None:
    catalog = FakeCatalog({1: {"a_tool"}, 2: {"b_tool"}})
    first, second = _assignment(1), _assignment(2)
    index = FeatureIndex(catalog.list_names)

    route = await resolve_named(index, (first, second), TOOL, "b_tool", Client())

    assert route == Route(second, "b_tool")
    assert catalog.listed == {(1, TOOL): 1, (2, TOOL): 1}


@pytest.mark.anyio
async def test_listed_names_are_reused_by_the_next_lookup() -> None:
    catalog = FakeCatalog({1: {"a_tool"}, 2: {"b_tool"}})
    assignments = (_assignment(1), _assignment(2))
    index = FeatureIndex(catalog.list_names)

    await resolve_named(index, assignments, TOOL, "b_tool", Client())
    route = await resolve_named(index, assignments, TOOL, "a_tool", Client())

    assert route == Route(assignments[0], "a_tool")
    assert catalog.listed == {(1, TOOL): 1, (2, TOOL): 1}


@pytest.mark.anyio
async def test_the_first_server_in_gateway_order_wins_a_collision() -> None:
    catalog = FakeCatalog({1: {"search"}, 2: {"search"}})
    first, second = _assignment(1), _assignment(2)

    route = await resolve_named(FeatureIndex(catalog.list_names), (first, second), TOOL, "search", Client())

    assert route == Route(first, "search")


@pytest.mark.anyio
async def test_a_miss_re_lists_every_server_once_and_finds_a_new_name() -> None:
    catalog = FakeCatalog({1: {"a_tool"}, 2: {"b_tool"}})
    catalog.then[2] = frozenset({"b_tool", "new_tool"})
    first, second = _assignment(1), _assignment(2)

    route = await resolve_named(FeatureIndex(catalog.list_names), (first, second), TOOL, "new_tool", Client())

    assert route == Route(second, "new_tool")
    assert catalog.listed == {(1, TOOL): 2, (2, TOOL): 2}


@pytest.mark.anyio
async def test_an_unknown_name_resolves_to_none_after_one_refresh() -> None:
    catalog = FakeCatalog({1: {"a_tool"}, 2: {"b_tool"}})

    route = await resolve_named(
        FeatureIndex(catalog.list_names), (_assignment(1), _assignment(2)), TOOL, "nope", Client()
    )

    assert route is None
    assert catalog.listed == {(1, TOOL): 2, (2, TOOL): 2}


@pytest.mark.anyio
async def test_an_unknown_prefix_with_only_prefixed_servers_resolves_to_none() -> None:
    catalog = FakeCatalog({})
    assignments = (_assignment(1, "time"), _assignment(2, "git"))

    route = await resolve_named(FeatureIndex(catalog.list_names), assignments, TOOL, "svn__log", Client())

    assert route is None
    assert not catalog.listed


@pytest.mark.anyio
async def test_a_disabled_prefixed_server_is_still_resolved_for_the_caller_to_refuse() -> None:
    catalog = FakeCatalog({})
    off = _assignment(1, "time", enabled=False)

    route = await resolve_named(FeatureIndex(catalog.list_names), (off,), TOOL, "time__now", Client())

    assert route == Route(off, "now")


@pytest.mark.anyio
async def test_a_disabled_unprefixed_server_is_still_resolved_for_the_caller_to_refuse() -> None:
    catalog = FakeCatalog({1: {"search"}, 2: {"other"}})
    off, on = _assignment(1, enabled=False), _assignment(2)

    route = await resolve_named(FeatureIndex(catalog.list_names), (off, on), TOOL, "search", Client())

    assert route == Route(off, "search")


@pytest.mark.anyio
async def test_a_lone_disabled_unprefixed_server_is_looked_up_not_assumed() -> None:
    catalog = FakeCatalog({1: {"search"}})
    off = _assignment(1, enabled=False)
    index = FeatureIndex(catalog.list_names)

    assert await resolve_named(index, (off,), TOOL, "search", Client()) == Route(off, "search")
    assert await resolve_named(index, (off,), TOOL, "nope", Client()) is None


@pytest.mark.anyio
async def test_a_new_server_revision_is_listed_afresh() -> None:
    catalog = FakeCatalog({1: {"a_tool"}, 2: {"b_tool"}})
    index = FeatureIndex(catalog.list_names)
    first, second = _assignment(1), _assignment(2)
    await resolve_named(index, (first, second), TOOL, "a_tool", Client())
    revised = Assignment(first.id, Server(1, "s1", Transport.STDIO, revision="r2"))

    await resolve_named(index, (revised, second), TOOL, "a_tool", Client())

    assert catalog.listed[(1, TOOL)] == 2


@pytest.mark.anyio
async def test_a_forgotten_kind_is_listed_again_and_other_kinds_are_kept() -> None:
    catalog = FakeCatalog({1: {"x"}})
    index = FeatureIndex(catalog.list_names)
    assignment = _assignment(1)
    await index.names(assignment, TOOL, Client())
    await index.names(assignment, FeatureKind.PROMPT, Client())

    index.forget(1, TOOL)

    assert not index.known(assignment, TOOL)
    assert index.known(assignment, FeatureKind.PROMPT)


@pytest.mark.anyio
async def test_a_uri_routes_to_the_server_whose_template_matches() -> None:
    catalog = FakeCatalog({})
    first, second = _assignment(1), _assignment(2)
    index = FeatureIndex(catalog.list_names)
    index.store(first, FeatureKind.RESOURCE, frozenset({"file:///a"}))
    index.store(first, FeatureKind.RESOURCE_TEMPLATE, frozenset())
    index.store(second, FeatureKind.RESOURCE, frozenset())
    index.store(second, FeatureKind.RESOURCE_TEMPLATE, frozenset({"repo://{owner}/{+path}"}))

    assert await resolve_uri(index, (first, second), "file:///a", Client()) is first
    assert await resolve_uri(index, (first, second), "repo://ada/src/x.py", Client()) is second
    assert not catalog.listed
