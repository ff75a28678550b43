"""The gateway's own ``subscriptions/listen`` to a modern server (MCP 2026-07-28
basic/patterns/subscriptions): one per connection whose server advertises ``listChanged`` for tools,
prompts or resources, asking for exactly those, and for the ``resourceSubscriptions`` the front
clients of that connection's identity want (``watched``: the union the pool is given, at most
``MAX_WATCHED_URIS``), if the server advertises ``resources.subscribe``. The listen is sent again
when that set changes (the changes of a short burst together, ``session.RELISTEN_DELAY``). What
arrives on it is unrelated to any call and goes where the connection sends such notifications (the
pool, then the hub, which fans it out to every front client of that identity, of both eras).

A modern server has no ``resources/subscribe`` or ``resources/unsubscribe``: a modern connection
answers them itself (``answer_subscription``), and the URI reaches the server through the listen.

The listen is sent again when the server ends it (a result, a closed stream, or a
``notifications/cancelled`` naming it, which ``rpc`` turns into a failure) or its stream breaks,
after ``backoff`` seconds, doubled after each short-lived stream up to a bound (back to the first
wait after one that lasted longer than the bound); a server that refuses it with a JSON-RPC error is
not asked again on that connection. It ends with its connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from lockgate.domain.mcp import META_PREFIX, JsonObject
from lockgate.upstream.base import UpstreamError

log = logging.getLogger(__name__)
LISTEN = "subscriptions/listen"
SUBSCRIPTION_ID = META_PREFIX + "subscriptionId"
LISTEN_FLAGS = {
    "tools": "toolsListChanged",
    "prompts": "promptsListChanged",
    "resources": "resourcesListChanged",
}
SUBSCRIPTION_METHODS = ("resources/subscribe", "resources/unsubscribe")
MAX_WATCHED_URIS = 1024
REFUSALS = (-32601, -32602)  # method not found, invalid params: the server will not listen
BACKOFF = (1.0, 60.0)  # seconds: the first wait before listening again, and the longest


def listen_filter(capabilities: JsonObject, watched: frozenset[str] = frozenset()) -> JsonObject:
    """The ``notifications`` filter of a listen asking for every list change ``capabilities`` (a
    server's) advertise, and for updates of the ``watched`` resource URIs if it advertises
    ``resources.subscribe``; empty when it asks for nothing (then no listen is sent)."""
    wanted: JsonObject = {}
    for capability, flag in LISTEN_FLAGS.items():
        declared = capabilities.get(capability)
        if isinstance(declared, dict) and declared.get("listChanged") is True:
            wanted[flag] = True
    resources = capabilities.get("resources")
    if watched and isinstance(resources, dict) and resources.get("subscribe") is True:
        wanted["resourceSubscriptions"] = sorted(watched)
    return wanted


def untagged(params: JsonObject) -> JsonObject:
    """``params`` without the ``subscriptionId`` a listen stream tags each notification with (the
    gateway's own, upstream: front clients get theirs)."""
    meta = params.get("_meta")
    if not isinstance(meta, dict) or SUBSCRIPTION_ID not in meta:
        return params
    rest = {k: v for k, v in meta.items() if k != SUBSCRIPTION_ID}
    return {**{k: v for k, v in params.items() if k != "_meta"}, **({"_meta": rest} if rest else {})}


def answer_subscription(method: str) -> JsonObject | None:
    """The answer a modern connection gives a ``resources/subscribe`` or ``resources/unsubscribe``
    itself (the front client's set of URIs reaches the server through the listen); None for any
    other method, which goes to the server."""
    return {"result": {}} if method in SUBSCRIPTION_METHODS else None


async def keep_listening(
    who: str, listen: Callable[[], Awaitable[JsonObject | None]], backoff: tuple[float, float] = BACKOFF
) -> None:
    """Send ``listen`` (it returns when the listen ends: its response, or None once its connection is
    gone) again and again, waiting between as the module says; return when the connection is gone or
    the server refused (``REFUSALS``; any other error, e.g. a 503, is waited out like an ended stream)."""
    first, longest = backoff
    delay = first
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        try:
            response = await listen()
        except UpstreamError as exc:
            log.debug("the listen stream of %s ended: %s", who, exc)
            response = {}
        except Exception:  # a fault of one listen must not end the following of list changes
            log.exception("the listen stream of %s failed; listening again", who)
            response = {}
        if response is None:
            return
        error = response.get("error")
        if isinstance(error, dict) and error.get("code") in REFUSALS:
            log.info("%s refused subscriptions/listen: its list changes are not followed", who)
            return
        if loop.time() - started > longest:
            delay = first  # a stream that lasted: not a failing server
        await asyncio.sleep(delay)  # back-off before listening again, not a wait for an event
        delay = min(delay * 2, longest)
