"""``RpcUpstream``: an ``Upstream`` over an ``RpcPeer``, with era detection and reconnection.

Each transport (stdio, Streamable HTTP, HTTP+SSE) subclasses it and supplies how to open the
channel, send one message and close. The era is detected once per connection and the caller
(the pool) caches it per server (MCP 2026-07-28 basic/versioning §Backward compatibility).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from lockgate.domain.mcp import (
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_PREFIX,
    META_PROTOCOL_VERSION,
    Client,
    Era,
    JsonObject,
    relayed_capabilities,
)
from lockgate.upstream.base import (
    OnServerNotification,
    ResponseTooLargeError,
    UpstreamError,
    UpstreamUnavailableError,
)
from lockgate.upstream.listen import BACKOFF, LISTEN, answer_subscription, keep_listening, listen_filter
from lockgate.upstream.rpc import RpcPeer

log = logging.getLogger(__name__)
GATEWAY_INFO = {"name": "lockgate", "version": "0.1.0"}
LISTENER = Client(era=Era.MODERN, info=GATEWAY_INFO)  # the gateway itself, listening (``listen``)
RELISTEN_DELAY = 0.1  # seconds: changes of the watched URIs within it go upstream in one new listen


def modern_params(params: JsonObject | None, client: Client) -> JsonObject:
    """``params`` with the per-request ``_meta`` a modern server requires (MCP 2026-07-28 basic §_meta):
    the front client's own version fields where it sent them, its relayable capabilities otherwise."""
    params = dict(params or {})
    meta = dict(params.get("_meta") or {})
    meta[META_PROTOCOL_VERSION] = Era.MODERN.value
    meta[META_CLIENT_CAPABILITIES] = relayed_capabilities(
        meta.get(META_CLIENT_CAPABILITIES, client.capabilities)
    )
    if client.info:  # a client that sent none is not given one (clientInfo is a SHOULD)
        meta.setdefault(META_CLIENT_INFO, client.info)
    params["_meta"] = meta
    return params


def legacy_params(params: JsonObject | None) -> JsonObject | None:
    """``params`` without the modern ``io.modelcontextprotocol/*`` ``_meta`` fields."""
    if not params or not isinstance(params.get("_meta"), dict):
        return params
    meta = {k: v for k, v in params["_meta"].items() if not k.startswith(META_PREFIX)}
    out = {k: v for k, v in params.items() if k != "_meta"}
    if meta:
        out["_meta"] = meta
    return out


class RpcUpstream:
    """Base of the message-based upstreams. Opens lazily, re-opens after the channel dies. A modern
    connection holds one ``subscriptions/listen`` while open, if its server advertises list changes
    or resource URIs are ``watch``ed (``listen``; ``listen_backoff`` in seconds). A change of the
    watched URIs is sent as a new listen ``RELISTEN_DELAY`` seconds later, with whatever other
    changes came meanwhile, so a burst of front clients listening costs the server a few listens."""

    label = "server"
    listen_backoff = BACKOFF

    def __init__(self, name: str, on_unrelated: OnServerNotification, *, era: Era | None = None) -> None:
        self.name = name
        self.era: Era = era or Era.LEGACY
        self._era_known = era is not None
        self.on_era: Callable[[Era], None] | None = None  # told the era once the handshake finds it
        self.server_capabilities: JsonObject = {}
        self.server_info: JsonObject = {}
        self._on_unrelated = on_unrelated
        self._peer: RpcPeer | None = None
        self._ready: RpcPeer | None = None  # the peer whose handshake completed
        self._lock = asyncio.Lock()
        self._closed = False
        self._listening: asyncio.Task[None] | None = None
        self._watched: frozenset[str] = frozenset()
        self._listened_for: frozenset[str] = frozenset()  # the watched URIs the current listen names
        self._relisten: asyncio.TimerHandle | None = None

    # -- what a transport provides -------------------------------------------------------------
    async def _open(self) -> None:
        raise NotImplementedError

    async def _send(self, message: JsonObject, client: Client | None = None) -> None:
        raise NotImplementedError

    async def _shutdown(self) -> None:
        raise NotImplementedError

    def _cancels_by_notification(self) -> bool:
        return True

    # -- the Upstream protocol -----------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._peer is not None

    async def connect(self, client: Client) -> None:
        await self._connected(client)

    async def request(self, method: str, params: JsonObject | None, client: Client) -> JsonObject:
        peer = await self._connected(client)
        if self.era is Era.MODERN:
            if (answer := answer_subscription(method)) is not None:
                return answer
            return await peer.request(method, modern_params(params, client), client)
        return await peer.request(method, legacy_params(params), client)

    async def notify(self, method: str, params: JsonObject | None) -> None:
        peer = self._peer
        if peer is None:
            return
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = legacy_params(params) if self.era is Era.LEGACY else params
        await peer.notify_raw(message)

    def watch(self, uris: frozenset[str]) -> None:
        """The resource URIs this connection's listen asks for; an open modern connection listens
        again with them (``listen``) ``RELISTEN_DELAY`` seconds after they change."""
        if uris == self._watched:
            return
        self._watched = uris
        if self._relisten is None:
            self._relisten = asyncio.get_running_loop().call_later(RELISTEN_DELAY, self._listen_again)

    def _listen_again(self) -> None:
        self._relisten = None
        peer = self._peer
        if peer is None or peer is not self._ready or self.era is not Era.MODERN or self._closed:
            return  # not listening now: the next handshake listens with the watched URIs
        if self._watched != self._listened_for:
            self._listen(peer)

    async def close(self) -> None:
        self._closed = True
        if self._relisten is not None:
            self._relisten.cancel()
        listening, self._listening = self._listening, None
        if listening is not None:
            listening.cancel()
            await asyncio.wait({listening})  # its end, not its outcome (a cancellation)
        if self._peer is not None:
            self._peer.fail_all(UpstreamUnavailableError(f"{self.label} {self.name!r} is shutting down"))
            self._peer = None
        await self._shutdown()

    # -- connection management -----------------------------------------------------------------
    def _lost(self, reason: str, error: UpstreamError | None = None) -> None:
        """The channel died: fail what is waiting (with ``error``, else unavailable for ``reason``);
        the next request opens a new one."""
        peer, self._peer = self._peer, None
        if peer is not None:
            peer.fail_all(error or UpstreamUnavailableError(reason))

    async def _connected(self, client: Client) -> RpcPeer:
        # The peer is published before the handshake (the handshake itself sends through it), so
        # other callers wait for ``_ready``: a request sent before the era is known goes out wrong.
        peer = self._peer
        if peer is not None and peer is self._ready:
            return peer
        async with self._lock:
            if self._peer is not None and self._peer is self._ready:
                return self._peer
            if self._closed:
                raise UpstreamUnavailableError(f"{self.label} {self.name!r} is shutting down")
            peer = RpcPeer(self._send, self._on_unrelated, send_cancellations=self._cancels_by_notification())
            self._peer = peer
            try:
                await self._open()
                await self._handshake(peer, client)
                self._ready = peer
            except UpstreamError as exc:
                exc.sent = False
                self._peer = None
                with contextlib.suppress(Exception):
                    await self._shutdown()
                raise
            except BaseException:
                self._peer = None
                with contextlib.suppress(Exception):
                    await self._shutdown()
                raise
            return peer

    async def _handshake(self, peer: RpcPeer, client: Client) -> None:
        if not self._era_known or self.era is Era.MODERN:
            discovered = await self._discover(peer, client)
            if discovered is not None:
                self._found(Era.MODERN)
                self.server_capabilities = _object(discovered.get("capabilities"))
                meta = _object(discovered.get("_meta"))
                self.server_info = _object(
                    meta.get(META_PREFIX + "serverInfo") or discovered.get("serverInfo")
                )
                self._listen(peer)
                return
        self._found(Era.LEGACY)
        await self._initialize(peer, client)

    def _listen(self, peer: RpcPeer) -> None:
        """Hold a ``subscriptions/listen`` on ``peer`` for the list changes the server advertises and
        the watched URIs, until this connection closes, ``peer`` is replaced (its successor listens
        again) or the watched URIs change (this is called again; the listen it replaces is cancelled)."""
        if self._listening is not None:
            self._listening.cancel()
            self._listening = None
        self._listened_for = self._watched
        wanted = listen_filter(self.server_capabilities, self._watched)
        if not wanted:
            return
        params = modern_params({"notifications": wanted}, LISTENER)

        async def listen() -> JsonObject | None:
            if self._peer is not peer or self._closed:
                return None
            return await peer.request(LISTEN, params, LISTENER)

        who = f"{self.label} {self.name!r}"
        self._listening = asyncio.create_task(keep_listening(who, listen, self.listen_backoff))

    def _found(self, era: Era) -> None:
        self.era, self._era_known = era, True
        if self._peer is not None:  # the peer was made before the era was known
            self._peer.send_cancellations = self._cancels_by_notification()
        if self.on_era is not None:
            self.on_era(era)

    async def _discover(self, peer: RpcPeer, client: Client) -> JsonObject | None:
        """``server/discover``: a DiscoverResult that lists our version means modern; anything else
        (an error, a timeout) means legacy. The fallback is not keyed to one error code."""
        try:
            async with asyncio.timeout(5):
                response = await peer.request("server/discover", modern_params({}, client), client)
        except (TimeoutError, UpstreamError) as exc:
            if isinstance(exc, UpstreamUnavailableError | ResponseTooLargeError) and self._peer is None:
                raise
            return None
        result = response.get("result")
        if isinstance(result, dict) and Era.MODERN.value in (result.get("supportedVersions") or ()):
            return result
        return None

    async def _initialize(self, peer: RpcPeer, client: Client) -> None:
        params = {
            "protocolVersion": Era.LEGACY.value,
            "capabilities": relayed_capabilities(client.capabilities),
            "clientInfo": GATEWAY_INFO,
        }
        response = await peer.request("initialize", params, client)
        result = response.get("result")
        if not isinstance(result, dict):
            error = (response.get("error") or {}).get("message", "no result")
            raise UpstreamUnavailableError(f"{self.label} {self.name!r} refused initialize: {error}")
        self.server_capabilities = result.get("capabilities") or {}
        self.server_info = result.get("serverInfo") or {}
        self._negotiated(result.get("protocolVersion"))
        await peer.notify_raw({"method": "notifications/initialized"})

    def _negotiated(self, version: str | None) -> None:
        """Hook for transports that must echo the negotiated version (HTTP's MCP-Protocol-Version)."""


def _object(value: object) -> JsonObject:
    """A server's value where an object belongs: itself if it is one, else empty."""
    return value if isinstance(value, dict) else {}
