"""Legacy (2025-11-25) front sessions: ``Mcp-Session-Id`` and what hangs off it.

A session id is 256 random bits and is bound to the connection (host × gateway × user) of the token
that created it; any other caller presenting it gets 404, as if it did not exist (MCP security best
practices §Session Hijacking: sessions are never authentication). Modern clients have no sessions.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lockgate.dataplane.cancellation import cancel_for_client
from lockgate.upstream.base import JsonObject

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
    server_ids: frozenset[int] = frozenset()
    stream: asyncio.Queue[JsonObject] | None = None  # the GET stream, when open
    pending: dict[str, asyncio.Future[JsonObject]] = field(default_factory=dict)
    in_flight: dict[Any, asyncio.Task[Any]] = field(default_factory=dict)
    subscriptions: set[str] = field(default_factory=set)
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
                    "error": {"code": -32601, "message": f"the client did not declare {capability or method}"}
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
            self.stream.put_nowait({})  # an empty message ends the GET stream


class SessionRegistry:
    """Open sessions, least recently used evicted first past ``max_sessions``."""

    def __init__(self, max_sessions: int = 10_000) -> None:
        self._sessions: OrderedDict[str, FrontSession] = OrderedDict()
        self._max = max_sessions

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._sessions.values()))

    def create(self, connection_id: int, gateway_id: int, version: str, params: JsonObject) -> FrontSession:
        session = FrontSession(
            id=secrets.token_urlsafe(32),
            connection_id=connection_id,
            gateway_id=gateway_id,
            protocol_version=version,
            capabilities=params.get("capabilities") or {},
            client_info=params.get("clientInfo") or {},
        )
        self._sessions[session.id] = session
        while len(self._sessions) > self._max:
            _, old = self._sessions.popitem(last=False)
            old.close()
        return session

    def get(self, session_id: str, connection_id: int) -> FrontSession | None:
        """The session, or None when unknown or bound to another connection."""
        session = self._sessions.get(session_id)
        if session is None or session.connection_id != connection_id:
            return None
        self._sessions.move_to_end(session_id)
        return session

    def end(self, session: FrontSession) -> None:
        self._sessions.pop(session.id, None)
        session.close()

    def close_all(self) -> None:
        for session in list(self._sessions.values()):
            self.end(session)
