"""Each rule engine has a connection pool of its own: a slow engine holding all its connections does
not delay another engine; its own asks beyond the limit wait; pools are keyed by engine id and
version, bounded in number, and closed when retired or on ``aclose``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from lockgate.domain.rules import LIMITS, VerdictKind
from lockgate.engines import EngineFailure, Engines
from lockgate.engines.pools import EnginePools
from tests.engines.conftest import LOOPBACK, asking, webhook

pytestmark = pytest.mark.anyio

WAIT_S = 20.0  # the longest any test waits for an event before failing
PASS = b'{"verdict": "pass"}'


@dataclass
class Held:
    """A slow engine: every request waits until ``release`` is set; ``full`` is set once ``limit``
    requests are waiting at once."""

    server: HTTPServer
    limit: int
    release: threading.Event = field(default_factory=threading.Event)
    full: threading.Event = field(default_factory=threading.Event)
    waiting: int = 0
    most: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, _request: Request) -> Response:
        with self.lock:
            self.waiting += 1
            self.most = max(self.most, self.waiting)
            if self.waiting >= self.limit:
                self.full.set()
        try:
            self.release.wait(WAIT_S)
        finally:
            with self.lock:
                self.waiting -= 1
        return Response(PASS, content_type="application/json")


@pytest.fixture
def slow() -> Iterator[Held]:
    with HTTPServer(host="127.0.0.1", port=0, threaded=True) as http:
        held = Held(http, LIMITS.engine_connections)
        http.expect_request("/slow", method="POST").respond_with_handler(held.handle)
        try:
            yield held
        finally:
            held.release.set()


async def test_a_fast_engine_answers_while_a_slow_one_holds_all_its_connections(
    slow: Held, server: HTTPServer, engines: Engines
) -> None:
    server.expect_request("/fast", method="POST").respond_with_json({"verdict": "pass"})
    slow_engine = webhook(slow.server.url_for("/slow"), id=1, name="slow")
    fast_engine = webhook(server.url_for("/fast"), id=2, name="fast", timeout_s=5.0)
    verdicts: list[VerdictKind] = []

    async def ask_slow() -> None:
        verdicts.append((await engines.ask(slow_engine, asking())).kind)

    async with anyio.create_task_group() as group:
        for _ in range(LIMITS.engine_connections):
            group.start_soon(ask_slow)
        assert await anyio.to_thread.run_sync(slow.full.wait, WAIT_S)

        fast = await engines.ask(fast_engine, asking())

        assert fast.kind is VerdictKind.PASS
        assert verdicts == []  # the slow engine still holds every ask
        slow.release.set()
    assert verdicts == [VerdictKind.PASS] * LIMITS.engine_connections
    assert slow.most == LIMITS.engine_connections


async def test_an_ask_beyond_an_engines_connection_limit_waits_and_times_out_on_its_own_deadline(
    slow: Held, engines: Engines
) -> None:
    url = slow.server.url_for("/slow")
    async with anyio.create_task_group() as group:
        for _ in range(LIMITS.engine_connections):
            group.start_soon(engines.ask, webhook(url, id=1), asking())
        assert await anyio.to_thread.run_sync(slow.full.wait, WAIT_S)

        with pytest.raises(EngineFailure, match=r"did not answer within 0\.5 s"):
            await engines.ask(webhook(url, id=1, timeout_s=0.5), asking())

        assert slow.most == LIMITS.engine_connections
        slow.release.set()


async def test_pools_are_per_engine_version_bounded_and_a_retired_one_closes_when_its_last_ask_ends() -> None:
    pools = EnginePools(LOOPBACK, size=2)
    first, changed, other = webhook("", id=1), webhook("", id=1, version=2), webhook("", id=2)
    try:
        async with pools.client(first) as held:
            async with pools.client(first) as again:
                assert again is held
            async with pools.client(changed) as fresh:
                assert fresh is not held
            async with pools.client(other):
                pass
            assert len(pools) == 2  # first was the least recently used: retired
            assert not held.is_closed  # an ask still holds it
        assert held.is_closed
        assert not fresh.is_closed
    finally:
        await pools.aclose()
    assert fresh.is_closed and len(pools) == 0


async def test_an_unused_retired_pool_is_closed_at_once() -> None:
    pools = EnginePools(LOOPBACK, size=1)
    try:
        async with pools.client(webhook("", id=1)) as first:
            pass
        async with pools.client(webhook("", id=2)):
            assert first.is_closed
    finally:
        await pools.aclose()


def test_engine_pools_refuse_a_malformed_allowed_network() -> None:
    with pytest.raises(ValueError, match="not a network"):
        EnginePools(["10.0.0.0/33"])
