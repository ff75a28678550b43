"""A client that only listens hears its servers: opening a listening stream opens the connections its
notifications come from, a modern listen's resource URIs are asked for upstream, a legacy subscribe to a
modern server is watched the same way, and news several connections deliver is heard once
(in process, ``tests/dataplane/in_process.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.settings import Settings
from lockgate.upstream.memory import MemoryServer, MemoryUpstream
from lockgate.upstream.pool import UpstreamSpec
from tests.conftest import DEADLINE
from tests.dataplane.in_process import ECHO, memory_gateway

pytestmark = pytest.mark.anyio
WATCHED = {"uri": "file:///watched", "name": "watched"}
OTHER = {"uri": "file:///other", "name": "other"}
TOOLS_CHANGED = "notifications/tools/list_changed"
PROMPTS_CHANGED = "notifications/prompts/list_changed"
UPDATED = "notifications/resources/updated"


async def _opened(server: MemoryServer) -> MemoryUpstream:
    """The server's connection, once one is open."""
    async with asyncio.timeout(DEADLINE):
        await server.opened.wait()
    return next(u for u in server.upstreams if u.is_open)


async def test_a_legacy_client_that_only_listens_hears_a_list_change_without_having_called_anything(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(tools=[ECHO])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = await gateway.legacy_client()
        assert alpha.upstreams == []  # initialize is answered by the gateway: nothing is open yet
        async with client.listen_legacy() as stream:
            await _opened(alpha)
            await alpha.announce(TOOLS_CHANGED)

            heard = await stream.message()

    assert heard == {"jsonrpc": "2.0", "method": TOOLS_CHANGED}


async def test_a_modern_listen_opens_the_servers_connection_and_hears_its_list_change_without_any_call(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(era=Era.MODERN, tools=[ECHO])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = gateway.modern_client()
        async with client.stream("subscriptions/listen", {"notifications": {"toolsListChanged": True}}) as s:
            await s.message()  # acknowledged
            await _opened(alpha)
            await alpha.announce(TOOLS_CHANGED)

            heard = await s.message()

    assert heard["method"] == TOOLS_CHANGED


class HangingUpstream(MemoryUpstream):
    """A connection that never opens (a server that accepts and then says nothing)."""

    async def connect(self, client: Client) -> None:
        await asyncio.Event().wait()


@dataclass(eq=False)
class UnopenableServer(MemoryServer):
    """A server whose connections hang (``hangs``) or are refused."""

    hangs: bool = False

    def upstream(self, spec: UpstreamSpec) -> MemoryUpstream:
        async def never(_method: str, _params: JsonObject | None, _client: Client) -> JsonObject:
            raise AssertionError("nothing is asked of a server that did not open")

        upstream = HangingUpstream(spec, never) if self.hangs else MemoryUpstream(spec, never)
        if not self.hangs:
            upstream.closed.set()  # refuses with an unavailable error
        self.upstreams.append(upstream)
        return upstream


async def test_a_server_that_hangs_or_refuses_to_open_stalls_neither_the_stream_nor_the_other_servers(
    settings: Settings, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    hanging, refusing = UnopenableServer(hangs=True), UnopenableServer()
    gamma = MemoryServer(tools=[ECHO])
    servers = {"alpha": hanging, "beta": refusing, "gamma": gamma}
    caplog.set_level(logging.INFO, logger="lockgate.dataplane.listening")
    async with memory_gateway(settings, engine, servers) as gateway:
        client = await gateway.legacy_client()
        async with client.listen_legacy() as stream:
            await _opened(gamma)
            await gamma.announce(TOOLS_CHANGED)

            heard = await stream.message()

    assert heard["method"] == TOOLS_CHANGED
    assert len(hanging.upstreams) == 1 and not hanging.upstreams[0].is_open  # given up at shutdown
    assert "server 'beta' was not opened for its listeners: server 'beta' is shutting down" in caplog.text


async def test_sessions_of_varied_capabilities_opening_their_streams_open_one_connection_to_a_server(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(tools=[ECHO])
    declared: list[JsonObject] = [{}, {"sampling": {}}, {"roots": {"listChanged": True}}, {"elicitation": {}}]
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        clients = [await gateway.legacy_client(capabilities) for capabilities in declared]
        async with contextlib.AsyncExitStack() as stack:
            streams = [await stack.enter_async_context(c.listen_legacy()) for c in clients]
            await _opened(alpha)
            await alpha.announce(TOOLS_CHANGED)

            heard = [await s.message() for s in streams]

    assert len(alpha.upstreams) == 1  # a legacy server's connections are per capabilities, yet one opened
    assert [h["method"] for h in heard] == [TOOLS_CHANGED] * len(declared)


async def test_a_modern_listens_resource_uris_are_watched_upstream_and_only_it_hears_their_updates(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(era=Era.MODERN, resources=[WATCHED, OTHER])
    watching = {"toolsListChanged": True, "resourceSubscriptions": [WATCHED["uri"]]}
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        first, second = gateway.modern_client(), gateway.modern_client()
        async with first.stream("subscriptions/listen", {"notifications": watching}) as hears_watched:
            acknowledged = await hears_watched.message()
            connection = await _opened(alpha)
            other = {"notifications": {"resourceSubscriptions": [OTHER["uri"]]}}
            async with second.stream("subscriptions/listen", other) as hears_other:
                await hears_other.message()
                watched_by_both = connection.watched
                await alpha.announce(UPDATED, {"uri": OTHER["uri"]})
                await alpha.announce(UPDATED, {"uri": WATCHED["uri"]})
                heard_by_second = await hears_other.message()
                heard_by_first = await hears_watched.message()
            watched_after = connection.watched
            await alpha.announce(UPDATED, {"uri": OTHER["uri"]})  # no longer watched: not sent
            await alpha.announce(TOOLS_CHANGED)
            heard_next = await hears_watched.message()

    assert acknowledged["params"]["notifications"]["resourceSubscriptions"] == [WATCHED["uri"]]
    assert watched_by_both == {WATCHED["uri"], OTHER["uri"]}
    assert watched_after == {WATCHED["uri"]}
    assert heard_by_second["params"]["uri"] == OTHER["uri"]
    assert heard_by_first["method"] == UPDATED and heard_by_first["params"]["uri"] == WATCHED["uri"]
    assert heard_next["method"] == TOOLS_CHANGED  # the other URI's update was for the other stream


async def test_a_listen_names_at_most_the_subscription_bound_of_uris_and_says_which(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(era=Era.MODERN, resources=[WATCHED])
    named = [f"file:///{n:04}" for n in range(300)] + ["file:///" + "x" * 5000]
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = gateway.modern_client()
        async with client.stream(
            "subscriptions/listen", {"notifications": {"resourceSubscriptions": named}}
        ) as s:
            acknowledged = await s.message()
            watched = (await _opened(alpha)).watched

    honoured = acknowledged["params"]["notifications"]["resourceSubscriptions"]
    assert honoured == named[:256] and watched == frozenset(honoured)


async def test_a_legacy_subscribe_to_a_dual_era_server_the_gateway_already_listed_goes_to_its_legacy_side(
    settings: Settings, engine: Engine
) -> None:
    # the provisioning step lists the server's resources first, so the pool knows its era and mirrors
    # a legacy client onto the server's legacy side, where resources/subscribe exists
    alpha = MemoryServer(era=Era.MODERN, resources=[WATCHED])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = await gateway.legacy_client()
        subscribed = await client.request("resources/subscribe", {"uri": WATCHED["uri"]})
        async with client.listen_legacy() as stream:
            await alpha.announce(UPDATED, {"uri": WATCHED["uri"]})
            heard = await stream.message()
            await client.request("resources/unsubscribe", {"uri": WATCHED["uri"]})

    assert subscribed["result"] == {}
    assert heard == {"jsonrpc": "2.0", "method": UPDATED, "params": {"uri": WATCHED["uri"]}}
    methods = [r.method for r in alpha.received]
    assert methods == ["resources/list", "resources/subscribe", "resources/unsubscribe"]
    assert alpha.subscriptions == set()


async def test_a_list_change_two_connections_of_one_identity_deliver_reaches_a_front_client_once(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(tools=[ECHO])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        plain, sampling = await gateway.legacy_client(), await gateway.legacy_client({"sampling": {}})
        for client in (plain, sampling):
            assert "result" in await client.request("tools/list")
        async with plain.listen_legacy() as stream:
            await alpha.announce(TOOLS_CHANGED)
            await alpha.announce(PROMPTS_CHANGED)

            heard = [await stream.message(), await stream.message()]

    assert len([u for u in alpha.upstreams if u.is_open or u.closed.is_set()]) == 2
    assert [h["method"] for h in heard] == [TOOLS_CHANGED, PROMPTS_CHANGED]


async def test_a_legacy_session_ended_by_its_client_no_longer_has_its_uris_watched(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(era=Era.MODERN, resources=[WATCHED])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = await gateway.legacy_client()
        await client.request("resources/subscribe", {"uri": WATCHED["uri"]})
        connection = await _opened(alpha)
        watched_while_subscribed = connection.watched
        ended = await gateway.http.delete(client.path, headers=client.headers())

    assert ended.status_code == 200
    assert watched_while_subscribed == {WATCHED["uri"]} and connection.watched == frozenset()
