"""Writing one POST's answer: messages before it go on an SSE stream, the answer last."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest

from lockgate.dataplane.responder import Responder


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
