"""Fan-in of server notifications unrelated to a call, fan-out to the front clients that want them.

A notification comes from one upstream connection, which serves one identity of one server (0: the
server's own configuration); it reaches only the front clients that identity serves for that server,
so no client hears of another identity's resources.
``notifications/{tools,prompts,resources}/list_changed`` reaches every such legacy session on its GET
stream and every such modern ``subscriptions/listen`` stream that asked for it (MCP 2026-07-28
basic/patterns/subscriptions). ``notifications/resources/updated`` reaches the sessions subscribed to
that URI (``subscriptions``) and the listen streams that named it; ``watched`` is the union of
those URIs per server and identity, which the gateway's listen upstream asks for. A notification
that several connections of one identity deliver arrives here once (``upstream/duplicates.py``).
The catalog forgets what it knew
of the server's features of that kind. An upstream listen stream's own ``subscriptionId`` is not
passed on. A stream whose client does not keep up is ended (``backlog``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import orjson

from lockgate.dataplane.backlog import new_backlog, offer
from lockgate.dataplane.catalog import Catalog
from lockgate.dataplane.sessions import SessionRegistry
from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import JsonObject
from lockgate.domain.model import Access
from lockgate.policy.identities import resolve_identity_refusal
from lockgate.upstream.listen import untagged

LIST_CHANGED = {
    "notifications/tools/list_changed": (FeatureKind.TOOL,),
    "notifications/prompts/list_changed": (FeatureKind.PROMPT,),
    "notifications/resources/list_changed": (FeatureKind.RESOURCE, FeatureKind.RESOURCE_TEMPLATE),
}
KIND_CHANGED = {kind: method for method, kinds in LIST_CHANGED.items() for kind in kinds}
LISTEN_FILTERS = {
    "notifications/tools/list_changed": "toolsListChanged",
    "notifications/prompts/list_changed": "promptsListChanged",
    "notifications/resources/list_changed": "resourcesListChanged",
}
RESOURCE_UPDATED = "notifications/resources/updated"
MAX_NOTIFICATION_PARAMS_BYTES = 16 * 1024
"""A relayed notification's ``params`` past this many bytes keep only their ``uri``: each stream's
backlog holds up to ``STREAM_BACKLOG`` of them, so a server's size must not become the gateway's."""


UNANNOUNCED_SECONDS: Final = 1.0
"""A server's unannounced changes of one kind are told its clients at most once per this many seconds
per identity: a server that lists differently each time must not flood every stream."""
MAX_UNANNOUNCED: Final = 4096


Served = frozenset[tuple[int, int]]
"""(server id, identity id) pairs: whose connections to which servers serve a front client."""


def served_by(access: Access) -> Served:
    """The connections that serve this caller: for each assignment of its gateway whose server is
    enabled and whose identity is ready, the server and the identity (0: the server's own
    configuration). A server assigned twice (e.g. per-user and shared) is served by both."""
    return frozenset(
        (a.server.id, a.identity_key)
        for a in access.assignments
        if a.server.enabled and resolve_identity_refusal(a) is None
    )


@dataclass(slots=True, eq=False)
class Listener:
    """A modern ``subscriptions/listen`` stream."""

    served: Callable[[], Served]  # as ``served_by``
    wanted: frozenset[str]  # notification methods
    resource_uris: frozenset[str]
    gateway_id: int
    queue: asyncio.Queue[JsonObject] = field(default_factory=new_backlog)


class Hub:
    """Fans notifications out as the module says; ``clock`` gives seconds (monotonic)."""

    def __init__(
        self, sessions: SessionRegistry, catalog: Catalog, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._sessions = sessions
        self._catalog = catalog
        self._listeners: set[Listener] = set()
        self._clock = clock
        self._unannounced: dict[tuple[int, int, FeatureKind], float] = {}

    def add(self, listener: Listener) -> None:
        self._listeners.add(listener)

    def remove(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    def watched(self, server_id: int, identity_id: int) -> frozenset[str]:
        """The resource URIs whose updates the front clients served by that server and identity
        want: those the listen streams named and those the legacy sessions subscribed to (the pool
        bounds how many are asked for upstream)."""
        pair = (server_id, identity_id)
        uris: set[str] = set()
        for listener in self._listeners:
            if listener.resource_uris and pair in listener.served():
                uris.update(listener.resource_uris)
        for session in self._sessions:
            if len(session.subscriptions) and pair in session.served:
                uris.update(session.subscriptions)
        return frozenset(uris)

    async def on_server_notification(self, server_id: int, identity_id: int, message: JsonObject) -> None:
        """Fan out ``message``, which the connection to ``server_id`` serving ``identity_id`` sent."""
        method = message.get("method", "")
        for kind in LIST_CHANGED.get(method, ()):
            self._catalog.forget(server_id, kind)
        params = message.get("params")
        uri = params.get("uri") if isinstance(params, dict) else None
        uri = uri if isinstance(uri, str) else None  # a server's value: only a string names a resource
        outgoing: JsonObject = {"jsonrpc": "2.0", "method": method}
        if isinstance(params, dict):
            outgoing["params"] = _bounded(untagged(params), uri)
        pair = (server_id, identity_id)
        for session in self._sessions:
            if session.stream is None or pair not in session.served:
                continue
            if method in LIST_CHANGED or (method == RESOURCE_UPDATED and uri in session.subscriptions):
                offer(session.stream, outgoing)
        for listener in list(self._listeners):
            if pair not in listener.served():
                continue
            if method in listener.wanted or (method == RESOURCE_UPDATED and uri in listener.resource_uris):
                offer(listener.queue, outgoing)

    def on_catalog_changed(self, server_id: int, identity_id: int, kind: FeatureKind) -> None:
        """The catalog found a server's definitions of ``kind`` changed without its telling
        (``catalog.Changed``): the front clients it serves hear ``list_changed`` of that kind, at
        most once per ``UNANNOUNCED_SECONDS`` per (server, identity, kind)."""
        key, now = (server_id, identity_id, kind), self._clock()
        last = self._unannounced.get(key)
        if last is not None and now - last < UNANNOUNCED_SECONDS:
            return
        if len(self._unannounced) >= MAX_UNANNOUNCED:
            self._unannounced.clear()
        self._unannounced[key] = now
        method = KIND_CHANGED[kind]
        note: JsonObject = {"jsonrpc": "2.0", "method": method}
        pair = (server_id, identity_id)
        for session in self._sessions:
            if session.stream is not None and pair in session.served:
                offer(session.stream, note)
        for listener in list(self._listeners):
            if method in listener.wanted and pair in listener.served():
                offer(listener.queue, note)

    def on_provisioning_changed(self, gateway_id: int) -> None:
        """A gateway's provisioning or approvals changed: its front clients hear ``list_changed``
        of every kind (``watch.ProvisioningWatch``)."""
        for method in LIST_CHANGED:
            note: JsonObject = {"jsonrpc": "2.0", "method": method}
            for session in self._sessions:
                if session.stream is not None and session.gateway_id == gateway_id:
                    offer(session.stream, note)
            for listener in list(self._listeners):
                if method in listener.wanted and listener.gateway_id == gateway_id:
                    offer(listener.queue, note)


def _bounded(params: JsonObject, uri: str | None) -> JsonObject:
    """``params`` as the server sent them, or only their ``uri`` when over
    ``MAX_NOTIFICATION_PARAMS_BYTES`` (or not serializable)."""
    try:
        if len(orjson.dumps(params)) <= MAX_NOTIFICATION_PARAMS_BYTES:
            return params
    except orjson.JSONEncodeError:
        pass
    return {"uri": uri} if uri is not None else {}
