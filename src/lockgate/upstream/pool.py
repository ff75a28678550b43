"""The upstream pool: one live connection per server (and, for legacy-era servers, per set of client
capabilities declared at ``initialize``), reused by every call. Never one per call.

The era of each server is detected once and cached; a server whose configuration changes (a new
``revision``) gets a new connection and the old one is closed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import orjson

from lockgate.domain.model import Server, Transport
from lockgate.upstream.base import Client, Era, JsonObject, Upstream, relayed_capabilities
from lockgate.upstream.http import StreamableHttpUpstream
from lockgate.upstream.http_client import HttpClient
from lockgate.upstream.session import RpcUpstream
from lockgate.upstream.sse import SseUpstream
from lockgate.upstream.stdio import StdioUpstream

log = logging.getLogger(__name__)
OnPoolNotification = Callable[[int, JsonObject], Awaitable[None]]
_Key = tuple[int, str, bytes]


class UpstreamPool:
    """Hands out the pooled ``Upstream`` for a server. ``on_notification(server_id, message)`` receives
    every server notification unrelated to a call (list_changed, resources/updated)."""

    def __init__(self, on_notification: OnPoolNotification) -> None:
        self._on_notification = on_notification
        self._upstreams: dict[_Key, RpcUpstream] = {}
        self._eras: dict[tuple[int, str], Era] = {}
        self._http: HttpClient | None = None

    async def start(self) -> None:
        self._http = HttpClient()

    async def close(self) -> None:
        upstreams, self._upstreams = list(self._upstreams.values()), {}
        await asyncio.gather(*(u.close() for u in upstreams), return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def live(self, server_id: int) -> list[RpcUpstream]:
        """The open connections to one server (for tests and diagnostics)."""
        return [u for (sid, _, _), u in self._upstreams.items() if sid == server_id]

    def get(self, server: Server, client: Client) -> Upstream:
        """The pooled connection for ``server`` as seen by ``client``; created (not yet opened) if new."""
        era = self._eras.get((server.id, server.revision))
        if server.transport is Transport.HTTP and client.era is Era.LEGACY and era is Era.MODERN:
            # Mirror a legacy client onto a dual-era server's legacy side: server→client requests,
            # progress and logging then flow as the client expects (MCP 2026-07-28 basic/versioning).
            era = Era.LEGACY
            key: _Key = (server.id, server.revision + "/legacy", self._caps_key(client))
        else:
            key = (server.id, server.revision, b"" if era is Era.MODERN else self._caps_key(client))
        upstream = self._upstreams.get(key)
        if upstream is None:
            self._retire_old_revisions(server)
            upstream = self._create(server, era, key)
            self._upstreams[key] = upstream
        return upstream

    @staticmethod
    def _caps_key(client: Client) -> bytes:
        return orjson.dumps(relayed_capabilities(client.capabilities), option=orjson.OPT_SORT_KEYS)

    def _retire_old_revisions(self, server: Server) -> None:
        stale = [k for k in self._upstreams if k[0] == server.id and k[1].split("/")[0] != server.revision]
        for key in stale:
            old = self._upstreams.pop(key)
            asyncio.get_running_loop().create_task(old.close())

    def _learned(self, key: _Key, era: Era) -> None:
        """First contact told us the era: cache it, and share a modern connection across capabilities."""
        server_id, revision, _ = key
        if (server_id, revision) in self._eras:
            return
        self._eras[(server_id, revision)] = era
        upstream = self._upstreams.get(key)
        if era is Era.MODERN and upstream is not None:
            del self._upstreams[key]
            self._upstreams.setdefault((server_id, revision, b""), upstream)

    def _create(self, server: Server, era: Era | None, key: _Key) -> RpcUpstream:
        def learned(found: Era) -> None:
            self._learned(key, found)

        async def notify(message: JsonObject) -> None:
            await self._on_notification(server.id, message)

        if server.transport is Transport.STDIO:
            assert server.command is not None
            stdio = StdioUpstream(
                server.name, server.command, server.args, dict(server.env), server.cwd, notify
            )
            stdio.on_era = learned
            return stdio
        assert server.url is not None and self._http is not None
        if server.transport is Transport.SSE:
            return SseUpstream(server.name, server.url, dict(server.headers), self._http, notify)
        http = StreamableHttpUpstream(server.name, server.url, dict(server.headers), self._http, notify, era)
        http.on_era = learned
        return http
