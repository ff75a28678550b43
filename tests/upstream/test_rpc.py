"""RpcPeer: the client side of a JSON-RPC conversation, over an in-memory wire."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import anyio
import pytest

from lockgate.domain.mcp import Client, JsonObject
from lockgate.upstream.base import UpstreamUnavailableError
from lockgate.upstream.rpc import METHOD_NOT_FOUND, RpcPeer

DEADLINE = 5.0


class Wire:
    """The upstream side: keeps every message the peer sends and lets a test wait for one."""

    def __init__(self) -> None:
        self.sent: list[JsonObject] = []
        self._changed = asyncio.Event()
        self.unrelated: list[JsonObject] = []

    async def send(self, message: JsonObject, client: Client | None = None) -> None:
        self.sent.append(message)
        self._changed.set()

    async def on_unrelated(self, message: JsonObject) -> None:
        self.unrelated.append(message)

    async def next(self, predicate: Callable[[JsonObject], bool]) -> JsonObject:
        while True:
            for message in self.sent:
                if predicate(message):
                    return message
            self._changed.clear()
            await self._changed.wait()

    async def request(self, method: str) -> JsonObject:
        return await self.next(lambda m: m.get("method") == method and "id" in m)

    async def answer_to(self, request_id: Any) -> JsonObject:
        return await self.next(lambda m: m.get("id") == request_id and "method" not in m)


class FrontClient:
    """A front client: records what is relayed to it and answers server requests."""

    def __init__(self, answer: JsonObject | None = None) -> None:
        self.requests: list[tuple[str, JsonObject | None]] = []
        self.notifications: list[JsonObject] = []
        self.notified = asyncio.Event()
        self._answer = answer if answer is not None else {"result": {"ok": True}}
        self.client = Client(on_request=self.on_request, on_notification=self.on_notification)

    async def on_request(self, method: str, params: JsonObject | None) -> JsonObject:
        self.requests.append((method, params))
        return self._answer

    async def on_notification(self, message: JsonObject) -> None:
        self.notifications.append(message)
        self.notified.set()


def _start(peer: RpcPeer, method: str, params: JsonObject | None, client: Client) -> asyncio.Task[JsonObject]:
    return asyncio.create_task(peer.request(method, params, client))


async def _cancel(*calls: asyncio.Task[JsonObject]) -> None:
    for call in calls:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)


@pytest.mark.anyio
async def test_the_gateway_mints_its_own_ids_and_each_response_resolves_its_call() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)

    with anyio.fail_after(DEADLINE):
        first = _start(peer, "tools/call", {"name": "a"}, Client())
        second = _start(peer, "tools/call", {"name": "b"}, Client())
        sent_a = await wire.next(lambda m: m.get("params", {}).get("name") == "a")
        sent_b = await wire.next(lambda m: m.get("params", {}).get("name") == "b")
        assert sent_a["id"] != sent_b["id"]
        assert sent_a["jsonrpc"] == "2.0"
        assert peer.in_flight == 2

        await peer.receive({"jsonrpc": "2.0", "id": sent_b["id"], "result": {"value": "B"}})
        await peer.receive({"jsonrpc": "2.0", "id": sent_a["id"], "error": {"code": -1, "message": "A"}})

        assert await second == {"result": {"value": "B"}}
        assert await first == {"error": {"code": -1, "message": "A"}}
    assert peer.in_flight == 0


@pytest.mark.anyio
async def test_a_response_to_no_pending_call_is_dropped() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)

    await peer.receive({"jsonrpc": "2.0", "id": 99, "result": {}})

    assert wire.sent == []
    assert wire.unrelated == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": [1], "result": {}},
        {"jsonrpc": "2.0", "method": ["notifications/tools/list_changed"]},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": [1]},
        {"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"},
    ],
    ids=["a list id", "a list method", "list params", "an object id"],
)
async def test_a_message_not_shaped_as_json_rpc_is_dropped_and_the_call_still_gets_its_answer(
    message: JsonObject,
) -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)

    with anyio.fail_after(DEADLINE):
        call = _start(peer, "tools/list", None, Client())
        sent = await wire.request("tools/list")
        await peer.receive(message)
        await peer.receive({"jsonrpc": "2.0", "id": sent["id"], "result": {"tools": []}})
        assert await call == {"result": {"tools": []}}
    assert wire.unrelated == [] and [m for m in wire.sent if "method" not in m] == []


@pytest.mark.anyio
async def test_a_response_with_neither_result_nor_error_becomes_an_internal_error() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)

    with anyio.fail_after(DEADLINE):
        call = _start(peer, "tools/list", None, Client())
        sent = await wire.request("tools/list")
        await peer.receive({"jsonrpc": "2.0", "id": sent["id"]})

        assert (await call)["error"]["code"] == -32603


@pytest.mark.anyio
async def test_progress_tokens_are_rewritten_upstream_and_restored_for_the_client() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)
    front = FrontClient()
    params = {"name": "slow", "_meta": {"progressToken": "front-7", "other": 1}}

    with anyio.fail_after(DEADLINE):
        call = _start(peer, "tools/call", params, front.client)
        sent = await wire.request("tools/call")
        upstream_token = sent["params"]["_meta"]["progressToken"]
        assert upstream_token == sent["id"]
        assert sent["params"]["_meta"]["other"] == 1
        assert params["_meta"]["progressToken"] == "front-7"  # the caller's params are not changed

        progress = {"progressToken": upstream_token, "progress": 1, "total": 2, "message": "half"}
        await peer.receive({"jsonrpc": "2.0", "method": "notifications/progress", "params": progress})
        await front.notified.wait()
        await peer.receive({"jsonrpc": "2.0", "id": sent["id"], "result": {}})
        await call

    assert front.notifications == [
        {
            "method": "notifications/progress",
            "params": {"progressToken": "front-7", "progress": 1, "total": 2, "message": "half"},
        }
    ]


@pytest.mark.anyio
async def test_progress_for_a_token_of_no_call_reaches_no_client() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)
    front = FrontClient()

    with anyio.fail_after(DEADLINE):
        call = _start(peer, "tools/call", {"name": "x", "_meta": {"progressToken": "t"}}, front.client)
        sent = await wire.request("tools/call")
        await peer.receive(
            {"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progressToken": "t"}}
        )
        await peer.receive({"jsonrpc": "2.0", "id": sent["id"], "result": {}})
        await call

    assert front.notifications == []
    assert wire.unrelated == []


@pytest.mark.anyio
async def test_a_server_request_during_the_only_call_is_relayed_and_answered_under_its_id() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)
    front = FrontClient(answer={"result": {"role": "assistant", "content": {"type": "text", "text": "hi"}}})
    ask = {"messages": [], "maxTokens": 10}

    with anyio.fail_after(DEADLINE):
        call = _start(peer, "tools/call", {"name": "x"}, front.client)
        await wire.request("tools/call")
        await peer.receive(
            {"jsonrpc": "2.0", "id": "srv-1", "method": "sampling/createMessage", "params": ask}
        )
        answer = await wire.answer_to("srv-1")
        await _cancel(call)

    assert front.requests == [("sampling/createMessage", ask)]
    assert answer == {
        "jsonrpc": "2.0",
        "id": "srv-1",
        "result": {"role": "assistant", "content": {"type": "text", "text": "hi"}},
    }


@pytest.mark.anyio
async def test_a_server_request_is_relayed_to_the_related_call_among_several() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)
    ada, bob = FrontClient(), FrontClient()

    with anyio.fail_after(DEADLINE):
        calls = [_start(peer, "tools/call", {"name": "a"}, ada.client)]
        calls.append(_start(peer, "tools/call", {"name": "b"}, bob.client))
        sent_b = await wire.next(lambda m: m.get("params", {}).get("name") == "b")
        await wire.next(lambda m: m.get("params", {}).get("name") == "a")
        await peer.receive(
            {"jsonrpc": "2.0", "id": 5, "method": "elicitation/create", "params": {}}, related=sent_b["id"]
        )
        answer = await wire.answer_to(5)
        await _cancel(*calls)

    assert answer == {"jsonrpc": "2.0", "id": 5, "result": {"ok": True}}
    assert [m for m, _ in bob.requests] == ["elicitation/create"]
    assert ada.requests == []


@pytest.mark.anyio
async def test_a_server_request_that_cannot_be_related_is_answered_method_not_found() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)
    ada, bob = FrontClient(), FrontClient()

    with anyio.fail_after(DEADLINE):
        calls = [_start(peer, "tools/call", {"name": "a"}, ada.client)]
        calls.append(_start(peer, "tools/call", {"name": "b"}, bob.client))
        await wire.next(lambda m: m.get("params", {}).get("name") == "b")
        await peer.receive({"jsonrpc": "2.0", "id": 6, "method": "roots/list"})
        answer = await wire.answer_to(6)
        await _cancel(*calls)

    assert answer["error"]["code"] == METHOD_NOT_FOUND
    assert ada.requests == bob.requests == []


@pytest.mark.anyio
async def test_a_server_request_with_no_call_in_flight_is_answered_method_not_found() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)

    with anyio.fail_after(DEADLINE):
        await peer.receive({"jsonrpc": "2.0", "id": 7, "method": "roots/list"})
        answer = await wire.answer_to(7)

    assert answer["error"]["code"] == METHOD_NOT_FOUND


@pytest.mark.anyio
async def test_a_server_ping_is_answered_with_an_empty_result() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)

    with anyio.fail_after(DEADLINE):
        await peer.receive({"jsonrpc": "2.0", "id": "p1", "method": "ping"})
        answer = await wire.answer_to("p1")

    assert answer == {"jsonrpc": "2.0", "id": "p1", "result": {}}


@pytest.mark.anyio
async def test_a_server_request_the_client_fails_to_answer_gets_an_internal_error() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)

    async def broken(method: str, params: JsonObject | None) -> JsonObject:
        raise ConnectionError("client went away")

    with anyio.fail_after(DEADLINE):
        call = _start(peer, "tools/call", {"name": "x"}, Client(on_request=broken))
        await wire.request("tools/call")
        await peer.receive({"jsonrpc": "2.0", "id": 8, "method": "roots/list"})
        answer = await wire.answer_to(8)
        await _cancel(call)

    assert answer["error"]["code"] == -32603


@pytest.mark.anyio
async def test_a_server_cancelling_its_request_stops_the_relay_without_an_answer() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)
    asked, relay_cancelled = asyncio.Event(), asyncio.Event()

    async def never_answers(method: str, params: JsonObject | None) -> JsonObject:
        asked.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            relay_cancelled.set()
            raise
        raise AssertionError("unreachable")

    with anyio.fail_after(DEADLINE):
        call = _start(peer, "tools/call", {"name": "x"}, Client(on_request=never_answers))
        await wire.request("tools/call")
        await peer.receive({"jsonrpc": "2.0", "id": 9, "method": "sampling/createMessage"})
        await asked.wait()
        await peer.receive(
            {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}}
        )
        await relay_cancelled.wait()
        await _cancel(call)

    assert [m for m in wire.sent if m.get("id") == 9] == []


@pytest.mark.anyio
async def test_cancelling_the_awaiting_task_cancels_the_call_upstream() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)

    with anyio.fail_after(DEADLINE):
        call = _start(peer, "tools/call", {"name": "slow"}, Client())
        sent = await wire.request("tools/call")
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        note = await wire.next(lambda m: m.get("method") == "notifications/cancelled")

    assert note["params"]["requestId"] == sent["id"]
    assert "id" not in note
    assert peer.in_flight == 0


@pytest.mark.anyio
async def test_cancelling_initialize_sends_no_cancellation() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)

    with anyio.fail_after(DEADLINE):
        call = _start(peer, "initialize", {}, Client())
        await wire.request("initialize")
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    assert [m["method"] for m in wire.sent] == ["initialize"]


@pytest.mark.anyio
async def test_a_peer_that_cancels_by_closing_the_stream_sends_no_cancellation() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated, send_cancellations=False)

    with anyio.fail_after(DEADLINE):
        call = _start(peer, "tools/call", {"name": "slow"}, Client())
        await wire.request("tools/call")
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    assert [m["method"] for m in wire.sent] == ["tools/call"]


@pytest.mark.anyio
async def test_fail_all_fails_every_waiting_call() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)

    with anyio.fail_after(DEADLINE):
        calls = [_start(peer, "tools/call", {"name": n}, Client()) for n in ("a", "b")]
        await wire.next(lambda m: m.get("params", {}).get("name") == "b")
        await wire.next(lambda m: m.get("params", {}).get("name") == "a")

        peer.fail_all(UpstreamUnavailableError("server exited"))

        for call in calls:
            with pytest.raises(UpstreamUnavailableError, match="server exited"):
                await call
    assert peer.in_flight == 0


@pytest.mark.anyio
async def test_a_log_message_during_the_only_call_reaches_its_client() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)
    front = FrontClient()
    log = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "hi"}}

    with anyio.fail_after(DEADLINE):
        call = _start(peer, "tools/call", {"name": "x"}, front.client)
        await wire.request("tools/call")
        await peer.receive(log)
        await front.notified.wait()
        await _cancel(call)

    assert front.notifications == [log]
    assert wire.unrelated == []


@pytest.mark.anyio
async def test_a_notification_unrelated_to_any_call_goes_to_on_unrelated() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)
    changed = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}

    await peer.receive(changed)

    assert wire.unrelated == [changed]


@pytest.mark.anyio
async def test_a_listen_the_server_tears_down_fails_so_it_can_be_sent_again() -> None:
    wire = Wire()
    peer = RpcPeer(wire.send, wire.on_unrelated)

    with anyio.fail_after(DEADLINE):
        listen = _start(peer, "subscriptions/listen", {"notifications": {"toolsListChanged": True}}, Client())
        sent = await wire.request("subscriptions/listen")
        call = _start(peer, "tools/call", {"name": "x"}, Client())
        called = await wire.request("tools/call")
        for request_id in (called["id"], sent["id"]):
            cancelled = {"requestId": request_id, "reason": "server shutting down"}
            await peer.receive({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": cancelled})
        with pytest.raises(UpstreamUnavailableError, match="ended the subscription"):
            await listen

    assert peer.in_flight == 1 and not call.done()  # a server cannot end our calls this way
    await _cancel(call)
