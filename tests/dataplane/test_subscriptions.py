"""Legacy resource subscriptions: a session holds what the server accepted, within its bounds."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from lockgate.audit.recorder import AuditRecorder
from lockgate.dataplane.errors import INVALID_PARAMS, JsonRpcError, Refusal
from lockgate.dataplane.exchange import Exchange
from lockgate.dataplane.subscriptions import MAX_URI_CHARS, Subscriptions, forward_subscription
from lockgate.domain.audit import AuditEntry
from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.domain.model import Access, Principal

pytestmark = pytest.mark.anyio
URI = "file:///watched"
PRINCIPAL = Principal(1, 1, "agent", 1, "g", 1, "a@example.com")
ACCESS = Access(PRINCIPAL, False, None, True, True, True, False, True, None, ())


class Server:
    """Answers every forwarded request with ``answer``; counts them."""

    def __init__(self, answer: JsonObject) -> None:
        self.answer = answer
        self.forwarded = 0

    async def __call__(self, _ex: Exchange) -> JsonObject:
        self.forwarded += 1
        return self.answer


def nowhere(_uri: str) -> bool:
    return False


def _exchange(method: str, uri: str, saved: list[AuditEntry]) -> Exchange:
    def save(entries: Sequence[AuditEntry]) -> None:
        saved.extend(entries)

    recorder = AuditRecorder(save)
    return Exchange("c", ACCESS, Era.LEGACY, method, {"uri": uri}, Client(), recorder)


async def _forward(
    subscriptions: Subscriptions,
    method: str,
    uri: str,
    server: Server,
    saved: list[AuditEntry] | None = None,
    held_elsewhere: Callable[[str], bool] = nowhere,
) -> JsonObject:
    ex = _exchange(method, uri, [] if saved is None else saved)
    return await forward_subscription(subscriptions, ex, server, held_elsewhere)


async def test_a_subscription_is_held_from_the_servers_yes_to_subscribe_to_its_yes_to_unsubscribe() -> None:
    subscriptions = Subscriptions()
    accepted, refused = Server({"result": {}}), Server({"error": {"code": -32603, "message": "no"}})
    await _forward(subscriptions, "resources/subscribe", URI, accepted)
    assert URI in subscriptions
    await _forward(subscriptions, "resources/unsubscribe", URI, refused)
    assert URI in subscriptions
    await _forward(subscriptions, "resources/unsubscribe", URI, accepted)
    assert URI not in subscriptions


async def test_a_subscription_the_server_refused_is_not_held() -> None:
    subscriptions = Subscriptions()
    refused = Server({"error": {"code": -32002, "message": "Resource not found"}})
    response = await _forward(subscriptions, "resources/subscribe", URI, refused)
    assert response == refused.answer and len(subscriptions) == 0


@pytest.mark.parametrize("uri", ["file:///one-too-many", "file:///" + "x" * MAX_URI_CHARS])
async def test_a_subscribe_past_the_bounds_is_refused_without_asking_the_server(uri: str) -> None:
    subscriptions, saved = Subscriptions(limit=2), []
    server = Server({"result": {}})
    for held in ("file:///a", "file:///b"):
        await _forward(subscriptions, "resources/subscribe", held, server)
    ex = _exchange("resources/subscribe", uri, saved)
    with pytest.raises(JsonRpcError) as refused:
        await forward_subscription(subscriptions, ex, server, nowhere)
    await ex.recorder.flush()
    assert refused.value.code == INVALID_PARAMS and refused.value.data["reason"] == "subscription_limit"
    assert server.forwarded == 2 and len(subscriptions) == 2
    assert isinstance(refused.value, Refusal) and saved == []  # the pipeline records the refusal's leg
    # a subscription already held is never refused
    await _forward(subscriptions, "resources/subscribe", "file:///a", server)
    assert server.forwarded == 3


async def test_an_unsubscribe_another_session_still_needs_is_answered_without_asking_the_server() -> None:
    subscriptions, server = Subscriptions(), Server({"result": {}})
    await _forward(subscriptions, "resources/subscribe", URI, server)

    response = await _forward(
        subscriptions, "resources/unsubscribe", URI, server, held_elsewhere={URI}.__contains__
    )

    assert response == {"result": {}} and URI not in subscriptions
    assert server.forwarded == 1  # the subscribe only
