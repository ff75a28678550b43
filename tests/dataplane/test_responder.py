"""Writing one POST's answer: messages before it go on an SSE stream, the answer last; a legacy
stream opens with a priming event that tells the client when to reconnect."""

from __future__ import annotations

from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest

from lockgate.dataplane.responder import RETRY_MS, Responder
from lockgate.upstream.sse_events import iter_events


@pytest.mark.anyio
async def test_a_message_too_deep_to_serialize_is_not_relayed_and_the_stream_goes_on() -> None:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    responder = Responder(send, prime=False)
    deep: dict[str, Any] = {}
    for _ in range(300):
        deep = {"a": deep}

    await responder.emit({"method": "notifications/progress", "params": deep})
    assert sent == []

    await responder.emit({"method": "notifications/progress", "params": {"progress": 1}})
    body = await responder.finish({"jsonrpc": "2.0", "id": 1, "result": {}})

    events = [m["body"] for m in sent if m["type"] == "http.response.body" and m["body"]]
    assert b'"progress":1' in events[0]
    assert body in events[1]


@pytest.mark.anyio
@pytest.mark.parametrize("prime", [True, False])
async def test_a_legacy_stream_is_primed_with_an_id_a_retry_and_empty_data_and_a_modern_one_is_not(
    prime: bool,
) -> None:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    responder = Responder(send, prime=prime)
    await responder.emit({"method": "notifications/progress", "params": {"progress": 1}})
    await responder.finish({"jsonrpc": "2.0", "id": 1, "result": {}})

    async def chunks() -> AsyncIterator[bytes]:
        for message in sent:
            if message["type"] == "http.response.body":
                yield message["body"]

    events = [event async for event in iter_events(chunks())]
    assert [e.data for e in events] == [
        *([""] if prime else []),
        '{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}',
        '{"jsonrpc":"2.0","id":1,"result":{}}',
    ]
    assert [e.retry for e in events] == [*([RETRY_MS] if prime else []), None, None]
    assert all(e.id for e in events)
