"""The sign-in brake: failures counted per key in a sliding window, each kind of key with its limit."""

from __future__ import annotations

import pytest

from lockgate.web import throttle
from lockgate.web.throttle import SignInThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_blocked_at_its_limit_and_free_again_once_the_window_has_passed() -> None:
    clock = Clock()
    brake = SignInThrottle({"account": 3}, window=60, clock=clock)
    keys = ("account:ada@example.com",)
    for _ in range(3):
        assert not brake.blocked(keys)
        brake.record_failure(keys)
        clock.now += 10
    assert brake.blocked(keys)
    clock.now += 31  # the first failure is now older than the window
    assert not brake.blocked(keys)


def test_each_kind_of_key_has_its_own_limit_and_any_blocked_key_blocks() -> None:
    brake = SignInThrottle({"account": 2, "address": 4}, clock=Clock())
    for n in range(2):
        brake.record_failure((f"account:user{n}@example.com", "address:203.0.113.7"))
    assert not brake.blocked(("account:user2@example.com", "address:203.0.113.7"))
    for n in range(2, 4):
        brake.record_failure((f"account:user{n}@example.com", "address:203.0.113.7"))
    assert brake.blocked(("account:new@example.com", "address:203.0.113.7"))
    assert not brake.blocked(("account:new@example.com", "address:198.51.100.1"))


def test_a_successful_sign_in_forgets_the_accounts_failures() -> None:
    brake = SignInThrottle(default_limit=1, clock=Clock())
    brake.record_failure(("account:ada@example.com",))
    brake.forget("account:ada@example.com")
    assert not brake.blocked(("account:ada@example.com",))


def test_only_so_many_keys_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle, "MAX_TRACKED", 3)
    brake = SignInThrottle(default_limit=1, clock=Clock())
    for n in range(5):
        brake.record_failure((f"account:{n}",))
    assert not brake.blocked(("account:0",))  # forgotten first
    assert brake.blocked(("account:4",))
