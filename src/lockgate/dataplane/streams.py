"""Long-lived response streams: a legacy session's GET stream and a modern ``subscriptions/listen``
stream, and the watcher that ends a request when its client goes away."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from lockgate.dataplane.backlog import new_backlog
from lockgate.dataplane.cancellation import cancel_for_client
from lockgate.dataplane.hub import LISTEN_FILTERS, Hub, Listener, Served
from lockgate.dataplane.responder import Responder
from lockgate.dataplane.sessions import FrontSession
from lockgate.dataplane.subscriptions import MAX_SUBSCRIPTIONS, MAX_URI_CHARS
from lockgate.domain.mcp import JsonObject
from lockgate.upstream.listen import SUBSCRIPTION_ID

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


async def cancel_on_disconnect(task: asyncio.Task[Any] | None, receive: Receive) -> None:
    """Cancel ``task`` when the client goes away (modern era: closing the stream is cancellation)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            if task is not None:
                cancel_for_client(task)
            return


class DisconnectWatch:
    """Cancels a call when its client goes away (modern era: closing the stream is cancellation).

    Listening starts only after ``grace`` seconds, so the many calls that finish sooner pay for a
    timer, not a task; a client that left in the meantime is noticed as soon as listening starts.
    """

    def __init__(self, task: asyncio.Task[Any] | None, receive: Receive, grace: float = 0.05) -> None:
        self._task, self._receive = task, receive
        self._watcher: asyncio.Task[None] | None = None
        self._timer = asyncio.get_running_loop().call_later(grace, self._start)

    def _start(self) -> None:
        self._watcher = asyncio.create_task(cancel_on_disconnect(self._task, self._receive))

    def stop(self) -> None:
        self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()


def listen_filter(params: JsonObject) -> tuple[frozenset[str], frozenset[str], JsonObject]:
    """What a ``subscriptions/listen`` asks for: notification methods, resource URIs, and the
    subset the gateway honours (for the acknowledgement). The URIs honoured are bounded as a legacy
    session's (``subscriptions``): at most ``MAX_SUBSCRIPTIONS``, each at most ``MAX_URI_CHARS``
    long; the others are left out of the acknowledgement, which is how the client learns of it."""
    wanted_filter = params.get("notifications")
    wanted_filter = wanted_filter if isinstance(wanted_filter, dict) else {}
    wanted = frozenset(m for m, flag in LISTEN_FILTERS.items() if wanted_filter.get(flag))
    named = wanted_filter.get("resourceSubscriptions")
    named = named if isinstance(named, list) else []
    fitting = {u for u in named if isinstance(u, str) and len(u) <= MAX_URI_CHARS}
    uris = frozenset(sorted(fitting)[:MAX_SUBSCRIPTIONS])
    honoured: JsonObject = {flag: True for m, flag in LISTEN_FILTERS.items() if m in wanted}
    if uris:
        honoured["resourceSubscriptions"] = sorted(uris)
    return wanted, uris, honoured


async def serve_listen(
    hub: Hub,
    responder: Responder,
    request_id: Any,
    params: JsonObject,
    served: Served,
    receive: Receive,
    refresh: Callable[[Served], None],
    gateway_id: int,
) -> None:
    """Acknowledge, then stream the requested notifications of the connections that ``served`` names
    (as ``hub.served_by``) and of gateway ``gateway_id``'s provisioning, each tagged with the subscription id,
    until the client closes the stream (MCP 2026-07-28 basic/patterns/subscriptions) or falls a
    backlog behind (``backlog``: the stream then ends and the client listens again). ``refresh`` is
    called with ``served`` once the stream's resource URIs are added to the hub and once they are
    gone (``listening.Listening.refresh``)."""
    wanted, uris, honoured = listen_filter(params)
    listener = Listener(lambda: served, wanted, uris, gateway_id)
    tag = {SUBSCRIPTION_ID: request_id}
    hub.add(listener)
    if uris:
        refresh(served)
    watcher = asyncio.create_task(cancel_on_disconnect(asyncio.current_task(), receive))
    try:
        ack = {
            "method": "notifications/subscriptions/acknowledged",
            "params": {"notifications": honoured, "_meta": tag},
        }
        await responder.emit(ack)
        while note := await listener.queue.get():
            await responder.emit({**note, "params": {**note.get("params", {}), "_meta": tag}})
        await responder.end_stream()
    finally:
        watcher.cancel()
        hub.remove(listener)
        if uris:
            refresh(served)


async def serve_session_stream(session: FrontSession, responder: Responder, receive: Receive) -> None:
    """A legacy session's GET stream: notifications unrelated to any call, until the session ends
    or the client goes away."""
    queue = new_backlog()
    session.stream = queue
    watcher = asyncio.create_task(cancel_on_disconnect(asyncio.current_task(), receive))
    try:
        await responder.open_stream()
        while message := await queue.get():
            await responder.emit(message)
        await responder.end_stream()
    finally:
        watcher.cancel()
        if session.stream is queue:
            session.stream = None
