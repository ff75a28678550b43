"""The upstream pool: one live connection per server and identity (and, for legacy-era servers, per
set of client capabilities declared at ``initialize``), reused by every call. Never one per call, and
never shared across identities: each identity's credential is attached to its own connections only.

The era of each server is detected once and cached; a server whose configuration changes (a new
``revision``) gets new connections and the old ones are closed, and so does an identity whose
credential changes (a new ``version``, e.g. after an OAuth refresh).

HTTP and SSE servers are reached through the egress guard (``http_client``): only public addresses
and the networks the pool is given (the ``server_allowed_networks`` setting), checked after each
resolution, at connect time.

How a connection is built is the pool's one seam: an ``UpstreamFactory`` turns an ``UpstreamSpec``
into an ``Upstream``. The default builds the real transports (stdio, Streamable HTTP, HTTP+SSE); tests
pass one that returns in-memory upstreams (``upstream/memory.py``). Keying, era learning and
superseding are the same for both.

Two more things are kept per (server, identity), whatever the number of its connections: the resource
URIs its front clients watch (``watch``: every connection is told, a new one when it is built; a
modern one asks for them on its listen), and which of its notifications repeat one another of its
connections already delivered (``duplicates``: only the first passes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import orjson

from lockgate.domain.mcp import Client, Era, JsonObject, relayed_capabilities
from lockgate.domain.model import Credential, Server, Transport
from lockgate.egress import IPNetwork
from lockgate.upstream.base import MAX_MESSAGE_BYTES, OnServerNotification, Upstream
from lockgate.upstream.duplicates import Duplicates
from lockgate.upstream.http import StreamableHttpUpstream
from lockgate.upstream.http_client import LOOPBACK, HttpClient
from lockgate.upstream.listen import MAX_WATCHED_URIS
from lockgate.upstream.sse import SseUpstream
from lockgate.upstream.stdio import StdioUpstream

log = logging.getLogger(__name__)
OnPoolNotification = Callable[[int, int, JsonObject], Awaitable[None]]
"""Receives ``(server id, identity id, message)``: a notification unrelated to any call, from the
connection to that server serving that identity (0: the server's own configuration)."""


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    """What the pool asks an ``UpstreamFactory`` to build: one connection to ``server`` with
    ``credential`` attached (None: the server's own configuration).

    ``era`` is the era already learned for this connection (None until first contact; ``LEGACY`` for a
    legacy client mirrored onto a dual-era server). The upstream must call ``on_era`` with the era its
    first handshake finds, and send every server notification unrelated to a call (list_changed,
    resources/updated) to ``on_notification``. ``partition`` keeps keep-alive connections apart: it
    is the identity id (0 for the server's own configuration) and never shared across identities.
    """

    server: Server
    credential: Credential | None
    era: Era | None
    partition: int
    on_era: Callable[[Era], None]
    on_notification: OnServerNotification


UpstreamFactory = Callable[[UpstreamSpec], Upstream]
"""Builds a connection (not yet opened) for the pool; called once per pool key."""


class _Key(NamedTuple):
    server_id: int
    revision: str  # the server's configuration
    identity: tuple[int, int]  # (identity id, version); (0, 0): the server's own configuration
    mirror: bool  # a legacy client mirrored onto a dual-era server's legacy side
    capabilities: bytes  # the client's relayed capabilities; b"" for a modern (shared) connection

    @property
    def connection(self) -> tuple[int, str, tuple[int, int], bool]:
        """What an era is learned for: everything but the client's capabilities."""
        return (self.server_id, self.revision, self.identity, self.mirror)

    def supersedes(self, other: _Key) -> bool:
        """``other`` is stale once this key is in use: another revision of the same server, or an
        older version of the same identity's credential."""
        if other.server_id != self.server_id:
            return False
        if other.revision != self.revision:
            return True
        same_identity = self.identity[0] != 0 and other.identity[0] == self.identity[0]
        return same_identity and other.identity != self.identity


class UpstreamPool:
    """Hands out the pooled ``Upstream`` for a server. ``on_notification(server_id, identity_id,
    message)`` receives every server notification unrelated to a call (list_changed,
    resources/updated) with the connection's server and identity, so it reaches only that identity's
    clients. ``allowed`` are
    the networks HTTP and SSE servers may be in although not public. ``max_response_bytes`` bounds
    every message a server sends (an HTTP body, an SSE event, a stdio line); a larger one fails its
    call with ``ResponseTooLargeError``. ``factory`` builds each connection; by default the real
    transport for the server's kind (``allowed`` and ``max_response_bytes`` apply to that one)."""

    def __init__(
        self,
        on_notification: OnPoolNotification,
        allowed: Sequence[IPNetwork] = LOOPBACK,
        max_response_bytes: int = MAX_MESSAGE_BYTES,
        factory: UpstreamFactory | None = None,
        duplicates: Duplicates | None = None,
    ) -> None:
        self._on_notification = on_notification
        self._allowed = tuple(allowed)
        self._max_response = max_response_bytes
        self._factory = factory or self._create_transport
        self._upstreams: dict[_Key, Upstream] = {}
        self._eras: dict[tuple[int, str, tuple[int, int], bool], Era] = {}
        self._closing: set[asyncio.Task[None]] = set()  # superseded connections being closed
        self._http: HttpClient | None = None
        self._watched: dict[tuple[int, int], frozenset[str]] = {}  # (server id, identity id) -> URIs
        self._duplicates = duplicates or Duplicates()

    async def start(self) -> None:
        self._http = HttpClient(self._allowed, max_response_bytes=self._max_response)

    async def close(self) -> None:
        """Close every connection, and wait for those superseded earlier to finish closing."""
        upstreams, self._upstreams = list(self._upstreams.values()), {}
        closing = [*(u.close() for u in upstreams), *self._closing]
        await asyncio.gather(*closing, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def live(self, server_id: int) -> list[Upstream]:
        """The open connections to one server (for tests and diagnostics)."""
        return [u for key, u in self._upstreams.items() if key.server_id == server_id]

    def serves(self, server_id: int, identity_id: int) -> bool:
        """Whether an open connection to the server serves that identity (0: the server's own
        configuration), so its notifications already reach the gateway."""
        return any(
            key.server_id == server_id and key.identity[0] == identity_id and upstream.is_open
            for key, upstream in self._upstreams.items()
        )

    def watch(self, server_id: int, identity_id: int, uris: frozenset[str]) -> None:
        """The resource URIs the front clients of that server and identity watch; every connection
        serving them is told, now and when built. At most ``MAX_WATCHED_URIS`` are kept (the first in
        order; the rest are logged, not watched)."""
        if len(uris) > MAX_WATCHED_URIS:
            log.warning(
                "%d resource URIs watched on server %d; the first %d kept",
                len(uris),
                server_id,
                MAX_WATCHED_URIS,
            )
            uris = frozenset(sorted(uris)[:MAX_WATCHED_URIS])
        if uris:
            self._watched[(server_id, identity_id)] = uris
        else:
            self._watched.pop((server_id, identity_id), None)
        for key, upstream in self._upstreams.items():
            if key.server_id == server_id and key.identity[0] == identity_id:
                upstream.watch(uris)

    def get(self, server: Server, client: Client, credential: Credential | None = None) -> Upstream:
        """The pooled connection for ``server`` with ``credential`` attached (headers for http and sse,
        environment variables for stdio), as seen by ``client``; created (not yet opened) if new."""
        identity = (credential.identity_id, credential.version) if credential is not None else (0, 0)
        era = self._eras.get((server.id, server.revision, identity, False))
        if server.transport is Transport.HTTP and client.era is Era.LEGACY and era is Era.MODERN:
            # Mirror a legacy client onto a dual-era server's legacy side: server→client requests,
            # progress and logging then flow as the client expects (MCP 2026-07-28 basic/versioning).
            era = Era.LEGACY
            key = _Key(server.id, server.revision, identity, True, self._caps_key(client))
        else:
            caps = b"" if era is Era.MODERN else self._caps_key(client)
            key = _Key(server.id, server.revision, identity, False, caps)
        upstream = self._upstreams.get(key)
        if upstream is None:
            self._retire_superseded(key)
            upstream = self._create(server, credential, era, key)
            self._upstreams[key] = upstream
        return upstream

    @staticmethod
    def _caps_key(client: Client) -> bytes:
        return orjson.dumps(relayed_capabilities(client.capabilities), option=orjson.OPT_SORT_KEYS)

    def _retire_superseded(self, key: _Key) -> None:
        """Close the connections ``key`` supersedes and forget the eras learned for them."""
        for stale in [k for k in self._upstreams if key.supersedes(k)]:
            old = self._upstreams.pop(stale)
            task = asyncio.get_running_loop().create_task(old.close())
            self._closing.add(task)  # held until done: the loop keeps only a weak reference
            task.add_done_callback(self._closed)
        for connection in [c for c in self._eras if key.supersedes(_Key(*c, b""))]:
            del self._eras[connection]

    def _closed(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("closing a superseded connection failed: %s", type(task.exception()).__name__)

    def _learned(self, key: _Key, era: Era) -> None:
        """First contact told us the era: cache it, and share a modern connection across capabilities."""
        if key.connection in self._eras:
            return
        self._eras[key.connection] = era
        upstream = self._upstreams.get(key)
        if era is Era.MODERN and upstream is not None:
            del self._upstreams[key]
            self._upstreams.setdefault(key._replace(capabilities=b""), upstream)

    def _create(self, server: Server, credential: Credential | None, era: Era | None, key: _Key) -> Upstream:
        def learned(found: Era) -> None:
            self._learned(key, found)

        async def notify(message: JsonObject) -> None:
            if not self._duplicates.is_repeat(source, server.id, key.identity[0], message):
                await self._on_notification(server.id, key.identity[0], message)

        partition = key.identity[0]
        source = self._factory(UpstreamSpec(server, credential, era, partition, learned, notify))
        source.watch(self._watched.get((server.id, partition), frozenset()))
        return source

    def _create_transport(self, spec: UpstreamSpec) -> Upstream:
        """The real connection for the server's transport (the default factory)."""
        server, credential = spec.server, spec.credential
        if server.transport is Transport.STDIO:
            assert server.command is not None
            identity = credential.values if credential else None
            stdio = StdioUpstream(
                server.name,
                server.command,
                server.args,
                server.env,
                server.cwd,
                spec.on_notification,
                identity=identity,
                identity_env=server.identity_env,
                max_line_bytes=self._max_response,
            )
            stdio.on_era = spec.on_era
            return stdio
        assert server.url is not None and self._http is not None
        headers = _with_credential(server.headers, credential)
        if server.transport is Transport.SSE:
            notify, partition = spec.on_notification, spec.partition
            return SseUpstream(server.name, server.url, headers, self._http, notify, partition)
        http = StreamableHttpUpstream(
            server.name, server.url, headers, self._http, spec.on_notification, spec.era, spec.partition
        )
        http.on_era = spec.on_era
        return http


def _with_credential(headers: Mapping[str, str], credential: Credential | None) -> dict[str, str]:
    """The server's static headers with the identity's on top (an identity's ``Authorization``
    replaces the server's, whatever its case: HTTP field names are case-insensitive, RFC 9110 §5.1)."""
    merged = dict(headers)
    for name, value in (credential.values if credential else {}).items():
        for existing in [n for n in merged if n.lower() == name.lower()]:
            del merged[existing]
        merged[name] = value
    return merged
