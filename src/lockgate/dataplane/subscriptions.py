"""Legacy resource subscriptions (MCP 2025-11-25 server/resources §Subscriptions): which URIs each
front session subscribed to, so that ``notifications/resources/updated`` reaches that session (``hub``).
The URIs are also watched on the gateway's listen to a modern server (``hub.Hub.watched``), which
answers ``resources/subscribe`` itself: 2026-07-28 has no such method (``upstream/listen.py``).

``resources/subscribe`` and ``resources/unsubscribe`` are forwarded as any call is; the session's
set changes only once the server accepted the request (answered a result). The set is bounded: at
most ``MAX_SUBSCRIPTIONS`` URIs of at most ``MAX_URI_CHARS`` each; a subscribe past either bound is
refused with -32602 before any server is asked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

from lockgate.dataplane.errors import INVALID_PARAMS, Refusal
from lockgate.dataplane.exchange import Exchange
from lockgate.domain.mcp import JsonObject

MAX_SUBSCRIPTIONS = 256
MAX_URI_CHARS = 4096
SUBSCRIBE = "resources/subscribe"
UNSUBSCRIBE = "resources/unsubscribe"


class Subscriptions:
    """The resource URIs one legacy session is subscribed to, bounded as the module says."""

    def __init__(self, limit: int = MAX_SUBSCRIPTIONS) -> None:
        self._uris: set[str] = set()
        self._limit = limit

    def __contains__(self, uri: object) -> bool:
        return uri in self._uris

    def __len__(self) -> int:
        return len(self._uris)

    def __iter__(self) -> Iterator[str]:
        return iter(self._uris)

    def refusal(self, uri: str) -> str | None:
        """Why subscribing to ``uri`` would go past the bounds; None when it would not."""
        if len(uri) > MAX_URI_CHARS:
            return f"a subscribed URI may hold at most {MAX_URI_CHARS} characters"
        if uri not in self._uris and len(self._uris) >= self._limit:
            return f"a session may hold at most {self._limit} resource subscriptions"
        return None

    def record(self, method: str, uri: str, response: JsonObject) -> None:
        """Apply a subscribe or unsubscribe the server answered with ``response`` (only a result counts)."""
        if "result" not in response:
            return
        if method == SUBSCRIBE:
            self._uris.add(uri)
        elif method == UNSUBSCRIBE:
            self._uris.discard(uri)


async def forward_subscription(
    subscriptions: Subscriptions,
    ex: Exchange,
    forward: Callable[[Exchange], Awaitable[JsonObject]],
    held_elsewhere: Callable[[str], bool],
) -> JsonObject:
    """Forward ``ex`` (a ``resources/subscribe`` or ``resources/unsubscribe``) with ``forward`` and
    record on ``subscriptions`` what the server accepted. An unsubscribe from a URI that
    ``held_elsewhere`` (another session still subscribed through a connection this one shares) is
    answered here and not sent: the server's subscription is that other session's too.

    Raises:
        JsonRpcError: ``Refusal`` -32602, a subscribe past the bounds (the pipeline records its
            ``gateway_refused`` leg), or whatever ``forward`` raises.
    """
    uri = (ex.params or {}).get("uri")
    if not isinstance(uri, str):
        return await forward(ex)  # the forwarder refuses it
    refused = subscriptions.refusal(uri) if ex.method == SUBSCRIBE else None
    if refused is not None:
        ex.feature_name = uri[:MAX_URI_CHARS]
        raise Refusal(INVALID_PARAMS, refused, "subscription_limit")
    if ex.method == UNSUBSCRIBE and uri in subscriptions and held_elsewhere(uri):
        response: JsonObject = {"result": {}}
    else:
        response = await forward(ex)
    subscriptions.record(ex.method, uri, response)
    return response
