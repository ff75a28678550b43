"""The pipeline every message to or from a server runs: its steps in order around the send, a refusing
step that stops the message, and the legs written once, by the pipeline, never by a step."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.audit.recorder import AuditRecorder, Leg
from lockgate.dataplane.errors import IDENTITY_REQUIRED, REFUSED, UPSTREAM_UNAVAILABLE, JsonRpcError, Refusal
from lockgate.dataplane.exchange import Exchange
from lockgate.dataplane.pipeline import Message, Noted, Pipeline, SendError
from lockgate.dataplane.steps import ResolveAccess
from lockgate.domain.audit import AuditEntry
from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.domain.model import Access, Assignment, IdentityScheme, Principal, Server, Transport

pytestmark = pytest.mark.anyio
OK: JsonObject = {"result": {"content": []}}


class Trace:
    """Steps that note their name (and refuse when told to), and a send that notes itself."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def step(self, name: str, *, refuse: bool = False) -> Any:
        async def step(ex: Exchange, message: Message) -> None:
            self.seen.append(f"{name}:{message.method}:{'server' if message.to_server else 'client'}")
            if refuse:
                raise Refusal(REFUSED, f"{name} says no", f"{name}_refused", server="s1")

        return step

    async def send(self, ex: Exchange, message: Message) -> JsonObject:
        self.seen.append("send")
        return OK


def _assignment(*, enabled: bool = True, scheme: IdentityScheme = IdentityScheme.NONE) -> Assignment:
    return Assignment(1, Server(1, "s1", Transport.HTTP, enabled=enabled), scheme=scheme)


def _exchange(saved: list[AuditEntry], client: Client | None = None) -> Exchange:
    principal = Principal(1, 1, "agent", 1, "g", 1, "ada@example.com", host_link_id="link")
    access = Access(principal, False, None, True, True, True, False, True, None, (_assignment(),))
    recorder = AuditRecorder(saved.extend)
    return Exchange("c", access, Era.LEGACY, "tools/call", {}, client or Client(), recorder)


async def _legs(ex: Exchange, saved: list[AuditEntry]) -> list[str]:
    await ex.recorder.flush()
    return [entry.type for entry in saved]


async def test_request_steps_run_in_order_before_the_send_and_response_steps_after() -> None:
    trace, saved = Trace(), []
    pipeline = Pipeline([trace.step("first"), trace.step("second")], [trace.step("after")])
    ex = _exchange(saved)

    response = await pipeline.carry(ex, Message("tools/call", {}, _assignment()), trace.send)

    assert response == OK
    assert trace.seen == [
        "first:tools/call:server",
        "second:tools/call:server",
        "send",
        "after:tools/call:server",
    ]
    assert await _legs(ex, saved) == ["mcp_request_success", "mcp_response_success"]


async def test_a_refusing_step_stops_the_message_and_the_pipeline_records_gateway_refused_once() -> None:
    trace, saved = Trace(), []
    pipeline = Pipeline([trace.step("first", refuse=True), trace.step("second")])
    ex = _exchange(saved)

    with pytest.raises(Refusal) as refused:
        await pipeline.answer(
            ex, lambda ex: pipeline.carry(ex, Message("tools/call", {}, _assignment()), trace.send)
        )

    assert trace.seen == ["first:tools/call:server"]
    assert refused.value.to_error()["data"] == {"reason": "first_refused", "server": "s1"}
    assert await _legs(ex, saved) == ["gateway_refused"]
    assert saved[0].server == "s1" and saved[0].error == "first_refused: first says no"


@pytest.mark.parametrize(
    ("sent", "legs"),
    [(False, ["mcp_request_error"]), (True, ["mcp_request_success", "mcp_response_error"])],
)
async def test_a_failed_send_records_its_legs_and_answers_its_error(sent: bool, legs: list[str]) -> None:
    saved: list[AuditEntry] = []
    ex = _exchange(saved)

    async def down(ex: Exchange, message: Message) -> JsonObject:
        error = JsonRpcError(UPSTREAM_UNAVAILABLE, "server 's1' is down", {"server": "s1"})
        raise SendError(error, "down", sent=sent)

    with pytest.raises(JsonRpcError, match="is down") as failed:
        await Pipeline([]).carry(ex, Message("tools/call", {}, _assignment()), down)

    assert failed.value.code == UPSTREAM_UNAVAILABLE
    assert await _legs(ex, saved) == legs


async def test_the_access_step_refuses_a_disabled_server_and_a_missing_identity_names_where_to_connect() -> (
    None
):
    step, saved = ResolveAccess("https://gw.example"), []
    ex = _exchange(saved)

    with pytest.raises(Refusal) as disabled:
        await step(ex, Message("tools/call", {}, _assignment(enabled=False)))
    with pytest.raises(Refusal) as missing:
        await step(ex, Message("tools/call", {}, _assignment(scheme=IdentityScheme.PER_USER)))

    assert (disabled.value.code, disabled.value.reason) == (REFUSED, "server_disabled")
    assert (missing.value.code, missing.value.reason) == (IDENTITY_REQUIRED, "identity_required")
    assert missing.value.data["connect_url"] == "https://gw.example/connect/link?gateway=g"


async def test_a_relayed_request_runs_the_steps_toward_the_client_and_a_refusal_answers_the_server() -> None:
    trace, saved = Trace(), []
    asked: list[str] = []

    async def ask(method: str, params: JsonObject | None) -> JsonObject:
        asked.append(method)
        return {"result": {}}

    pipeline = Pipeline([trace.step("rule", refuse=True)])
    ex = _exchange(saved, Client(on_request=ask))
    client = pipeline.relaying(ex, Message("tools/call", {}, _assignment()), ex.client)
    assert client.on_request is not None

    answer = await client.on_request("sampling/createMessage", {"messages": []})

    assert trace.seen == ["rule:sampling/createMessage:client"]
    assert asked == []
    assert answer["error"]["data"]["reason"] == "rule_refused"
    assert await _legs(ex, saved) == ["gateway_refused"]


async def test_a_relayed_notification_passes_the_steps_and_reaches_the_client() -> None:
    trace, saved = Trace(), []
    emitted: list[JsonObject] = []

    async def emit(notification: JsonObject) -> None:
        emitted.append(notification)

    pipeline = Pipeline([trace.step("rule")])
    ex = _exchange(saved, Client(on_notification=emit))
    client = pipeline.relaying(ex, Message("tools/call", {}, _assignment()), ex.client)
    assert client.on_notification is not None
    progress = {"method": "notifications/progress", "params": {"progress": 1}}

    await client.on_notification(progress)

    assert trace.seen == ["rule:notifications/progress:client"]
    assert emitted == [progress]


async def test_the_response_leg_is_recorded_after_the_response_steps_with_what_they_left() -> None:
    saved: list[AuditEntry] = []

    async def rewrite(ex: Exchange, message: Message) -> None:
        message.response = {"result": {"content": [], "rewritten": True}}
        message.noted["response"] = Noted([{"id": 1, "rule": "r", "action": "mask", "matches": 1}])

    pipeline = Pipeline([], [rewrite])
    ex = _exchange(saved)

    await pipeline.carry(ex, Message("tools/call", {}, _assignment()), Trace().send)

    await ex.recorder.flush()
    response_leg = saved[-1]
    assert response_leg.type == "mcp_response_success"
    assert response_leg.body == '{"result":{"content":[],"rewritten":true}}'
    assert response_leg.rules == '[{"id":1,"rule":"r","action":"mask","matches":1}]'


async def test_a_response_step_that_fails_leaves_a_note_in_place_of_the_response() -> None:
    saved: list[AuditEntry] = []

    async def broken(ex: Exchange, message: Message) -> None:
        raise RuntimeError("a bug")

    pipeline = Pipeline([], [broken])
    ex = _exchange(saved)

    with pytest.raises(RuntimeError):
        await pipeline.carry(ex, Message("tools/call", {}, _assignment()), Trace().send)

    assert await _legs(ex, saved) == ["mcp_request_success", "mcp_response_success"]
    assert saved[-1].body == '{"degraded": "withheld: the response steps failed"}'


async def test_the_held_arrival_leg_is_recorded_first_and_once_with_the_body_a_step_left() -> None:
    saved: list[AuditEntry] = []
    ex = _exchange(saved)
    ex.arrival = Leg("c", "proxy_request_success", body=b'{"raw": true}')

    async def rewrite(ex: Exchange, message: Message) -> None:
        assert ex.arrival is not None
        ex.arrival.body = {"rewritten": True}

    await Pipeline([rewrite]).carry(ex, Message("tools/call", {}, _assignment()), Trace().send)
    ex.release_arrival()

    assert await _legs(ex, saved) == ["proxy_request_success", "mcp_request_success", "mcp_response_success"]
    assert saved[0].body == '{"rewritten":true}'
