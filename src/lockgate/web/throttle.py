"""A brake on password guessing: sign-in attempts counted per key in a sliding window, in this
process's memory (OWASP Authentication Cheat Sheet, "login throttling"; OWASP "Slow Down Online
Guessing Attacks with Device Cookies").

An attempt is counted *before* its password is checked (``reserve``), in one step with the check
of the limits and without yielding to the event loop, so parallel guesses cannot all slip under a
limit; a successful one is un-counted afterwards (``release``). The keys of one attempt, from
``resolve_keys``, are chosen so that nobody can lock someone else out:

- ``address:<ip>``: every attempt from one client address, whatever the account;
- ``client:<ip>/<email>``: one account from one address: an attacker blocks only themselves;
- ``account:<email>``: one account from every browser that has not signed in to it before, which
  caps guessing spread over many addresses;
- ``device:<nonce>``: one account from a browser holding a device cookie for it (issued on a
  successful sign-in), which takes the place of the ``client`` and ``account`` keys: guesses from
  elsewhere never lock out a browser the user has signed in with.

Unknown accounts are counted like real ones, so the brake tells nothing about who has an account.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

MAX_TRACKED: Final = 10_000
"""Keys remembered at most; the least recently counted are forgotten first."""
MAX_EMAIL_CHARS: Final = 254
"""The longest address a mailbox can have (RFC 5321 §4.5.3.1.3, less its angle brackets): what a key
keeps of the email typed, so ``MAX_TRACKED`` keys stay small whatever a form carries."""


def resolve_keys(email: str, address: str, device: str | None) -> tuple[str, ...]:
    """The keys a sign-in attempt for ``email`` (compared without case) from client ``address``
    counts against; ``device`` is the nonce of a device cookie valid for ``email``, if any."""
    account = email.strip().lower()[:MAX_EMAIL_CHARS]
    if device is not None:
        return (f"address:{address}", f"device:{device}")
    return (f"address:{address}", f"client:{address}/{account}", f"account:{account}")


@dataclass(frozen=True, slots=True)
class Attempt:
    """One counted attempt: its keys and when it was counted (the throttle's clock)."""

    keys: tuple[str, ...]
    at: float


class SignInThrottle:
    """Refuses an attempt once any of its keys has ``limit`` attempts within ``window`` seconds.

    Each kind of key (the prefix before the first ``:``) has its limit in ``limits``, else
    ``default_limit``. ``clock`` is monotonic seconds (injectable for tests).
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
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()

    def reserve(self, keys: Iterable[str]) -> Attempt | None:
        """Count an attempt on every key, or on none and return None when any key is at its limit."""
        now = self.clock()
        keys = tuple(keys)
        if any(len(self._recent(key, now)) >= self._limit(key) for key in keys):
            return None
        for key in keys:
            self._attempts[key] = self._recent(key, now)
            self._attempts[key].append(now)
            self._attempts.move_to_end(key)
        while len(self._attempts) > MAX_TRACKED:
            self._attempts.popitem(last=False)
        return Attempt(keys, now)

    def release(self, attempt: Attempt) -> None:
        """Un-count a successful attempt, and forget the earlier failures of its keys that name
        the account (all but ``address:``); the address keeps counting its failures."""
        for key in attempt.keys:
            if not key.startswith("address:"):
                self._attempts.pop(key, None)
            elif attempt.at in (counted := self._attempts.get(key, deque())):
                counted.remove(attempt.at)

    def _recent(self, key: str, now: float) -> deque[float]:
        counted = self._attempts.get(key, deque())
        while counted and counted[0] <= now - self.window:
            counted.popleft()
        return counted

    def _limit(self, key: str) -> int:
        return self.limits.get(key.partition(":")[0], self.default_limit)
