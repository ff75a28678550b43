"""Gateway rules in the data plane, in process (``in_process.py``), both eras: a block stops the call
before the server, each action on each leg, order and chaining, scope, opted-in methods, engine
verdicts and failures, rules that cannot be read, alerts, the audit's record of what rules did, and
no planted secret left in any stored leg, admin event or log line."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, update

from lockgate.dataplane.inspection import Inspector
from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.domain.rules import (
    Action,
    ActionKind,
    Direction,
    EngineRequest,
    FailureMode,
    Hook,
    RegexDetection,
    RuleEngine,
    Verdict,
    VerdictKind,
)
from lockgate.settings import Settings
from lockgate.store.schema import rules
from lockgate.upstream.memory import MemoryServer
from tests.dataplane.in_process import ECHO, MemoryGateway, memory_gateway
from tests.dataplane.provisioning_kit import Answered, answered
from tests.dataplane.rules_kit import (
    API_KEY,
    BOTH_SECRETS,
    SECRETS,
    SSN,
    add_engine,
    add_rule,
    alert_events,
    engine_rule,
    gateway_key,
    stored_text,
)

pytestmark = pytest.mark.anyio
ERAS = [Era.LEGACY, Era.MODERN]
LEAK = {"name": "leak", "description": "Answers with what it holds", "inputSchema": {"type": "object"}}
PROMPT = {"name": "greet", "description": "Greets"}
RESOURCE = {"uri": "file:///notes", "name": "notes"}


async def _leak(_arguments: JsonObject, _client: Client) -> JsonObject:
    text = f"ssn {SSN} key {API_KEY}"
    return {"content": [{"type": "text", "text": text}], "structuredContent": {"ssn": SSN}}


def _server(era: Era, **overrides: Any) -> MemoryServer:
    values: dict[str, Any] = {
        "tools": [ECHO, LEAK],
        "calls": {"leak": _leak},
        "prompts": [PROMPT],
        "resources": [RESOURCE],
        "contents": {RESOURCE["uri"]: f"ssn {SSN}"},
    }
    return MemoryServer(era=era, **(values | overrides))


async def _client(gateway: MemoryGateway, era: Era) -> Any:
    return await gateway.legacy_client() if era is Era.LEGACY else gateway.modern_client()


def _calls(server: MemoryServer) -> list[JsonObject | None]:
    return [r.params for r in server.received if r.method == "tools/call"]


def _leg(outcome: Answered, prefix: str) -> JsonObject:
    return next(leg for leg in outcome.legs if leg["type"].startswith(prefix))


def _rules(leg: JsonObject) -> list[JsonObject] | None:
    return orjson.loads(leg["rules"]) if leg["rules"] is not None else None


def _echoed(answer: JsonObject) -> JsonObject:
    text = answer["result"]["content"][0]["text"]
    echoed: JsonObject = orjson.loads(text)
    return echoed


def _hashed(key: bytes, text: str) -> str:
    return "hash:" + hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:16]


@pytest.mark.parametrize("era", ERAS)
async def test_a_request_rule_blocks_an_ssn_and_the_server_never_receives_the_call(
    settings: Settings, engine: Engine, era: Era
) -> None:
    alpha = _server(era)
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        rule_id = add_rule(engine, "no ssn", ActionKind.BLOCK)
        client = await _client(gateway, era)
        outcome = await answered(gateway, client, "tools/call", {"name": "echo", "arguments": {"note": SSN}})

    assert outcome.status == 200
    assert outcome.answer["error"] == {
        "code": -32017,
        "message": "Request blocked by the gateway's rule 'no ssn': matched 1 time",
        "data": {"reason": "rule_blocked", "server": "alpha", "rule": "no ssn", "ruleId": rule_id},
    }
    assert _calls(alpha) == []
    assert outcome.types == ["proxy_request_success", "policy_enforced_abort", "proxy_response_error"]
    abort = outcome.legs[1]
    assert _rules(abort) == [{"id": rule_id, "rule": "no ssn", "action": "block", "matches": 1}]
    assert abort["error"] == "rule_blocked: Request blocked by the gateway's rule 'no ssn': matched 1 time"
    assert orjson.loads(outcome.legs[0]["body"]) == {"degraded": "withheld: blocked by a gateway rule"}
    assert SSN not in stored_text(engine)


def _expected(action: ActionKind, key: bytes) -> str:
    return {
        ActionKind.REDACT: "",
        ActionKind.REPLACE: "<US_SSN>",
        ActionKind.MASK: "*******6789",
        ActionKind.HASH: _hashed(key, SSN),
    }[action]


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("action", list(ActionKind))
async def test_each_action_on_the_request_leg_is_what_the_server_receives(
    settings: Settings, engine: Engine, era: Era, action: ActionKind
) -> None:
    alpha = _server(era)
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "ssn", action)
        client = await _client(gateway, era)
        arguments = {"note": f"my ssn: {SSN}.", "count": 3}
        outcome = await answered(gateway, client, "tools/call", {"name": "echo", "arguments": arguments})
        key = gateway_key(engine)

    if action is ActionKind.BLOCK:
        assert outcome.answer["error"]["code"] == -32017 and _calls(alpha) == []
        return
    expected = {"note": f"my ssn: {_expected(action, key)}.", "count": 3}
    [received] = _calls(alpha)
    assert received is not None and received["arguments"] == expected
    assert _echoed(outcome.answer) == expected
    assert outcome.answer["id"] is not None and "error" not in outcome.answer
    request_leg = _leg(outcome, "mcp_request")
    assert _rules(request_leg) == [{"id": 1, "rule": "ssn", "action": action.value, "matches": 1}]
    assert orjson.loads(request_leg["body"])["arguments"] == expected
    assert orjson.loads(outcome.legs[0]["body"])["params"]["arguments"] == expected
    assert SSN not in stored_text(engine)


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("action", list(ActionKind))
async def test_each_action_on_the_response_leg_is_what_the_client_receives(
    settings: Settings, engine: Engine, era: Era, action: ActionKind
) -> None:
    alpha = _server(era)
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "ssn out", action, hook=Hook.RESPONSE)
        client = await _client(gateway, era)
        outcome = await answered(gateway, client, "tools/call", {"name": "leak", "arguments": {}})
        key = gateway_key(engine)

    assert len(_calls(alpha)) == 1
    if action is ActionKind.BLOCK:
        assert outcome.answer["error"] == {
            "code": -32017,
            "message": "Response blocked by the gateway's rule 'ssn out': matched 2 times",
            "data": {"reason": "rule_blocked", "server": "alpha", "rule": "ssn out", "ruleId": 1},
        }
        assert outcome.types == [
            "proxy_request_success",
            "mcp_request_success",
            "mcp_response_success",
            "policy_enforced_abort",
            "proxy_response_error",
        ]
        assert orjson.loads(outcome.legs[2]["body"]) == {"degraded": "withheld: blocked by a gateway rule"}
        assert _rules(outcome.legs[3]) == [{"id": 1, "rule": "ssn out", "action": "block", "matches": 2}]
        assert SSN not in stored_text(engine)
        return
    replaced = _expected(action, key)
    result = outcome.answer["result"]
    assert result["content"][0]["text"] == f"ssn {replaced} key {API_KEY}"
    assert result["structuredContent"] == {"ssn": replaced}
    response_leg = _leg(outcome, "mcp_response")
    assert _rules(response_leg) == [{"id": 1, "rule": "ssn out", "action": action.value, "matches": 2}]
    assert orjson.loads(response_leg["body"])["result"]["structuredContent"] == {"ssn": replaced}
    assert _rules(_leg(outcome, "mcp_request")) is None
    assert SSN not in stored_text(engine)


async def test_rules_run_in_order_and_each_sees_what_the_one_before_produced(
    settings: Settings, engine: Engine
) -> None:
    alpha = _server(Era.LEGACY)
    stars = RegexDetection(patterns=(r"/\*{11}/",))
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "then hash", ActionKind.HASH, detection=stars, position=2)
        add_rule(engine, "mask first", Action(ActionKind.MASK), position=1)
        client = await gateway.legacy_client()
        outcome = await answered(gateway, client, "tools/call", {"name": "echo", "arguments": {"n": SSN}})
        key = gateway_key(engine)

    assert _echoed(outcome.answer) == {"n": _hashed(key, "*" * 11)}
    assert [r["rule"] for r in _rules(_leg(outcome, "mcp_request")) or []] == ["mask first", "then hash"]


async def test_a_block_stops_the_rules_after_it(settings: Settings, engine: Engine) -> None:
    alpha = _server(Era.LEGACY)
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "block", ActionKind.BLOCK, position=1)
        add_rule(engine, "never", ActionKind.REDACT, position=2, alerts=True)
        client = await gateway.legacy_client()
        outcome = await answered(gateway, client, "tools/call", {"name": "echo", "arguments": {"n": SSN}})
        await gateway.app.state.lockgate.alerts.flush()

    assert [r["rule"] for r in _rules(outcome.legs[1]) or []] == ["block"]
    assert alert_events(engine) == []


@pytest.mark.parametrize("both_opt_out", [True, False])
async def test_originals_are_stored_only_when_every_rule_that_acted_opts_out(
    settings: Settings, engine: Engine, both_opt_out: bool
) -> None:
    alpha = _server(Era.LEGACY)
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "keep", ActionKind.REDACT, store_original=True)
        add_rule(engine, "key", ActionKind.REDACT, detection=BOTH_SECRETS, store_original=both_opt_out)
        client = await gateway.legacy_client()
        arguments = {"n": f"{SSN} {API_KEY}"}
        outcome = await answered(gateway, client, "tools/call", {"name": "echo", "arguments": arguments})

    assert _echoed(outcome.answer) == {"n": " "}
    assert orjson.loads(_leg(outcome, "mcp_request")["body"])["arguments"] == (
        arguments if both_opt_out else {"n": " "}
    )
    assert (SSN in stored_text(engine)) is both_opt_out


async def test_a_rule_scoped_to_an_assignment_and_a_tool_leaves_the_rest_alone(
    settings: Settings, engine: Engine
) -> None:
    other = {"name": "other", "inputSchema": {"type": "object"}}
    alpha, beta = _server(Era.LEGACY), _server(Era.LEGACY, tools=[ECHO, other])
    assignments = [{"server": "alpha"}, {"server": "beta", "prefix": "b"}]
    servers = {"alpha": alpha, "beta": beta}
    async with memory_gateway(settings, engine, servers, assignments=assignments) as gateway:
        add_rule(
            engine, "beta echo", ActionKind.REDACT, assignments=frozenset({"beta"}), tools=frozenset({"echo"})
        )
        client = await gateway.legacy_client()
        arguments = {"n": SSN}
        on_alpha = await client.request("tools/call", {"name": "echo", "arguments": arguments})
        on_beta = await client.request("tools/call", {"name": "b__echo", "arguments": arguments})
        other_on_beta = await client.request("tools/call", {"name": "b__other", "arguments": arguments})

    assert _echoed(on_alpha) == {"n": SSN}
    assert _echoed(on_beta) == {"n": ""}
    assert _echoed(other_on_beta) == {"n": SSN}


@pytest.mark.parametrize("opted_in", [False, True])
@pytest.mark.parametrize(
    ("method", "params"),
    [("prompts/get", {"name": "greet"}), ("resources/read", {"uri": RESOURCE["uri"]})],
)
async def test_prompts_and_resources_are_inspected_only_by_rules_that_opt_in(
    settings: Settings, engine: Engine, method: str, params: JsonObject, opted_in: bool
) -> None:
    alpha = _server(Era.LEGACY)
    methods = ("tools/call", method) if opted_in else ("tools/call",)
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "ssn out", ActionKind.REPLACE, hook=Hook.RESPONSE, methods=methods)
        client = await gateway.legacy_client()
        answer = await client.request(method, params)

    shown = orjson.dumps(answer).decode()
    if method == "resources/read":
        assert (SSN in shown) is not opted_in
        assert ("<US_SSN>" in shown) is opted_in
    else:  # the memory server's prompt holds no SSN: the rule sees it and finds nothing
        assert "result" in answer


class FakeEngines:
    """Answers engine rules as told and keeps what it was asked."""

    def __init__(self, answer: Verdict | Exception | None = None) -> None:
        self.answer = answer
        self.asked: list[tuple[RuleEngine, EngineRequest]] = []

    async def __call__(self, engine: RuleEngine, request: EngineRequest) -> Verdict:
        self.asked.append((engine, request))
        if isinstance(self.answer, Exception):
            raise self.answer
        if self.answer is not None:
            return self.answer
        body = dict(request.body)
        params = dict(body["params"])
        params["arguments"] = {"n": "rewritten by the engine"}
        return Verdict(VerdictKind.MODIFY, body={**body, "params": params})


@pytest.mark.parametrize("era", ERAS)
async def test_an_engine_rule_is_asked_with_the_whole_message_and_its_context(
    settings: Settings, engine: Engine, era: Era
) -> None:
    engines = FakeEngines(Verdict(VerdictKind.PASS))
    alpha = _server(era)
    async with memory_gateway(settings, engine, {"alpha": alpha}, ask=engines) as gateway:
        engine_id = add_engine(engine, "guard")
        rule_id = engine_rule(engine, "ask guard", "guard", FailureMode.CLOSED, hook=Hook.BOTH)
        client = await _client(gateway, era)
        outcome = await answered(gateway, client, "tools/call", {"name": "echo", "arguments": {"n": 1}})

    assert _echoed(outcome.answer) == {"n": 1}
    (asked_engine, request), (_, response) = engines.asked
    assert asked_engine.id == engine_id and asked_engine.name == "guard"
    assert (request.rule_id, request.rule, request.engine) == (rule_id, "ask guard", "guard")
    assert (request.user_email, request.host, request.gateway, request.server, request.tool) == (
        outcome.legs[0]["user_email"],
        "agent",
        "g",
        "alpha",
        "echo",
    )
    assert request.direction is Direction.REQUEST and response.direction is Direction.RESPONSE
    assert request.correlation_id == outcome.legs[0]["correlation_id"]
    assert request.body["method"] == "tools/call" and request.body["params"]["arguments"] == {"n": 1}
    assert response.body["id"] == request.body["id"] and "result" in response.body


async def test_an_engine_block_and_modify_verdict_are_followed(settings: Settings, engine: Engine) -> None:
    engines = FakeEngines(Verdict(VerdictKind.BLOCK, reason="looks like an injection"))
    alpha = _server(Era.LEGACY)
    async with memory_gateway(settings, engine, {"alpha": alpha}, ask=engines) as gateway:
        add_engine(engine, "guard")
        engine_rule(engine, "ask guard", "guard", FailureMode.CLOSED)
        client = await gateway.legacy_client()
        blocked = await answered(gateway, client, "tools/call", {"name": "echo", "arguments": {"n": 1}})
        engines.answer = None  # modify
        modified = await answered(gateway, client, "tools/call", {"name": "echo", "arguments": {"n": 1}})

    assert blocked.answer["error"]["message"] == (
        "Request blocked by the gateway's rule 'ask guard': looks like an injection"
    )
    assert _rules(blocked.legs[1]) == [{"id": 1, "rule": "ask guard", "action": "block", "matches": 1}]
    assert _echoed(modified.answer) == {"n": "rewritten by the engine"}
    assert _calls(alpha) == [{"name": "echo", "arguments": {"n": "rewritten by the engine"}}]
    assert _rules(_leg(modified, "mcp_request")) == [
        {"id": 1, "rule": "ask guard", "action": "modify", "matches": 1}
    ]


@pytest.mark.parametrize(
    ("failure_mode", "engine_name", "passes"),
    [
        (FailureMode.OPEN, "guard", True),
        (FailureMode.CLOSED, "guard", False),
        (FailureMode.OPEN, "missing", True),
        (FailureMode.CLOSED, "missing", False),
    ],
)
async def test_an_engine_that_fails_or_is_missing_follows_the_rules_failure_mode(
    settings: Settings, engine: Engine, failure_mode: FailureMode, engine_name: str, passes: bool
) -> None:
    engines = FakeEngines(RuntimeError("the engine fell over"))
    alpha = _server(Era.LEGACY)
    async with memory_gateway(settings, engine, {"alpha": alpha}, ask=engines) as gateway:
        add_engine(engine, "guard")
        engine_rule(engine, "ask", engine_name, failure_mode)
        client = await gateway.legacy_client()
        outcome = await answered(gateway, client, "tools/call", {"name": "echo", "arguments": {"n": 1}})

    assert len(engines.asked) == (1 if engine_name == "guard" else 0)
    why = "RuntimeError" if engine_name == "guard" else "the rule engine 'missing' does not exist"
    if passes:
        assert _echoed(outcome.answer) == {"n": 1}
        assert _rules(_leg(outcome, "mcp_request")) == [
            {"id": 1, "rule": "ask", "action": "failed_open", "matches": 0, "reason": why}
        ]
        return
    assert outcome.answer["error"]["data"]["reason"] == "rule_blocked" and _calls(alpha) == []
    assert why in outcome.answer["error"]["message"] and "fell over" not in outcome.answer["error"]["message"]
    assert _rules(outcome.legs[1]) == [
        {"id": 1, "rule": "ask", "action": "failed_closed", "matches": 0, "reason": why}
    ]


async def test_without_engines_an_engine_rule_fails_by_its_failure_mode(
    settings: Settings, engine: Engine
) -> None:
    alpha = _server(Era.LEGACY)
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_engine(engine, "guard")
        engine_rule(engine, "ask", "guard", FailureMode.CLOSED)
        client = await gateway.legacy_client()
        outcome = await answered(gateway, client, "tools/call", {"name": "echo", "arguments": {"n": 1}})

    assert outcome.answer["error"]["data"]["reason"] == "rule_blocked" and _calls(alpha) == []


async def _hang(_engine: RuleEngine, _request: EngineRequest) -> Verdict:
    await asyncio.Event().wait()  # an engine that never answers
    raise AssertionError("unreachable")


@pytest.mark.parametrize("hook", [Hook.REQUEST, Hook.RESPONSE])
async def test_an_inspection_that_outlasts_its_bound_blocks_the_message_even_for_a_fail_open_rule(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch, hook: Hook
) -> None:
    monkeypatch.setattr("lockgate.app.Inspector", functools.partial(Inspector, timeout_s=0.01))
    alpha = _server(Era.LEGACY)
    async with memory_gateway(settings, engine, {"alpha": alpha}, ask=_hang) as gateway:
        add_engine(engine, "guard")
        engine_rule(engine, "ask", "guard", FailureMode.OPEN, hook=hook)
        client = await gateway.legacy_client()
        arguments = {"n": SSN} if hook is Hook.REQUEST else {}  # the result holds one too
        outcome = await answered(gateway, client, "tools/call", {"name": "leak", "arguments": arguments})

    noun = "Request" if hook is Hook.REQUEST else "Response"
    assert outcome.answer["error"] == {
        "code": -32017,
        "message": f"{noun} blocked: the gateway's rules took longer than 0.01 s to inspect it",
        "data": {"reason": "inspection_timeout", "server": "alpha"},
    }
    assert len(_calls(alpha)) == (0 if hook is Hook.REQUEST else 1)
    assert outcome.types[-2:] == ["policy_enforced_abort", "proxy_response_error"]
    withheld = {"degraded": "withheld: the inspection of the message took too long"}
    stored = outcome.legs[0] if hook is Hook.REQUEST else _leg(outcome, "mcp_response")
    assert orjson.loads(stored["body"]) == withheld
    assert SSN not in stored_text(engine)


@pytest.mark.parametrize("era", ERAS)
async def test_rules_that_cannot_be_read_fail_the_inspected_calls_closed(
    settings: Settings, engine: Engine, era: Era
) -> None:
    alpha = _server(era)
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        rule_id = add_rule(engine, "ssn", ActionKind.REDACT)
        with engine.begin() as conn:
            conn.execute(update(rules).where(rules.c.id == rule_id).values(hook="sideways"))
        client = await _client(gateway, era)
        outcome = await answered(gateway, client, "tools/call", {"name": "echo", "arguments": {"n": SSN}})
        listed = await client.request("tools/list")

    assert outcome.status == 200
    assert outcome.answer["error"]["code"] == -32017
    assert outcome.answer["error"]["data"] == {"reason": "rules_unavailable", "server": "alpha"}
    assert "cannot be read" in outcome.answer["error"]["message"]
    assert _calls(alpha) == []
    assert outcome.types == ["proxy_request_success", "policy_enforced_abort", "proxy_response_error"]
    assert [t["name"] for t in listed["result"]["tools"]] == ["echo", "leak"]


@pytest.mark.parametrize("era", ERAS)
async def test_an_alert_only_rule_lets_the_call_through_and_raises_the_alert(
    settings: Settings, engine: Engine, era: Era, caplog: pytest.LogCaptureFixture
) -> None:
    alpha = _server(era)
    caplog.set_level(logging.WARNING)
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        rule_id = add_rule(engine, "watch ssn", ActionKind.MASK, alerts=True)
        client = await _client(gateway, era)
        outcome = await answered(gateway, client, "tools/call", {"name": "echo", "arguments": {"n": SSN}})
        await gateway.app.state.lockgate.alerts.flush()

    assert _echoed(outcome.answer) == {"n": "*******6789"}
    [event] = alert_events(engine)
    assert (event["actor"], event["kind"], event["name"]) == ("lockgate", "alert", "watch ssn")
    assert event["correlation_id"] == outcome.legs[0]["correlation_id"]
    after = event["after"] if isinstance(event["after"], Mapping) else orjson.loads(event["after"])
    assert after == {
        "gateway": "g",
        "ruleId": rule_id,
        "action": "mask",
        "matches": 1,
        "leg": "request",
        "correlationId": event["correlation_id"],
        "user": outcome.legs[0]["user_email"],
        "host": "agent",
        "server": "alpha",
        "tool": "echo",
        "method": "tools/call",
    }
    assert any("rule alert" in r.getMessage() and "watch ssn" in r.getMessage() for r in caplog.records)
    assert SSN not in caplog.text


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("scenario", ["redact", "block request", "block response"])
async def test_no_planted_secret_is_left_in_any_stored_leg_alert_or_log_line(
    settings: Settings, engine: Engine, era: Era, scenario: str, caplog: pytest.LogCaptureFixture
) -> None:
    alpha = _server(era)
    caplog.set_level(logging.DEBUG)
    action = ActionKind.REDACT if scenario == "redact" else ActionKind.BLOCK
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        for hook in (Hook.REQUEST, Hook.RESPONSE):
            add_rule(engine, f"secrets {hook.value}", action, detection=BOTH_SECRETS, hook=hook, alerts=True)
        client = await _client(gateway, era)
        arguments = {} if scenario == "block response" else {"note": f"{SSN} and {API_KEY}"}
        outcome = await answered(gateway, client, "tools/call", {"name": "leak", "arguments": arguments})
        await gateway.app.state.lockgate.alerts.flush()

    stored = stored_text(engine)
    assert len(alert_events(engine)) >= 1
    assert outcome.legs and all(leg["rules"] is None or "matches" in leg["rules"] for leg in outcome.legs)
    for secret in SECRETS:
        assert secret not in stored
        assert secret not in caplog.text
        assert secret not in orjson.dumps(outcome.answer).decode()


async def test_argument_headers_to_the_server_are_prepared_again_from_the_rewritten_arguments(
    settings: Settings, engine: Engine
) -> None:
    seen: list[dict[str, str]] = []

    async def lookup(arguments: JsonObject, client: Client) -> JsonObject:
        seen.append(dict(client.upstream_headers))
        return {"content": [{"type": "text", "text": orjson.dumps(arguments).decode()}]}

    tool = {
        "name": "lookup",
        "inputSchema": {
            "type": "object",
            "properties": {"account": {"type": "string", "x-mcp-header": "Account"}},
        },
    }
    alpha = _server(Era.MODERN, tools=[tool], calls={"lookup": lookup})
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        add_rule(engine, "ssn", ActionKind.MASK)
        client = gateway.modern_client()
        params = {"name": "lookup", "arguments": {"account": SSN}}
        message = client.body("tools/call", params)
        headers = {**client.headers("tools/call", params), "Mcp-Param-Account": SSN}
        response = await client.http.post(client.path, content=orjson.dumps(message), headers=headers)
        legs = await gateway.legs(response.headers["x-correlation-id"])

    assert response.status_code == 200, response.text
    assert seen == [{"Mcp-Param-Account": "*******6789"}]
    assert _echoed(response.json()) == {"account": "*******6789"}
    arrival = orjson.loads(legs[0]["headers"])
    assert arrival["mcp-param-account"] == "*******6789"
    assert SSN not in stored_text(engine)
