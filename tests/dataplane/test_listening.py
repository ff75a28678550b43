"""What listening streams need upstream, bounded: each (server, identity) is opened once however many
streams open, at most a limit at a time, and the pool is told the URIs the hub says are watched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from lockgate.dataplane.catalog import Catalog
from lockgate.dataplane.connector import Connector
from lockgate.dataplane.hub import Hub, Listener
from lockgate.dataplane.listening import Listening
from lockgate.dataplane.sessions import SessionRegistry
from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.domain.model import Access, Assignment, Principal, Server, Transport
from lockgate.upstream.memory import MemoryServer, MemoryUpstream, memory_factory
from lockgate.upstream.pool import UpstreamPool, UpstreamSpec
from tests.conftest import DEADLINE

pytestmark = pytest.mark.anyio
ALPHA, BETA = Server(1, "alpha", Transport.HTTP), Server(2, "beta", Transport.HTTP)
PRINCIPAL = Principal(1, 1, "agent", 1, "g", 1, "a@example.com")
LEGACY = Client(era=Era.LEGACY)


class HeldUpstream(MemoryUpstream):
    """A connection that opens only when the test lets it (``release``)."""

    release = asyncio.Event()

    async def connect(self, client: Client) -> None:
        await self.release.wait()
        await super().connect(client)


@dataclass(eq=False)
class HeldServer(MemoryServer):
    def upstream(self, spec: UpstreamSpec) -> MemoryUpstream:
        async def empty(_method: str, _params: JsonObject | None, _client: Client) -> JsonObject:
            return {"result": {}}

        upstream = HeldUpstream(spec, empty, opened=self.opened)
        self.upstreams.append(upstream)
        return upstream


async def ignore(_server_id: int, _identity_id: int, _message: JsonObject) -> None:
    pass


@pytest.fixture
async def servers() -> AsyncIterator[dict[str, MemoryServer]]:
    HeldUpstream.release = asyncio.Event()
    yield {"alpha": HeldServer(name="alpha"), "beta": HeldServer(name="beta")}


async def _listening(servers: dict[str, MemoryServer], hub: Hub | None = None, limit: int = 64) -> Listening:
    pool = UpstreamPool(ignore, factory=memory_factory(servers))
    await pool.start()
    connector = Connector(pool, timeout=DEADLINE, connect_timeout=DEADLINE)
    return Listening(hub or Hub(SessionRegistry(), Catalog()), connector, limit)


def _access(*servers: Server) -> Access:
    assignments = tuple(Assignment(n, server) for n, server in enumerate(servers, 1))
    return Access(PRINCIPAL, False, None, True, True, True, False, True, None, assignments)


async def test_a_server_is_opened_once_however_many_streams_open_while_it_opens_and_after(
    servers: dict[str, MemoryServer],
) -> None:
    listening = await _listening(servers)
    for _ in range(100):
        listening.open_connections(_access(ALPHA), LEGACY)
    HeldUpstream.release.set()
    async with asyncio.timeout(DEADLINE):
        await servers["alpha"].opened.wait()
    listening.open_connections(_access(ALPHA), Client(era=Era.LEGACY, capabilities={"sampling": {}}))
    await listening.close()

    assert len(servers["alpha"].upstreams) == 1


async def test_past_the_limit_a_servers_connection_waits_for_a_later_stream(
    servers: dict[str, MemoryServer],
) -> None:
    listening = await _listening(servers, limit=1)
    listening.open_connections(_access(ALPHA, BETA), LEGACY)
    HeldUpstream.release.set()
    async with asyncio.timeout(DEADLINE):
        await listening.settle()
    opened_first = [len(servers[n].upstreams) for n in ("alpha", "beta")]

    listening.open_connections(_access(ALPHA, BETA), LEGACY)
    async with asyncio.timeout(DEADLINE):
        await listening.settle()
    await listening.close()

    assert opened_first == [1, 0]
    assert servers["beta"].opened.is_set() and len(servers["alpha"].upstreams) == 1


async def test_refresh_tells_each_connection_the_uris_its_server_and_identity_watch() -> None:
    alpha = MemoryServer(name="alpha")
    hub = Hub(SessionRegistry(), Catalog())
    listening = await _listening({"alpha": alpha}, hub)
    listening.open_connections(_access(ALPHA), LEGACY)
    async with asyncio.timeout(DEADLINE):
        await alpha.opened.wait()
    listener = Listener(lambda: frozenset({(1, 0)}), frozenset(), frozenset({"file:///a"}), 1)
    hub.add(listener)

    listening.refresh(frozenset({(1, 0)}))
    watched = alpha.upstreams[0].watched
    hub.remove(listener)
    listening.refresh(frozenset({(1, 0)}))
    await listening.close()

    assert watched == {"file:///a"} and alpha.upstreams[0].watched == frozenset()
