"""The hub's fan-out to long-lived streams: a notification reaches the streams of the identity whose
connection sent it, and a client that stops reading has its stream ended after a bounded backlog,
instead of the gateway queueing for it without end."""

from __future__ import annotations

import asyncio

import pytest

from lockgate.dataplane.backlog import END, STREAM_BACKLOG, new_backlog
from lockgate.dataplane.catalog import Catalog
from lockgate.dataplane.hub import MAX_NOTIFICATION_PARAMS_BYTES, Hub, Listener, served_by
from lockgate.dataplane.sessions import FrontSession, SessionRegistry
from lockgate.dataplane.streams import listen_filter
from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import JsonObject
from lockgate.domain.model import (
    Access,
    Assignment,
    Credential,
    IdentityKind,
    IdentityScheme,
    IdentityStatus,
    Principal,
    Server,
    Transport,
)

pytestmark = pytest.mark.anyio
URI = "file:///watched"
UPDATED = {"method": "notifications/resources/updated", "params": {"uri": URI}}


async def test_a_stream_whose_client_stops_reading_is_ended_once_its_backlog_is_full() -> None:
    sessions = SessionRegistry()
    session = sessions.create(1, 1, "2025-11-25", {})
    session.served, session.stream = frozenset({(7, 0)}), new_backlog()
    session.subscriptions.record("resources/subscribe", URI, {"result": {}})
    hub = Hub(sessions, Catalog())
    listener = Listener(lambda: frozenset({(7, 0)}), frozenset(), frozenset({URI}), 1)
    hub.add(listener)
    for _ in range(STREAM_BACKLOG):
        await hub.on_server_notification(7, 0, UPDATED)
    assert session.stream.qsize() == listener.queue.qsize() == STREAM_BACKLOG
    await hub.on_server_notification(7, 0, UPDATED)
    for queue in (session.stream, listener.queue):
        assert queue.qsize() == 1 and queue.get_nowait() == END


def _session(sessions: SessionRegistry, identity_id: int, *subscribed: str) -> FrontSession:
    session = sessions.create(identity_id, 1, "2025-11-25", {})
    session.served, session.stream = frozenset({(7, identity_id)}), new_backlog()
    for uri in subscribed:
        session.subscriptions.record("resources/subscribe", uri, {"result": {}})
    return session


def _drained(queue: asyncio.Queue[JsonObject]) -> list[JsonObject]:
    return [queue.get_nowait() for _ in range(queue.qsize())]


async def test_resources_updated_reaches_only_the_sessions_of_that_identity_that_subscribed() -> None:
    sessions = SessionRegistry()
    subscribed = _session(sessions, 1, URI)
    not_subscribed = _session(sessions, 1, "file:///other")
    other_identity = _session(sessions, 2, URI)
    hub = Hub(sessions, Catalog())

    await hub.on_server_notification(7, 1, UPDATED)

    assert _drained(subscribed.stream) == [{"jsonrpc": "2.0", **UPDATED}]  # type: ignore[arg-type]
    assert _drained(not_subscribed.stream) == _drained(other_identity.stream) == []  # type: ignore[arg-type]


async def test_a_list_change_reaches_that_identitys_streams_of_both_eras_without_the_upstream_tag() -> None:
    sessions = SessionRegistry()
    legacy, other_identity = _session(sessions, 1), _session(sessions, 2)
    hub = Hub(sessions, Catalog())
    wanted = frozenset({"notifications/tools/list_changed"})
    listener = Listener(lambda: frozenset({(7, 1)}), wanted, frozenset(), 1)
    prompts = frozenset({"notifications/prompts/list_changed"})
    not_asked = Listener(lambda: frozenset({(7, 1)}), prompts, frozenset(), 1)
    for each in (listener, not_asked):
        hub.add(each)
    tagged = {"_meta": {"io.modelcontextprotocol/subscriptionId": 3, "other": 1}}

    await hub.on_server_notification(7, 1, {"method": "notifications/tools/list_changed", "params": tagged})

    expected = {
        "jsonrpc": "2.0",
        "method": "notifications/tools/list_changed",
        "params": {"_meta": {"other": 1}},
    }
    assert _drained(legacy.stream) == _drained(listener.queue) == [expected]  # type: ignore[arg-type]
    assert _drained(other_identity.stream) == _drained(not_asked.queue) == []  # type: ignore[arg-type]


async def test_a_resource_update_whose_uri_is_not_a_string_reaches_no_one_and_breaks_nothing() -> None:
    sessions = SessionRegistry()
    subscribed = _session(sessions, 1, URI)
    hub = Hub(sessions, Catalog())

    await hub.on_server_notification(7, 1, {"method": UPDATED["method"], "params": {"uri": {"x": [1]}}})
    await hub.on_server_notification(7, 1, UPDATED)

    assert _drained(subscribed.stream) == [{"jsonrpc": "2.0", **UPDATED}]  # type: ignore[arg-type]


def test_unannounced_changes_are_told_at_most_once_a_second_per_server_identity_and_kind() -> None:
    sessions, now = SessionRegistry(), [100.0]
    session = _session(sessions, 1)
    hub = Hub(sessions, Catalog(), clock=lambda: now[0])

    for _ in range(50):
        hub.on_catalog_changed(7, 1, FeatureKind.TOOL)
    hub.on_catalog_changed(7, 1, FeatureKind.PROMPT)
    now[0] += 1.0
    hub.on_catalog_changed(7, 1, FeatureKind.TOOL)

    methods = [note["method"] for note in _drained(session.stream)]  # type: ignore[arg-type]
    assert methods == [
        "notifications/tools/list_changed",
        "notifications/prompts/list_changed",
        "notifications/tools/list_changed",
    ]


def test_a_caller_is_served_by_each_ready_identity_of_each_enabled_server_assigned() -> None:
    remote, off = Server(7, "remote", Transport.HTTP), Server(8, "off", Transport.HTTP, enabled=False)
    mine = Credential(5, "mine", IdentityKind.HEADERS, True, IdentityStatus.READY, 1, {})
    assignments = (
        Assignment(1, remote, prefix="mine", scheme=IdentityScheme.PER_USER, credential=mine),
        Assignment(2, remote, prefix="bot"),  # the server's own configuration
        Assignment(3, remote, prefix="none", scheme=IdentityScheme.PER_USER),  # no identity brought
        Assignment(4, off),
    )
    principal = Principal(1, 1, "agent", 1, "g", 1, "a@example.com")
    access = Access(principal, False, None, True, True, True, False, True, None, assignments)

    assert served_by(access) == {(7, 5), (7, 0)}


def test_the_watched_uris_of_a_server_and_identity_are_those_its_listeners_and_sessions_want() -> None:
    sessions = SessionRegistry()
    _session(sessions, 0, URI)
    _session(sessions, 5, "file:///alices")
    hub = Hub(sessions, Catalog())
    hub.add(Listener(lambda: frozenset({(7, 0)}), frozenset(), frozenset({"file:///listened"}), 1))
    hub.add(Listener(lambda: frozenset({(8, 0)}), frozenset(), frozenset({"file:///elsewhere"}), 1))

    assert hub.watched(7, 0) == {URI, "file:///listened"}
    assert hub.watched(7, 5) == {"file:///alices"}
    assert hub.watched(9, 0) == frozenset()


async def test_a_resource_update_with_oversized_params_reaches_its_subscribers_with_only_its_uri() -> None:
    sessions = SessionRegistry()
    subscribed = _session(sessions, 1, URI)
    hub = Hub(sessions, Catalog())
    padded = {"uri": URI, "title": "x" * (MAX_NOTIFICATION_PARAMS_BYTES + 1)}

    await hub.on_server_notification(7, 1, {"method": UPDATED["method"], "params": padded})

    assert _drained(subscribed.stream) == [{"jsonrpc": "2.0", **UPDATED}]  # type: ignore[arg-type]


def test_a_listen_whose_notifications_filter_is_not_an_object_asks_for_nothing() -> None:
    for given in ("tools", ["toolsListChanged"], None):
        assert listen_filter({"notifications": given}) == (frozenset(), frozenset(), {})
