"""The hub's fan-out to long-lived streams: a client that stops reading has its stream ended after a
bounded backlog, instead of the gateway queueing for it without end."""

from __future__ import annotations

import pytest

from lockgate.dataplane.backlog import END, STREAM_BACKLOG, new_backlog
from lockgate.dataplane.catalog import Catalog
from lockgate.dataplane.hub import Hub, Listener
from lockgate.dataplane.sessions import SessionRegistry

pytestmark = pytest.mark.anyio
URI = "file:///watched"
UPDATED = {"method": "notifications/resources/updated", "params": {"uri": URI}}


async def test_a_stream_whose_client_stops_reading_is_ended_once_its_backlog_is_full() -> None:
    sessions = SessionRegistry()
    session = sessions.create(1, 1, "2025-11-25", {})
    session.server_ids, session.subscriptions, session.stream = frozenset({7}), {URI}, new_backlog()
    hub = Hub(sessions, Catalog())
    listener = Listener(lambda: frozenset({7}), frozenset(), frozenset({URI}))
    hub.add(listener)
    for _ in range(STREAM_BACKLOG):
        await hub.on_server_notification(7, UPDATED)
    assert session.stream.qsize() == listener.queue.qsize() == STREAM_BACKLOG
    await hub.on_server_notification(7, UPDATED)
    for queue in (session.stream, listener.queue):
        assert queue.qsize() == 1 and queue.get_nowait() == END
