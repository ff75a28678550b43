"""Values handed to the next page once: taken once, only at their place, only before they expire,
and only so many at a time."""

from __future__ import annotations

import pytest

from lockgate.web import handoff
from lockgate.web.handoff import Handoffs


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_value_is_taken_once() -> None:
    handoffs: Handoffs[str] = Handoffs(60, clock=Clock())
    handle = handoffs.put("session-1:/step", "the token")
    assert handoffs.take(handle, "session-1:/step") == "the token"
    assert handoffs.take(handle, "session-1:/step") is None


def test_a_value_is_not_taken_at_another_place_and_waits_for_its_own() -> None:
    handoffs: Handoffs[str] = Handoffs(60, clock=Clock())
    handle = handoffs.put("session-1:/step", "the token")
    assert handoffs.take(handle, "session-2:/step") is None
    assert handoffs.take("another handle", "session-1:/step") is None
    assert handoffs.take(handle, "session-1:/step") == "the token"


def test_an_expired_value_is_gone() -> None:
    clock = Clock()
    handoffs: Handoffs[str] = Handoffs(60, clock=clock)
    handle = handoffs.put("place", "the token")
    clock.now += 60
    assert handoffs.take(handle, "place") is None


def test_only_so_many_values_wait_and_the_oldest_go_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handoff, "MAX_HANDOFFS", 2)
    handoffs: Handoffs[int] = Handoffs(60, clock=Clock())
    handles = [handoffs.put("place", n) for n in range(3)]
    assert [handoffs.take(h, "place") for h in handles] == [None, 1, 2]
