"""Telling a server's repeated notification from a new one, per (server, identity).

One identity may hold several connections to one server: a legacy server gets one per set of client
capabilities relayed (``pool``), and a dual-era server a legacy one beside the modern one. The server
sends its ``notifications/*/list_changed`` (and a ``resources/updated`` for a URI subscribed on
both) on each, so the same news arrives once per connection. A front client must hear it once.

The rule: a notification is a repeat, and dropped, when an identical one (method and params, but
for the ``subscriptionId`` of the listen it came on) came
from *another* connection of the same server and identity less than ``WINDOW`` seconds before.
Identical notifications from the *same* connection are never dropped: a server that sends one twice
means two changes, and a client that re-read its list after the first must hear of the second.
Choosing one connection per (server, identity) as the only source would not do: a legacy
subscription lives on the connection that sent ``resources/subscribe``, whichever it is.

What is remembered is bounded: entries older than the window are forgotten, and at most
``MAX_REMEMBERED`` are kept (the oldest go first; a repeat then passes, which is the safe side).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

import orjson

from lockgate.domain.mcp import JsonObject
from lockgate.upstream.listen import untagged

WINDOW = 1.0  # seconds
MAX_REMEMBERED = 4096


class Duplicates:
    """Remembers the last connection each notification came from, as the module says. ``clock`` is
    in seconds (``time.monotonic`` unless a test gives its own)."""

    def __init__(
        self, window: float = WINDOW, limit: int = MAX_REMEMBERED, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window, self._limit, self._clock = window, limit, clock
        self._last: OrderedDict[bytes, tuple[object, float]] = OrderedDict()  # message -> (source, when)

    def is_repeat(self, source: object, server_id: int, identity_id: int, message: JsonObject) -> bool:
        """Whether ``message`` from connection ``source`` repeats one another connection of the same
        server and identity sent within the window; records it either way."""
        now = self._clock()
        self._forget(now)
        params = message.get("params")
        params = (untagged(params) or None) if isinstance(params, dict) else params  # {} as absent
        try:
            serialized = orjson.dumps(
                [server_id, identity_id, message.get("method"), params], option=orjson.OPT_SORT_KEYS
            )
        except orjson.JSONEncodeError:  # a server's value nested too deep: never a repeat
            return False
        key = hashlib.blake2b(serialized, digest_size=16).digest()  # remembered: 16 bytes, not the message
        previous = self._last.get(key)
        if previous is not None and previous[0] is not source and now - previous[1] < self._window:
            return True  # the first connection stays the one whose news passes
        self._last.pop(key, None)
        self._last[key] = (source, now)
        if len(self._last) > self._limit:
            self._last.popitem(last=False)
        return False

    def _forget(self, now: float) -> None:
        while self._last:
            _, (_, when) = next(iter(self._last.items()))
            if now - when < self._window:
                return
            self._last.popitem(last=False)
