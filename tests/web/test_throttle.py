"""The sign-in brake: attempts counted per key in a sliding window before the password is checked,
each kind of key with its limit, and keys chosen so that no one can lock someone else out."""

from __future__ import annotations

import pytest

from lockgate.web import throttle
from lockgate.web.throttle import SignInThrottle, resolve_keys


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_refused_at_its_limit_and_free_again_once_the_window_has_passed() -> None:
    clock = Clock()
    brake = SignInThrottle({"account": 3}, window=60, clock=clock)
    keys = ("account:ada@example.com",)
    for _ in range(3):
        assert brake.reserve(keys) is not None
        clock.now += 10
    assert brake.reserve(keys) is None
    clock.now += 31  # the first attempt is now older than the window
    assert brake.reserve(keys) is not None


def test_an_attempt_is_counted_when_reserved_so_none_slips_under_the_limit() -> None:
    brake = SignInThrottle(default_limit=2, clock=Clock())
    keys = ("client:203.0.113.7/ada@example.com",)
    reserved = [brake.reserve(keys) for _ in range(5)]  # none released yet: all "in flight"
    assert [a is not None for a in reserved] == [True, True, False, False, False]


def test_a_refused_attempt_counts_on_no_key() -> None:
    brake = SignInThrottle({"account": 1, "address": 2}, clock=Clock())
    assert brake.reserve(("account:ada@example.com", "address:203.0.113.7")) is not None
    assert brake.reserve(("account:ada@example.com", "address:203.0.113.7")) is None
    assert brake.reserve(("account:grace@example.com", "address:203.0.113.7")) is not None


def test_each_kind_of_key_has_its_own_limit_and_any_key_at_its_limit_refuses() -> None:
    brake = SignInThrottle({"account": 2, "address": 4}, clock=Clock())
    for n in range(4):
        assert brake.reserve((f"account:user{n}@example.com", "address:203.0.113.7")) is not None
    assert brake.reserve(("account:new@example.com", "address:203.0.113.7")) is None
    assert brake.reserve(("account:new@example.com", "address:198.51.100.1")) is not None


def test_a_success_forgets_the_accounts_failures_but_not_the_addresss() -> None:
    brake = SignInThrottle({"address": 3}, default_limit=2, clock=Clock())
    keys = ("address:203.0.113.7", "client:203.0.113.7/ada@example.com")
    assert brake.reserve(keys) is not None  # a failure
    success = brake.reserve(keys)
    assert success is not None
    brake.release(success)
    assert brake.reserve(keys) is not None
    assert brake.reserve(keys) is not None  # the client key starts afresh: two more fit
    assert brake.reserve(("address:203.0.113.7",)) is None  # three counted: one failure, two now


def test_a_browser_with_a_device_cookie_is_counted_apart_from_the_account() -> None:
    assert resolve_keys(" Ada@Example.com", "203.0.113.7", None) == (
        "address:203.0.113.7",
        "client:203.0.113.7/ada@example.com",
        "account:ada@example.com",
    )
    assert resolve_keys("ada@example.com", "203.0.113.7", "n0nce") == ("address:203.0.113.7", "device:n0nce")


def test_a_key_keeps_at_most_an_emails_length_of_whatever_was_typed() -> None:
    keys = resolve_keys("a" * 1_000_000 + "@example.com", "203.0.113.7", None)
    assert max(len(key) for key in keys) <= len("client:203.0.113.7/") + throttle.MAX_EMAIL_CHARS


def test_only_so_many_keys_are_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle, "MAX_TRACKED", 3)
    brake = SignInThrottle(default_limit=1, clock=Clock())
    for n in range(5):
        brake.reserve((f"account:{n}",))
    assert brake.reserve(("account:0",)) is not None  # forgotten first
    assert brake.reserve(("account:4",)) is None
