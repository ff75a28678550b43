"""A notification several connections of one identity deliver is heard once; one connection's own
repeats are all heard; what is remembered is bounded in time and count."""

from __future__ import annotations

from lockgate.upstream.duplicates import WINDOW, Duplicates

CHANGED = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
UPDATED = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "file:///a"}}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_same_notification_from_another_connection_of_that_identity_within_the_window_is_a_repeat() -> (
    None
):
    duplicates, first, second = Duplicates(clock=Clock()), object(), object()

    heard = [not duplicates.is_repeat(c, 1, 0, CHANGED) for c in (first, second, second, first)]

    assert heard == [True, False, False, True]  # the first connection to tell stays the one heard


def test_a_connection_that_says_the_same_thing_twice_is_heard_twice() -> None:
    duplicates, connection = Duplicates(clock=Clock()), object()

    assert not duplicates.is_repeat(connection, 1, 0, CHANGED)
    assert not duplicates.is_repeat(connection, 1, 0, CHANGED)


def test_another_identity_server_or_message_is_never_a_repeat() -> None:
    duplicates, first, second = Duplicates(clock=Clock()), object(), object()
    duplicates.is_repeat(first, 1, 0, CHANGED)

    assert not duplicates.is_repeat(second, 1, 5, CHANGED)
    assert not duplicates.is_repeat(second, 2, 0, CHANGED)
    assert not duplicates.is_repeat(second, 1, 0, UPDATED)
    assert not duplicates.is_repeat(second, 1, 0, {**UPDATED, "params": {"uri": "file:///b"}})


def test_past_the_window_another_connections_notification_is_heard_again() -> None:
    clock = Clock()
    duplicates, first, second = Duplicates(clock=clock), object(), object()
    duplicates.is_repeat(first, 1, 0, CHANGED)
    duplicates.is_repeat(first, 1, 0, UPDATED)
    clock.now += WINDOW / 2
    assert duplicates.is_repeat(second, 1, 0, UPDATED)

    clock.now += WINDOW

    assert not duplicates.is_repeat(second, 1, 0, CHANGED)
    assert not duplicates.is_repeat(second, 1, 0, UPDATED)


def test_at_most_the_limit_is_remembered_and_the_oldest_is_forgotten_first() -> None:
    duplicates, first, second = Duplicates(limit=2, clock=Clock()), object(), object()
    for uri in ("file:///1", "file:///2", "file:///3"):
        duplicates.is_repeat(first, 1, 0, {**UPDATED, "params": {"uri": uri}})

    assert not duplicates.is_repeat(second, 1, 0, {**UPDATED, "params": {"uri": "file:///1"}})
    assert duplicates.is_repeat(second, 1, 0, {**UPDATED, "params": {"uri": "file:///3"}})


def test_a_notification_nested_too_deep_to_compare_is_never_a_repeat() -> None:
    duplicates, connection = Duplicates(clock=Clock()), object()
    deep: dict[str, object] = {}
    for _ in range(300):
        deep = {"x": deep}

    assert not duplicates.is_repeat(connection, 1, 0, {"method": "m", "params": deep})


def test_the_same_news_tagged_by_the_listen_it_came_on_is_still_a_repeat() -> None:
    duplicates, listening, legacy = Duplicates(clock=Clock()), object(), object()
    tagged = {**CHANGED, "params": {"_meta": {"io.modelcontextprotocol/subscriptionId": 7}}}

    assert not duplicates.is_repeat(listening, 1, 0, tagged)
    assert duplicates.is_repeat(legacy, 1, 0, CHANGED)
