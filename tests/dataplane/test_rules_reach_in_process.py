"""Where gateway rules look beyond a call's arguments and its result, in process, both eras where the
path exists in both: error responses, what a server sends the client during a call (log messages,
progress, relayed sampling and elicitation, MRTR input requests), resource links, a prompt's
description and arguments, and an MRTR retry's input responses. A planted SSN never reaches the
client (or the server) nor any stored leg on each path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.domain.rules import ActionKind, Hook
from lockgate.settings import Settings
from lockgate.store.schema import audit_entries
from lockgate.upstream.memory import JsonRpcFault, MemoryServer
from tests.dataplane.in_process import ECHO, FrontClient, MemoryGateway, memory_gateway
from tests.dataplane.rules_kit import SSN, add_rule, stored_text

pytestmark = pytest.mark.anyio
ERAS = [Era.LEGACY, Era.MODERN]
BLOCKED = -32017
TOOL = {"name": "work", "description": "Works", "inputSchema": {"type": "object"}}
ELICIT = {"method": "elicitation/create", "params": {"message": f"confirm ssn {SSN}?", "requestedSchema": {}}}


@dataclass
class Streamed:
    """Every message a request's answer carried (notifications and relayed requests first), and legs."""

    messages: list[JsonObject]
    legs: list[JsonObject]

    @property
    def answer(self) -> JsonObject:
        return self.messages[-1]

    @property
    def types(self) -> list[str]:
        return [leg["type"] for leg in self.legs]


async def _streamed(gateway: MemoryGateway, client: FrontClient, method: str, params: JsonObject) -> Streamed:
    response = await client.post(client.body(method, params))
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [e.removeprefix("data:").strip() for e in response.text.split("\n") if e.startswith("data:")]
        messages = [orjson.loads(d) for d in data if d]  # not the priming event
    else:
        messages = [response.json()]
    return Streamed(messages, await gateway.legs(response.headers["x-correlation-id"]))


async def _client(gateway: MemoryGateway, era: Era, capabilities: JsonObject | None = None) -> FrontClient:
    if era is Era.LEGACY:
        return await gateway.legacy_client(capabilities)
    return gateway.modern_client(capabilities)


def _server(era: Era, work: Any) -> MemoryServer:
    return MemoryServer(era=era, tools=[ECHO, TOOL], calls={"work": work})


def _shown(value: Any) -> str:
    return orjson.dumps(value).decode()


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("action", [ActionKind.BLOCK, ActionKind.REPLACE])
async def test_an_error_response_is_inspected_like_a_result(
    settings: Settings, engine: Engine, era: Era, action: ActionKind
) -> None:
    async def refuse(_arguments: JsonObject, _client: Client) -> JsonObject:
        raise JsonRpcFault(-32602, f"no customer with ssn {SSN}", {"ssn": SSN, "tries": 1})

    alpha = _server(era, refuse)
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        rule_id = add_rule(engine, "ssn out", action, hook=Hook.RESPONSE)
        client = await _client(gateway, era)
        outcome = await _streamed(gateway, client, "tools/call", {"name": "work", "arguments": {}})

    error = outcome.answer["error"]
    if action is ActionKind.BLOCK:
        assert error["code"] == BLOCKED and error["data"]["ruleId"] == rule_id
        assert "policy_enforced_abort" in outcome.types
    else:
        assert error == {
            "code": -32602,
            "message": "no customer with ssn <US_SSN>",
            "data": {"ssn": "<US_SSN>", "tries": 1},
        }
        response_leg = next(leg for leg in outcome.legs if leg["type"].startswith("mcp_response"))
        assert orjson.loads(response_leg["rules"])[0]["action"] == "replace"
    assert SSN not in _shown(outcome.messages)
    assert SSN not in stored_text(engine)


def _notifying(method: str) -> Any:
    async def work(_arguments: JsonObject, client: Client) -> JsonObject:
        assert client.on_notification is not None
        if method == "notifications/message":
            params: JsonObject = {"level": "info", "data": {"looked up": f"ssn {SSN}"}}
        else:
            params = {"progressToken": "p", "progress": 1, "message": f"found {SSN}"}
        await client.on_notification({"method": method, "params": params})
        return {"content": [{"type": "text", "text": "done"}]}

    return work


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("method", ["notifications/message", "notifications/progress"])
@pytest.mark.parametrize("action", [ActionKind.BLOCK, ActionKind.REPLACE])
async def test_a_notification_during_a_call_is_inspected_by_the_calls_response_rules(
    settings: Settings, engine: Engine, era: Era, method: str, action: ActionKind
) -> None:
    alpha = _server(era, _notifying(method))
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        rule_id = add_rule(engine, "ssn out", action, hook=Hook.RESPONSE)
        client = await _client(gateway, era)
        params: JsonObject = {"name": "work", "arguments": {}, "_meta": {"progressToken": "p"}}
        outcome = await _streamed(gateway, client, "tools/call", params)

    notes = [m for m in outcome.messages if m.get("method") == method]
    assert outcome.answer["result"]["content"] == [{"type": "text", "text": "done"}]
    if action is ActionKind.BLOCK:
        assert notes == []
        [abort] = [leg for leg in outcome.legs if leg["type"] == "policy_enforced_abort"]
        assert orjson.loads(abort["rules"]) == [
            {"id": rule_id, "rule": "ssn out", "action": "block", "matches": 1}
        ]
    else:
        [note] = notes
        assert "<US_SSN>" in _shown(note["params"])
    assert SSN not in _shown(outcome.messages)
    assert SSN not in stored_text(engine)


async def test_a_rule_scoped_to_another_tool_leaves_the_notifications_of_this_call_alone(
    settings: Settings, engine: Engine
) -> None:
    alpha = _server(Era.LEGACY, _notifying("notifications/message"))
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "echo only", ActionKind.BLOCK, hook=Hook.RESPONSE, tools=frozenset({"echo"}))
        client = await gateway.legacy_client()
        outcome = await _streamed(gateway, client, "tools/call", {"name": "work", "arguments": {}})

    assert [m["method"] for m in outcome.messages[:-1]] == ["notifications/message"]


@pytest.mark.parametrize("method", ["elicitation/create", "sampling/createMessage"])
async def test_a_relayed_request_a_rule_blocks_is_answered_with_the_rules_error_and_never_asked(
    settings: Settings, engine: Engine, method: str
) -> None:
    answers: list[JsonObject] = []

    async def work(_arguments: JsonObject, client: Client) -> JsonObject:
        assert client.on_request is not None
        if method == "elicitation/create":
            params: JsonObject = ELICIT["params"]
        else:
            text = {"type": "text", "text": f"summarise customer {SSN}"}
            params = {"messages": [{"role": "user", "content": text}], "maxTokens": 10}
        answers.append(await client.on_request(method, params))
        return {"content": [{"type": "text", "text": "done"}]}

    alpha = _server(Era.LEGACY, work)
    capabilities = {"elicitation": {"form": {}}, "sampling": {}}
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        rule_id = add_rule(engine, "ssn out", ActionKind.BLOCK, hook=Hook.RESPONSE)
        client = await gateway.legacy_client(capabilities)
        outcome = await _streamed(gateway, client, "tools/call", {"name": "work", "arguments": {}})

    [answer] = answers
    assert answer["error"]["code"] == BLOCKED and answer["error"]["data"]["ruleId"] == rule_id
    assert [m.get("method") for m in outcome.messages] == [None]  # the client was never asked
    assert "policy_enforced_abort" in outcome.types
    assert SSN not in _shown(outcome.messages)
    assert SSN not in stored_text(engine)


async def test_a_relayed_elicitation_is_rewritten_before_the_client_sees_it(
    settings: Settings, engine: Engine
) -> None:
    async def work(_arguments: JsonObject, client: Client) -> JsonObject:
        assert client.on_request is not None
        answer = await client.on_request("elicitation/create", ELICIT["params"])
        return {"content": [{"type": "text", "text": answer["result"]["action"]}]}

    alpha = _server(Era.LEGACY, work)
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "ssn out", ActionKind.REPLACE, hook=Hook.RESPONSE)
        client = await gateway.legacy_client({"elicitation": {"form": {}}})
        async with client.stream("tools/call", {"name": "work", "arguments": {}}) as stream:
            asked = await stream.message()
            await client.post({"jsonrpc": "2.0", "id": asked["id"], "result": {"action": "decline"}})
            called = await stream.message()

    assert asked["params"]["message"] == "confirm ssn <US_SSN>?"
    assert called["result"]["content"] == [{"type": "text", "text": "decline"}]
    assert SSN not in stored_text(engine)


@pytest.mark.parametrize("action", [ActionKind.BLOCK, ActionKind.REDACT])
async def test_a_legacy_clients_answer_to_a_relayed_elicitation_is_inspected_before_the_server_receives_it(
    settings: Settings, engine: Engine, action: ActionKind
) -> None:
    answers: list[JsonObject] = []

    async def work(_arguments: JsonObject, client: Client) -> JsonObject:
        assert client.on_request is not None
        answers.append(await client.on_request("elicitation/create", {"message": "ssn?"}))
        return {"content": [{"type": "text", "text": "done"}]}

    alpha = _server(Era.LEGACY, work)
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        rule_id = add_rule(engine, "ssn in", action)
        client = await gateway.legacy_client({"elicitation": {"form": {}}})
        async with client.stream("tools/call", {"name": "work", "arguments": {}}) as stream:
            asked = await stream.message()
            accepted = {"action": "accept", "content": {"ssn": SSN}}
            await client.post({"jsonrpc": "2.0", "id": asked["id"], "result": accepted})
            called = await stream.message()

    assert called["result"]["content"] == [{"type": "text", "text": "done"}]
    [answer] = answers
    if action is ActionKind.BLOCK:
        assert answer["error"]["code"] == BLOCKED and answer["error"]["data"]["ruleId"] == rule_id
    else:
        assert answer == {"result": {"action": "accept", "content": {"ssn": ""}}}
    assert SSN not in stored_text(engine).replace(_answer_arrival(engine), "")


def _needs_input(asking: JsonObject = ELICIT) -> Any:
    """A tool that asks for input once (MRTR), then answers."""
    calls: list[int] = []

    async def work(_arguments: JsonObject, _client: Client) -> JsonObject:
        calls.append(1)
        if len(calls) == 1:
            return {"resultType": "input_required", "inputRequests": {"r": asking}, "requestState": "s"}
        return {"content": [{"type": "text", "text": "done"}]}

    return work


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("action", [ActionKind.BLOCK, ActionKind.REPLACE])
async def test_mrtr_input_requests_are_inspected_before_the_client_sees_them(
    settings: Settings, engine: Engine, era: Era, action: ActionKind
) -> None:
    alpha = _server(era, _needs_input())
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "ssn out", action, hook=Hook.RESPONSE)
        client = await _client(gateway, era, {"elicitation": {"form": {}}})
        if era is Era.MODERN or action is ActionKind.BLOCK:  # a legacy client is not asked
            outcome = await _streamed(gateway, client, "tools/call", {"name": "work", "arguments": {}})
            shown, answer = outcome.messages, outcome.answer
        else:
            async with client.stream("tools/call", {"name": "work", "arguments": {}}) as stream:
                asked = await stream.message()
                await client.post({"jsonrpc": "2.0", "id": asked["id"], "result": {"action": "decline"}})
                shown = [asked, await stream.message()]
                answer = shown[1]

    if era is Era.MODERN and action is ActionKind.BLOCK:
        assert answer["error"]["code"] == BLOCKED
    elif era is Era.MODERN:
        asked = answer["result"]["inputRequests"]["r"]
        assert asked["params"]["message"] == "confirm ssn <US_SSN>?"
    elif action is ActionKind.BLOCK:  # the blocked input request is answered with the rule's error
        assert [m.get("method") for m in shown] == [None]
        assert answer["result"]["content"] == [{"type": "text", "text": "done"}]
        [_, retry] = [r.params for r in alpha.received if r.method == "tools/call"]
        assert retry is not None and retry["inputResponses"]["r"]["error"]["code"] == BLOCKED
    else:
        assert shown[0]["params"]["message"] == "confirm ssn <US_SSN>?"
        assert answer["result"]["content"] == [{"type": "text", "text": "done"}]
    assert SSN not in _shown(shown)
    assert SSN not in stored_text(engine)


@pytest.mark.parametrize("era", ERAS)
async def test_an_mrtr_retrys_input_responses_are_inspected_before_the_server_receives_them(
    settings: Settings, engine: Engine, era: Era
) -> None:
    alpha = _server(era, _needs_input({"method": "elicitation/create", "params": {"message": "ssn?"}}))
    accepted = {"action": "accept", "content": {"ssn": SSN}}
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "ssn in", ActionKind.REDACT)
        client = await _client(gateway, era, {"elicitation": {"form": {}}})
        if era is Era.MODERN:
            first = await client.request("tools/call", {"name": "work", "arguments": {}})
            params = {
                "name": "work",
                "arguments": {},
                "inputResponses": {"r": accepted},
                "requestState": first["result"]["requestState"],
            }
            outcome = await _streamed(gateway, client, "tools/call", params)
            answer = outcome.answer
        else:
            async with client.stream("tools/call", {"name": "work", "arguments": {}}) as stream:
                asked = await stream.message()
                await client.post({"jsonrpc": "2.0", "id": asked["id"], "result": accepted})
                answer = await stream.message()

    assert answer["result"]["content"] == [{"type": "text", "text": "done"}]
    [_, retry] = [r.params for r in alpha.received if r.method == "tools/call"]
    assert retry is not None and retry["inputResponses"]["r"]["content"] == {"ssn": ""}
    assert SSN not in stored_text(engine).replace(_answer_arrival(engine), "")


def _answer_arrival(engine: Engine) -> str:
    """The stored arrival of a legacy client's answer to a relayed request (its JSON-RPC response),
    which keeps the client's text (README, Known gaps); empty if there is none."""
    with engine.connect() as conn:
        rows = conn.execute(select(audit_entries).where(audit_entries.c.method.is_(None))).all()
    return "\n".join(repr(tuple(row)) for row in rows if row.type == "proxy_request_success")


@pytest.mark.parametrize("era", ERAS)
async def test_a_resource_links_words_are_inspected_but_not_its_uri(
    settings: Settings, engine: Engine, era: Era
) -> None:
    uri = "file:///customers/7"

    async def work(_arguments: JsonObject, _client: Client) -> JsonObject:
        link = {
            "type": "resource_link",
            "uri": uri,
            "name": f"customer {SSN}",
            "title": f"Customer {SSN}",
            "description": f"the record of {SSN}",
        }
        return {"content": [link]}

    alpha = _server(era, work)
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "ssn out", ActionKind.REPLACE, hook=Hook.RESPONSE)
        client = await _client(gateway, era)
        outcome = await _streamed(gateway, client, "tools/call", {"name": "work", "arguments": {}})

    [link] = outcome.answer["result"]["content"]
    assert link == {
        "type": "resource_link",
        "uri": uri,
        "name": "customer <US_SSN>",
        "title": "Customer <US_SSN>",
        "description": "the record of <US_SSN>",
    }
    assert SSN not in stored_text(engine)


class DescribingServer(MemoryServer):
    """A memory server whose prompts describe themselves with a planted SSN."""

    async def _answer(self, method: str, params: JsonObject, client: Client, era: Era) -> JsonObject:
        if method == "prompts/get":
            return {"result": {"description": f"for {SSN}", "messages": []}}
        return await super()._answer(method, params, client, era)


@pytest.mark.parametrize("era", ERAS)
async def test_a_prompts_arguments_and_description_are_inspected_by_rules_that_opt_in(
    settings: Settings, engine: Engine, era: Era
) -> None:
    prompt = {"name": "greet", "description": "Greets", "arguments": [{"name": "who"}]}
    alpha = DescribingServer(era=era, tools=[ECHO], prompts=[prompt])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        methods = ("tools/call", "prompts/get")
        add_rule(engine, "ssn", ActionKind.REDACT, hook=Hook.BOTH, methods=methods)
        client = await _client(gateway, era)
        params = {"name": "greet", "arguments": {"who": SSN}}
        outcome = await _streamed(gateway, client, "prompts/get", params)

    assert outcome.answer["result"]["description"] == "for "
    [received] = [r.params for r in alpha.received if r.method == "prompts/get"]
    assert received is not None and received["arguments"] == {"who": ""}
    assert SSN not in stored_text(engine)


@pytest.mark.parametrize("era", ERAS)
async def test_what_a_server_sends_during_a_call_rules_do_not_scan_meets_the_tool_rules(
    settings: Settings, engine: Engine, era: Era
) -> None:
    async def completing(_params: JsonObject, client: Client) -> JsonObject:
        assert client.on_notification is not None
        note = {"level": "info", "data": f"completing for ssn {SSN}"}
        await client.on_notification({"method": "notifications/message", "params": note})
        return {"completion": {"values": ["a"]}}

    alpha = MemoryServer(era=era, tools=[ECHO], calls={"completion/complete": completing})
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "ssn out", ActionKind.BLOCK, hook=Hook.RESPONSE)
        add_rule(engine, "echo only", ActionKind.BLOCK, hook=Hook.RESPONSE, tools=frozenset({"echo"}))
        client = await _client(gateway, era)
        params: JsonObject = {
            "ref": {"type": "ref/prompt", "name": "p"},
            "argument": {"name": "a", "value": ""},
        }
        outcome = await _streamed(gateway, client, "completion/complete", params)

    assert outcome.answer["result"]["completion"]["values"] == ["a"]
    assert [m for m in outcome.messages if m.get("method") == "notifications/message"] == []
    [abort] = [leg for leg in outcome.legs if leg["type"] == "policy_enforced_abort"]
    assert [r["rule"] for r in orjson.loads(abort["rules"])] == ["ssn out"]  # the tool-scoped rule is not
    assert SSN not in _shown(outcome.messages)
    assert SSN not in stored_text(engine)


@pytest.mark.parametrize("era", ERAS)
async def test_completing_a_prompts_argument_meets_the_rules_that_see_prompts(
    settings: Settings, engine: Engine, era: Era
) -> None:
    received: list[JsonObject] = []

    async def completing(params: JsonObject, _client: Client) -> JsonObject:
        received.append(params)
        return {"completion": {"values": []}}

    alpha = MemoryServer(era=era, tools=[ECHO], calls={"completion/complete": completing})
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "no ssn", ActionKind.BLOCK, methods=("tools/call", "prompts/get"))
        client = await _client(gateway, era)
        ref = {"type": "ref/prompt", "name": "p"}
        clean = await _streamed(
            gateway, client, "completion/complete", {"ref": ref, "argument": {"name": "a", "value": "x"}}
        )
        as_value = {"ref": ref, "argument": {"name": "a", "value": SSN}}
        in_context = {
            "ref": ref,
            "argument": {"name": "a", "value": ""},
            "context": {"arguments": {"b": SSN}},
        }
        blocked = [await _streamed(gateway, client, "completion/complete", p) for p in (as_value, in_context)]

    assert "result" in clean.answer and len(received) == 1
    assert [b.answer["error"]["code"] for b in blocked] == [BLOCKED, BLOCKED]
    assert SSN not in _shown(received) and SSN not in stored_text(engine)
