"""Fan-in of server notifications unrelated to a call, fan-out to the front clients that want them.

``notifications/{tools,prompts,resources}/list_changed`` from any server of a gateway reaches every
legacy session of that gateway on its GET stream, and every modern ``subscriptions/listen`` stream
that asked for it (MCP 2026-07-28 basic/patterns/subscriptions). ``notifications/resources/updated``
reaches the sessions subscribed to that URI. The catalog forgets what it knew of the server's
features of that kind. A stream
whose client does not keep up is ended (``backlog``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from lockgate.dataplane.backlog import new_backlog, offer
from lockgate.dataplane.catalog import Catalog
from lockgate.dataplane.sessions import SessionRegistry
from lockgate.domain.features import FeatureKind
from lockgate.upstream.base import JsonObject

LIST_CHANGED = {
    "notifications/tools/list_changed": (FeatureKind.TOOL,),
    "notifications/prompts/list_changed": (FeatureKind.PROMPT,),
    "notifications/resources/list_changed": (FeatureKind.RESOURCE, FeatureKind.RESOURCE_TEMPLATE),
}
LISTEN_FILTERS = {
    "notifications/tools/list_changed": "toolsListChanged",
    "notifications/prompts/list_changed": "promptsListChanged",
    "notifications/resources/list_changed": "resourcesListChanged",
}


@dataclass(slots=True, eq=False)
class Listener:
    """A modern ``subscriptions/listen`` stream."""

    server_ids: Callable[[], frozenset[int]]
    wanted: frozenset[str]  # notification methods
    resource_uris: frozenset[str]
    queue: asyncio.Queue[JsonObject] = field(default_factory=new_backlog)


class Hub:
    def __init__(self, sessions: SessionRegistry, catalog: Catalog) -> None:
        self._sessions = sessions
        self._catalog = catalog
        self._listeners: set[Listener] = set()

    def add(self, listener: Listener) -> None:
        self._listeners.add(listener)

    def remove(self, listener: Listener) -> None:
        self._listeners.discard(listener)

    async def on_server_notification(self, server_id: int, message: JsonObject) -> None:
        method = message.get("method", "")
        for kind in LIST_CHANGED.get(method, ()):
            self._catalog.forget(server_id, kind)
        uri = (message.get("params") or {}).get("uri")
        outgoing = {
            "jsonrpc": "2.0",
            "method": method,
            **({"params": message["params"]} if "params" in message else {}),
        }
        for session in self._sessions:
            if session.stream is None or server_id not in session.server_ids:
                continue
            if method in LIST_CHANGED or (
                method == "notifications/resources/updated" and uri in session.subscriptions
            ):
                offer(session.stream, outgoing)
        for listener in list(self._listeners):
            if server_id not in listener.server_ids():
                continue
            if method in listener.wanted or (
                method == "notifications/resources/updated" and uri in listener.resource_uris
            ):
                offer(listener.queue, outgoing)
