"""A modest brake on password guessing: failed sign-ins counted per account and per client address
in a sliding window, in this process's memory (OWASP Authentication Cheat Sheet, "login throttling").

Unknown accounts are counted like real ones, so the brake tells nothing about who has an account.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from typing import Final

MAX_TRACKED: Final = 10_000
"""Keys remembered at most; the least recently failed are forgotten first."""


class SignInThrottle:
    """Refuses a key once it has ``limit`` failures within ``window`` seconds.

    Keys are strings such as ``"account:ada@example.com"`` and ``"address:203.0.113.7"``, each
    with its own limit (``limits`` by prefix before the first ``:``, else ``default_limit``).
    ``clock`` is monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        limits: dict[str, int] | None = None,
        *,
        default_limit: int = 5,
        window: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or {}
        self.default_limit = default_limit
        self.window = window
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def blocked(self, keys: Iterable[str]) -> bool:
        """Whether any of ``keys`` has reached its limit within the window."""
        now = self.clock()
        return any(len(self._recent(key, now)) >= self._limit(key) for key in keys)

    def record_failure(self, keys: Iterable[str]) -> None:
        now = self.clock()
        for key in keys:
            failures = self._recent(key, now)
            failures.append(now)
            self._failures[key] = failures
            self._failures.move_to_end(key)
        while len(self._failures) > MAX_TRACKED:
            self._failures.popitem(last=False)

    def forget(self, key: str) -> None:
        """Clear a key's failures (an account after a successful sign-in)."""
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def _limit(self, key: str) -> int:
        return self.limits.get(key.partition(":")[0], self.default_limit)
