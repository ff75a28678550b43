"""Legacy sessions: bound to their connection, expired when idle, capped per connection and in all,
and holding only a bounded copy of what ``initialize`` declared."""

from __future__ import annotations

import asyncio

import pytest

from lockgate.dataplane.errors import INVALID_PARAMS, JsonRpcError
from lockgate.dataplane.sessions import MAX_CAPABILITIES_BYTES, SessionLimitError, SessionRegistry

IDLE = 60.0
ALICE, BOB = 1, 2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def registry(clock: Clock, max_sessions: int = 10, max_per_connection: int = 3) -> SessionRegistry:
    return SessionRegistry(max_sessions, max_per_connection, IDLE, clock)


def test_a_session_idle_past_the_timeout_is_ended_and_unknown_afterwards() -> None:
    clock = Clock()
    sessions = registry(clock)
    kept, idle = sessions.create(ALICE, 1, "2025-11-25", {}), sessions.create(ALICE, 1, "2025-11-25", {})
    clock.now += IDLE - 1
    assert sessions.get(kept.id, ALICE) is kept  # a request keeps it alive
    clock.now += 2
    assert sessions.get(idle.id, ALICE) is None
    assert sessions.get(kept.id, ALICE) is kept
    assert len(sessions) == 1


def test_a_session_with_an_open_stream_or_a_call_in_flight_is_not_idle() -> None:
    clock = Clock()
    sessions = registry(clock)
    streaming, calling = (
        sessions.create(ALICE, 1, "2025-11-25", {}),
        sessions.create(BOB, 1, "2025-11-25", {}),
    )
    streaming.stream = asyncio.Queue()
    calling.in_flight[1] = None  # type: ignore[assignment]
    clock.now += 10 * IDLE
    assert sessions.get(streaming.id, ALICE) is streaming
    assert sessions.get(calling.id, BOB) is calling


def test_an_expired_session_is_ended_when_another_is_created_without_being_asked_for() -> None:
    clock = Clock()
    sessions = registry(clock)
    sessions.create(ALICE, 1, "2025-11-25", {})
    clock.now += IDLE
    sessions.create(BOB, 1, "2025-11-25", {})
    assert [s.connection_id for s in sessions] == [BOB]


def test_a_connection_over_its_cap_ends_its_own_least_recently_used_session_never_another_connections() -> (
    None
):
    clock = Clock()
    sessions = registry(clock, max_per_connection=2)
    bobs = sessions.create(BOB, 1, "2025-11-25", {})
    first, second = sessions.create(ALICE, 1, "2025-11-25", {}), sessions.create(ALICE, 1, "2025-11-25", {})
    sessions.get(first.id, ALICE)  # now second is Alice's least recently used
    third = sessions.create(ALICE, 1, "2025-11-25", {})
    assert sessions.get(second.id, ALICE) is None
    assert {s.id for s in sessions} == {bobs.id, first.id, third.id}


def test_at_the_global_cap_a_new_session_is_refused_and_every_live_one_kept() -> None:
    clock = Clock()
    sessions = registry(clock, max_sessions=2, max_per_connection=2)
    live = [sessions.create(ALICE, 1, "2025-11-25", {}), sessions.create(BOB, 1, "2025-11-25", {})]
    with pytest.raises(SessionLimitError, match="maximum of 2 sessions"):
        sessions.create(3, 1, "2025-11-25", {})
    assert [sessions.get(s.id, s.connection_id) for s in live] == live
    clock.now += IDLE  # once they idle out there is room again
    assert sessions.create(3, 1, "2025-11-25", {}).connection_id == 3


def test_a_session_keeps_only_a_bounded_client_info() -> None:
    sessions = registry(Clock())
    info = {
        "name": "n" * 10_000,
        "version": "1.0",
        "title": 7,
        "icons": [{"src": "x" * 10_000}],
        "extra": "y",
    }
    session = sessions.create(ALICE, 1, "2025-11-25", {"clientInfo": info, "capabilities": {"roots": {}}})
    assert session.client_info == {"name": "n" * 256, "version": "1.0"}
    assert session.capabilities == {"roots": {}}


@pytest.mark.parametrize("capabilities", [{"experimental": {"x": "y" * MAX_CAPABILITIES_BYTES}}, ["roots"]])
def test_initialize_with_capabilities_over_their_bound_is_refused_as_invalid_params(
    capabilities: object,
) -> None:
    sessions = registry(Clock())
    with pytest.raises(JsonRpcError) as refused:
        sessions.create(ALICE, 1, "2025-11-25", {"capabilities": capabilities})
    assert refused.value.code == INVALID_PARAMS and "capabilities" in refused.value.message
    assert len(sessions) == 0
