"""Values handed from one page to the next exactly once, kept in this process's memory: the browser
holds only a random handle (256 bits), and taking the value removes it, so neither a reload nor a
replayed request, even with the handle and within the same session, gets it twice.

A value is bound to a ``place`` (say, a session and a page) and opens nowhere else; it expires
after ``ttl`` seconds, and at most ``MAX_HANDOFFS`` wait at once (the oldest are dropped first).
A value still waiting when the process stops is lost, which for a token means minting another.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final, Generic, NamedTuple, TypeVar

T = TypeVar("T")
MAX_HANDOFFS: Final = 1000


class _Waiting(NamedTuple, Generic[T]):
    place: str
    expires: float
    value: T


class Handoffs(Generic[T]):
    """Values waiting for their one taker; ``clock`` is monotonic seconds (injectable for tests)."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._waiting: OrderedDict[str, _Waiting[T]] = OrderedDict()

    def put(self, place: str, value: T) -> str:
        """Keep ``value`` for one taker at ``place``; returns its handle."""
        now = self.clock()
        while self._waiting and next(iter(self._waiting.values())).expires <= now:
            self._waiting.popitem(last=False)  # put in order, so they expire in order
        handle = secrets.token_urlsafe(32)
        self._waiting[handle] = _Waiting(place, now + self.ttl, value)
        while len(self._waiting) > MAX_HANDOFFS:
            self._waiting.popitem(last=False)
        return handle

    def take(self, handle: str, place: str) -> T | None:
        """The value under ``handle``, removed as it is taken; None when there is none, it has
        expired, or it was put for another place (then it stays for its own taker)."""
        waiting = self._waiting.get(handle)
        if waiting is None or waiting.place != place:
            return None
        del self._waiting[handle]
        return waiting.value if waiting.expires > self.clock() else None
