"""The upstream pool: connections are per server and identity, down to keep-alive; a new revision or
credential replaces them and the old are closed; the era learned on first contact is kept per
connection; and clients cannot grow the pool without bound. The keying, superseding and era tests run
over memory upstreams (``lockgate.upstream.memory``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import orjson
import pytest

from lockgate.domain.mcp import Client, Era, JsonObject, relayed_capabilities
from lockgate.domain.model import Credential, IdentityKind, IdentityStatus, Server, Transport
from lockgate.upstream.base import UpstreamError
from lockgate.upstream.listen import MAX_WATCHED_URIS
from lockgate.upstream.memory import MemoryServer, MemoryUpstream, memory_factory
from lockgate.upstream.pool import UpstreamPool, UpstreamSpec
from tests.conftest import DEADLINE

pytestmark = pytest.mark.anyio
DISCOVERED = {"supportedVersions": [Era.MODERN.value], "capabilities": {"tools": {}}}


class RawMcpServer:
    """A stateless modern-era server answering every request; records which ``X-Api-Key`` each
    connection carried."""

    def __init__(self) -> None:
        self.keys_by_connection: list[set[str]] = []
        self.server: asyncio.Server | None = None

    async def on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        keys: set[str] = set()
        self.keys_by_connection.append(keys)
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            fields = dict(line.decode().split(": ", 1) for line in head.split(b"\r\n")[1:] if b": " in line)
            keys.add(fields.get("X-Api-Key", ""))
            message = orjson.loads(await reader.readexactly(int(fields["Content-Length"])))
            if "id" not in message:
                writer.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                continue
            result = DISCOVERED if message["method"] == "server/discover" else {"content": []}
            body = orjson.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result})
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/mcp"


@pytest.fixture
async def raw() -> AsyncIterator[RawMcpServer]:
    raw = RawMcpServer()
    raw.server = await asyncio.start_server(raw.on_connection, "127.0.0.1", 0)
    yield raw
    raw.server.close()


def _credential(identity_id: int, key: str, version: int = 1) -> Credential:
    return Credential(
        identity_id,
        f"identity-{identity_id}",
        IdentityKind.HEADERS,
        True,
        IdentityStatus.READY,
        version,
        {"X-Api-Key": key},
    )


async def _no_notification(_server_id: int, _identity_id: int, _message: JsonObject) -> None:
    return None


async def test_keep_alive_connections_are_never_shared_across_identities(raw: RawMcpServer) -> None:
    server = Server(id=1, name="remote", transport=Transport.HTTP, url=raw.url)
    pool = UpstreamPool(_no_notification)
    await pool.start()
    alice, bob = _credential(1, "alice-key"), _credential(2, "bob-key")
    try:
        for credential in (alice, bob, alice, bob):
            upstream = pool.get(server, Client(), credential)
            answer = await upstream.request("tools/call", {"name": "t", "arguments": {}}, Client())
            assert answer["result"] == {"content": []}
    finally:
        await pool.close()
    assert sorted(map(sorted, raw.keys_by_connection)) == [["alice-key"], ["bob-key"]]


async def test_a_stored_server_header_with_a_line_break_is_never_sent(raw: RawMcpServer) -> None:
    # as a server row stored before its headers were checked holds it
    server = Server(
        id=1, name="remote", transport=Transport.HTTP, url=raw.url, headers={"X-Static": "s\r\nHost: x"}
    )
    pool = UpstreamPool(_no_notification)
    await pool.start()
    try:
        with pytest.raises(UpstreamError, match="refusing to send header 'X-Static'") as refused:
            await pool.get(server, Client()).request("tools/call", {"name": "t"}, Client())
    finally:
        await pool.close()
    assert refused.value.sent is False and raw.keys_by_connection == []


async def ignore(_server_id: int, _identity_id: int, _message: JsonObject) -> None:
    pass


async def test_clients_declaring_endlessly_varied_capabilities_share_a_bounded_set_of_connections() -> None:
    pool = UpstreamPool(ignore)
    server = Server(1, "local", Transport.STDIO, command="true")
    for i in range(50):
        declared = {
            "roots": {"listChanged": True, "padding": "x" * i},
            "sampling": {"tools": {"n": i}},
            "experimental": {"n": i},
        }
        pool.get(server, Client(capabilities=declared, era=Era.LEGACY))
    assert len(pool.live(server.id)) == 1


def test_relayed_capabilities_keep_the_schemas_fields_only() -> None:
    declared = {
        "roots": {"listChanged": True, "x": 1},
        "sampling": {"context": {"deep": "x" * 100}, "other": {}},
        "elicitation": {"form": {}, "url": False},
        "experimental": {"anything": {}},
        "tasks": {},
    }
    assert relayed_capabilities(declared) == {
        "roots": {"listChanged": True},
        "sampling": {"context": {}},
        "elicitation": {"form": {}},
    }
    assert relayed_capabilities({"sampling": True, "roots": {"listChanged": False}}) == {"roots": {}}


# -- over memory upstreams -------------------------------------------------------------------------
ALPHA = Server(1, "alpha", Transport.HTTP, url="https://alpha.example/mcp", revision="r1")
BETA = Server(2, "beta", Transport.HTTP, url="https://beta.example/mcp", revision="r1")
SAMPLING: JsonObject = {"sampling": {}}


@pytest.fixture
async def memory_pool() -> AsyncIterator[tuple[UpstreamPool, dict[str, MemoryServer]]]:
    servers = {"alpha": MemoryServer(name="alpha"), "beta": MemoryServer(name="beta")}
    pool = UpstreamPool(ignore, factory=memory_factory(servers))
    await pool.start()
    yield pool, servers
    await pool.close()


async def _opened(
    pool: UpstreamPool, server: Server, client: Client, credential: Credential | None = None
) -> MemoryUpstream:
    upstream = pool.get(server, client, credential)
    await upstream.connect(client)
    assert isinstance(upstream, MemoryUpstream)
    return upstream


async def test_one_connection_is_pooled_per_server_and_identity(
    memory_pool: tuple[UpstreamPool, dict[str, MemoryServer]],
) -> None:
    pool, servers = memory_pool
    alice, bob = _credential(1, "alice-key"), _credential(2, "bob-key")

    for _ in range(3):
        for server in (ALPHA, BETA):
            for credential in (None, alice, bob):
                await pool.get(server, Client(), credential).request("ping", None, Client())

    assert len(pool.live(ALPHA.id)) == len(pool.live(BETA.id)) == 3
    assert sorted(u.spec.partition for u in servers["alpha"].upstreams) == [0, 1, 2]
    assert sorted({r.identity_id for r in servers["alpha"].received}) == [0, 1, 2]


async def test_a_new_revision_closes_the_old_connection_and_opens_a_new_one(
    memory_pool: tuple[UpstreamPool, dict[str, MemoryServer]],
) -> None:
    pool, servers = memory_pool
    old = await _opened(pool, ALPHA, Client())
    beta = await _opened(pool, BETA, Client())

    new = await _opened(pool, replace(ALPHA, revision="r2"), Client())

    async with asyncio.timeout(DEADLINE):
        await old.closed.wait()
    assert new is not old and pool.live(ALPHA.id) == [new]
    assert not beta.closed.is_set() and pool.live(BETA.id) == [beta]
    assert servers["alpha"].upstreams == [old, new]


async def test_a_changed_credential_closes_that_identitys_old_connection_and_no_other(
    memory_pool: tuple[UpstreamPool, dict[str, MemoryServer]],
) -> None:
    pool, _servers = memory_pool
    alice_old = await _opened(pool, ALPHA, Client(), _credential(1, "alice-key"))
    bob = await _opened(pool, ALPHA, Client(), _credential(2, "bob-key"))
    shared = await _opened(pool, ALPHA, Client())

    alice_new = await _opened(pool, ALPHA, Client(), _credential(1, "alice-refreshed", version=2))

    async with asyncio.timeout(DEADLINE):
        await alice_old.closed.wait()
    assert alice_new is not alice_old
    assert not bob.closed.is_set() and not shared.closed.is_set()
    assert {id(u) for u in pool.live(ALPHA.id)} == {id(alice_new), id(bob), id(shared)}


async def test_closing_the_pool_waits_for_a_superseded_connection_to_finish_closing() -> None:
    release = asyncio.Event()

    class SlowToClose(MemoryUpstream):
        """Starts closing once the pool closes the connection that replaced it, and takes a few
        turns of the event loop to finish (as a process does to exit)."""

        async def close(self) -> None:
            if self.spec.server.revision == "r1":
                await release.wait()
                for _ in range(10):
                    await asyncio.sleep(0)  # a turn of the loop, not a wait for time
            else:
                release.set()
            await super().close()

    async def answer(_method: str, _params: JsonObject | None, _client: Client) -> JsonObject:
        return {"result": {}}

    pool = UpstreamPool(ignore, factory=lambda spec: SlowToClose(spec, answer))
    await pool.start()
    old = await _opened(pool, ALPHA, Client())
    await _opened(pool, replace(ALPHA, revision="r2"), Client())
    assert not old.closed.is_set()

    async with asyncio.timeout(DEADLINE):
        await pool.close()

    assert old.closed.is_set()


async def test_a_modern_server_shares_one_connection_across_client_capabilities_once_its_era_is_known() -> (
    None
):
    alpha = MemoryServer(name="alpha", era=Era.MODERN)
    pool = UpstreamPool(ignore, factory=memory_factory({"alpha": alpha}))
    await pool.start()
    try:
        first = await _opened(pool, ALPHA, Client(era=Era.MODERN))
        second = pool.get(ALPHA, Client(capabilities=SAMPLING, era=Era.MODERN))
    finally:
        await pool.close()

    assert second is first and first.era is Era.MODERN
    assert len(alpha.upstreams) == 1


async def test_a_legacy_servers_connections_are_kept_apart_by_the_capabilities_relayed_on_them(
    memory_pool: tuple[UpstreamPool, dict[str, MemoryServer]],
) -> None:
    pool, _servers = memory_pool
    plain = await _opened(pool, ALPHA, Client(era=Era.LEGACY))

    sampling = pool.get(ALPHA, Client(capabilities=SAMPLING, era=Era.LEGACY))

    assert sampling is not plain and plain.era is Era.LEGACY
    assert len(pool.live(ALPHA.id)) == 2


async def test_a_legacy_client_is_mirrored_onto_a_dual_era_servers_legacy_side() -> None:
    alpha = MemoryServer(name="alpha", era=Era.MODERN)
    pool = UpstreamPool(ignore, factory=memory_factory({"alpha": alpha}))
    await pool.start()
    try:
        modern = await _opened(pool, ALPHA, Client(era=Era.MODERN))
        mirrored = pool.get(ALPHA, Client(era=Era.LEGACY))
        await mirrored.request(
            "tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": "x"}}, Client()
        )
    finally:
        await pool.close()

    assert isinstance(mirrored, MemoryUpstream) and mirrored is not modern
    assert mirrored.spec.era is Era.LEGACY and mirrored.era is Era.LEGACY
    assert alpha.received[-1].params == {}  # spoken to as legacy: no modern _meta


async def test_a_new_revision_forgets_the_era_learned_for_the_old_one() -> None:
    alpha = MemoryServer(name="alpha", era=Era.MODERN)
    specs: list[UpstreamSpec] = []

    def recording(spec: UpstreamSpec) -> MemoryUpstream:
        specs.append(spec)
        return alpha.upstream(spec)

    pool = UpstreamPool(ignore, factory=recording)
    await pool.start()
    try:
        await _opened(pool, ALPHA, Client(era=Era.MODERN))
        pool.get(ALPHA, Client(era=Era.MODERN, capabilities=SAMPLING))  # the learned era: shared
        pool.get(replace(ALPHA, revision="r2"), Client(era=Era.MODERN))
    finally:
        await pool.close()

    assert [(s.server.revision, s.era) for s in specs] == [("r1", None), ("r2", None)]


async def test_an_unrelated_notification_reaches_the_pool_callback_with_its_server_and_identity() -> None:
    alpha = MemoryServer(name="alpha")
    heard: list[tuple[int, int, JsonObject]] = []

    async def on_notification(server_id: int, identity_id: int, message: JsonObject) -> None:
        heard.append((server_id, identity_id, message))

    pool = UpstreamPool(on_notification, factory=memory_factory({"alpha": alpha}))
    await pool.start()
    try:
        await _opened(pool, ALPHA, Client())
        await _opened(pool, ALPHA, Client(), _credential(5, "alice-key"))
        await alpha.announce("notifications/resources/updated", {"uri": "file:///a"})
    finally:
        await pool.close()

    updated = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "file:///a"}}
    assert heard == [(ALPHA.id, 0, updated), (ALPHA.id, 5, updated)]


async def test_a_list_change_two_connections_of_one_identity_deliver_reaches_the_callback_once() -> None:
    alpha = MemoryServer(name="alpha")
    heard: list[tuple[int, int, JsonObject]] = []

    async def on_notification(server_id: int, identity_id: int, message: JsonObject) -> None:
        heard.append((server_id, identity_id, message))

    pool = UpstreamPool(on_notification, factory=memory_factory({"alpha": alpha}))
    await pool.start()
    try:
        await _opened(pool, ALPHA, Client(era=Era.LEGACY))
        await _opened(pool, ALPHA, Client(capabilities=SAMPLING, era=Era.LEGACY))
        await alpha.announce("notifications/tools/list_changed")
    finally:
        await pool.close()

    assert len(alpha.upstreams) == 2
    assert heard == [(ALPHA.id, 0, {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})]


async def test_watched_uris_reach_each_connection_of_that_server_and_identity_and_one_built_later(
    memory_pool: tuple[UpstreamPool, dict[str, MemoryServer]],
) -> None:
    pool, _servers = memory_pool
    uris = frozenset({"file:///a"})
    plain = await _opened(pool, ALPHA, Client(era=Era.LEGACY))
    alices = await _opened(pool, ALPHA, Client(era=Era.LEGACY), _credential(5, "alice-key"))
    betas = await _opened(pool, BETA, Client(era=Era.LEGACY))

    pool.watch(ALPHA.id, 0, uris)
    later = await _opened(pool, ALPHA, Client(capabilities=SAMPLING, era=Era.LEGACY))

    assert plain.watched == later.watched == uris
    assert alices.watched == betas.watched == frozenset()
    pool.watch(ALPHA.id, 0, frozenset())
    assert plain.watched == later.watched == frozenset()
    assert pool.serves(ALPHA.id, 5) and not pool.serves(ALPHA.id, 6)


async def test_the_uris_watched_on_one_server_and_identity_are_bounded(
    memory_pool: tuple[UpstreamPool, dict[str, MemoryServer]],
) -> None:
    pool, _servers = memory_pool
    upstream = await _opened(pool, ALPHA, Client(era=Era.LEGACY))

    pool.watch(ALPHA.id, 0, frozenset(f"file:///{n:05}" for n in range(MAX_WATCHED_URIS + 10)))

    assert len(upstream.watched) == MAX_WATCHED_URIS
    assert max(upstream.watched) == f"file:///{MAX_WATCHED_URIS - 1:05}"
