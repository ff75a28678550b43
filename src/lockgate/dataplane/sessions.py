"""Legacy (2025-11-25) front sessions: ``Mcp-Session-Id`` and what hangs off it.

A session id is 256 random bits and is bound to the connection (host × gateway × user) of the token
that created it; any other caller presenting it gets 404, as if it did not exist (MCP security best
practices §Session Hijacking: sessions are never authentication). Modern clients have no sessions.

Sessions are bounded three ways, so that no client can grow the gateway or end another's session:

* **idle expiry**: a session that has had no request for ``idle_timeout`` seconds, and has no GET
  stream open and no call in flight, is ended (its client gets 404 and initializes again, MCP
  basic/transports §Session Management);
* **per connection**: a connection holds at most ``max_per_connection`` sessions; its next one ends its
  own least recently used session, never another connection's;
* **in all**: at most ``max_sessions``; past it ``initialize`` is refused (``SessionLimitError``) and
  every live session is kept.

What a session keeps of its ``initialize`` is bounded too (``session_client``): ``clientInfo`` is cut
to its name, title and version, ``capabilities`` are refused past ``MAX_CAPABILITIES_BYTES``.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from lockgate.dataplane.backlog import end
from lockgate.dataplane.cancellation import cancel_for_client
from lockgate.dataplane.errors import INVALID_PARAMS, METHOD_NOT_FOUND, JsonRpcError
from lockgate.dataplane.subscriptions import Subscriptions
from lockgate.domain.mcp import JsonObject

MAX_CAPABILITIES_BYTES = 16 * 1024  # serialized, as the client sent them
MAX_CLIENT_INFO_CHARS = 256  # for each field kept: name, title, version
CLIENT_INFO_FIELDS = ("name", "title", "version")
RELAYED_METHODS = {
    "sampling/createMessage": "sampling",
    "elicitation/create": "elicitation",
    "roots/list": "roots",
}


@dataclass(slots=True)
class FrontSession:
    id: str
    connection_id: int
    gateway_id: int
    protocol_version: str
    capabilities: JsonObject
    client_info: JsonObject
    served: frozenset[tuple[int, int]] = frozenset()  # (server id, identity id): ``hub.served_by``
    stream: asyncio.Queue[JsonObject] | None = None  # the GET stream, when open
    pending: dict[str, asyncio.Future[JsonObject]] = field(default_factory=dict)
    in_flight: dict[Any, asyncio.Task[Any]] = field(default_factory=dict)
    subscriptions: Subscriptions = field(default_factory=Subscriptions)
    last_used: float = 0.0  # the registry's clock
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def mint_request_id(self) -> str:
        """A gateway-minted id for a server→client request relayed to this client."""
        return f"lockgate-{next(self._ids)}"

    def relay(
        self, capabilities: JsonObject, emit: Callable[[JsonObject], Awaitable[None]]
    ) -> Callable[[str, JsonObject | None], Awaitable[JsonObject]]:
        """A relay of server→client requests to this client over ``emit`` (the call's stream), under
        gateway-minted ids; the client's answer comes back as a POSTed response to ``pending``.
        Only requests for capabilities the client declared are relayed (MCP basic/lifecycle)."""

        async def relay(method: str, params: JsonObject | None) -> JsonObject:
            capability = RELAYED_METHODS.get(method)
            if capability is None or capability not in capabilities:
                return {
                    "error": {
                        "code": METHOD_NOT_FOUND,
                        "message": f"the client did not declare {capability or method}",
                    }
                }
            request_id = self.mint_request_id()
            future: asyncio.Future[JsonObject] = asyncio.get_running_loop().create_future()
            self.pending[request_id] = future
            message: JsonObject = {"jsonrpc": "2.0", "id": request_id, "method": method}
            if params is not None:
                message["params"] = params
            try:
                await emit(message)
                return await future
            finally:
                self.pending.pop(request_id, None)

        return relay

    def close(self) -> None:
        for future in self.pending.values():
            future.cancel()
        for task in self.in_flight.values():
            cancel_for_client(task)
        if self.stream is not None:
            end(self.stream)

    @property
    def busy(self) -> bool:
        """A GET stream is open or a call is in flight: not idle, whatever its last request."""
        return self.stream is not None or bool(self.in_flight) or bool(self.pending)


class SessionLimitError(Exception):
    """The gateway holds as many legacy sessions as it may; ``initialize`` again later."""


def session_client(params: JsonObject) -> tuple[JsonObject, JsonObject]:
    """What a session keeps of ``initialize`` params: (capabilities, clientInfo), bounded.

    ``clientInfo`` keeps only its string ``name``, ``title`` and ``version`` (MCP basic/lifecycle
    §Implementation), each cut to ``MAX_CLIENT_INFO_CHARS``; anything else in it is dropped.

    Raises:
        JsonRpcError: -32602 when ``capabilities`` is not an object or is over ``MAX_CAPABILITIES_BYTES``
            serialized.
    """
    capabilities = params.get("capabilities") or {}
    if not isinstance(capabilities, dict):
        raise JsonRpcError(INVALID_PARAMS, "capabilities must be an object")
    if len(orjson.dumps(capabilities)) > MAX_CAPABILITIES_BYTES:
        raise JsonRpcError(INVALID_PARAMS, f"capabilities are over {MAX_CAPABILITIES_BYTES} bytes")
    info = params.get("clientInfo")
    info = info if isinstance(info, dict) else {}
    kept = {k: info[k][:MAX_CLIENT_INFO_CHARS] for k in CLIENT_INFO_FIELDS if isinstance(info.get(k), str)}
    return capabilities, kept


class SessionRegistry:
    """Open sessions, kept in order of last use and bounded as the module says.

    ``idle_timeout`` is in seconds of ``clock`` (``time.monotonic`` unless a test gives its own).
    Expired sessions are ended on every ``create`` and ``get``: the order of last use puts them first,
    so that sweep looks at the expired ones only.
    """

    def __init__(
        self,
        max_sessions: int = 10_000,
        max_per_connection: int = 100,
        idle_timeout: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions: OrderedDict[str, FrontSession] = OrderedDict()
        self._by_connection: dict[int, OrderedDict[str, FrontSession]] = {}
        self._max = max_sessions
        self._max_per_connection = max_per_connection
        self._idle = idle_timeout
        self._clock = clock

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, connection_id: int, gateway_id: int, version: str, params: JsonObject) -> FrontSession:
        """A new session for ``connection_id``, from its ``initialize`` params (bounded by
        ``session_client``).

        Raises:
            JsonRpcError: -32602, the params are over their bounds.
            SessionLimitError: ``max_sessions`` are live and none is this connection's to end.
        """
        capabilities, client_info = session_client(params)
        now = self._clock()
        self._expire(now)
        own = self._by_connection.get(connection_id)
        if own is not None and len(own) >= self._max_per_connection:
            self.end(next(iter(own.values())))
        elif len(self._sessions) >= self._max:
            raise SessionLimitError(f"the gateway holds its maximum of {self._max} sessions")
        session = FrontSession(
            id=secrets.token_urlsafe(32),
            connection_id=connection_id,
            gateway_id=gateway_id,
            protocol_version=version,
            capabilities=capabilities,
            client_info=client_info,
            last_used=now,
        )
        self._sessions[session.id] = session
        self._by_connection.setdefault(connection_id, OrderedDict())[session.id] = session
        return session

    def get(self, session_id: str, connection_id: int) -> FrontSession | None:
        """The session, or None when unknown, expired or bound to another connection."""
        now = self._clock()
        self._expire(now)
        session = self._sessions.get(session_id)
        if session is None or session.connection_id != connection_id:
            return None
        self._touch(session, now)
        return session

    def held_elsewhere(self, session: FrontSession, uri: str) -> bool:
        """Another live session is subscribed to ``uri`` and is served by a connection ``session`` is
        served by too (``hub.served_by``), so the server's subscription may be theirs as well."""
        return any(
            other is not session
            and uri in other.subscriptions
            and not other.served.isdisjoint(session.served)
            for other in self._sessions.values()
        )

    def end(self, session: FrontSession) -> None:
        self._sessions.pop(session.id, None)
        own = self._by_connection.get(session.connection_id)
        if own is not None:
            own.pop(session.id, None)
            if not own:
                del self._by_connection[session.connection_id]
        session.close()

    def close_all(self) -> None:
        for session in list(self._sessions.values()):
            self.end(session)

    def _touch(self, session: FrontSession, now: float) -> None:
        session.last_used = now
        self._sessions.move_to_end(session.id)
        self._by_connection[session.connection_id].move_to_end(session.id)

    def _expire(self, now: float) -> None:
        """End the sessions idle for ``idle_timeout``; a busy one met on the way counts as used now."""
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if now - oldest.last_used < self._idle:
                return
            if oldest.busy:
                self._touch(oldest, now)
            else:
                self.end(oldest)
