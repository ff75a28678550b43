"""The webhook rule engine client against a real HTTP server on loopback: the contract of
docs/rule-engines.md (envelope, signature, verdicts, modify checks) and every way of failing."""

from __future__ import annotations

import datetime
import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Request, Response

from lockgate.domain.rules import LIMITS, Direction, VerdictKind
from lockgate.engines import EngineFailure, Engines
from tests.engines.conftest import CALL, RESULT, SECRET, asking, webhook

pytestmark = pytest.mark.anyio


def answering(server: HTTPServer, *answers: dict[str, Any] | Response) -> str:
    for answer in answers:
        handler = server.expect_ordered_request("/hook", method="POST")
        if isinstance(answer, Response):
            handler.respond_with_response(answer)
        else:
            handler.respond_with_json(answer)
    return server.url_for("/hook")


def received(server: HTTPServer) -> list[Request]:
    return [request for request, _ in server.log]


async def test_the_envelope_carries_the_metadata_and_the_whole_message_signed_as_standard_webhooks_specify(
    server: HTTPServer, engines: Engines
) -> None:
    url = answering(server, {"verdict": "pass"})

    verdict = await engines.ask(webhook(url), asking())

    assert verdict.kind is VerdictKind.PASS
    [request] = received(server)
    raw = request.get_data()
    envelope = Webhook(SECRET).verify(raw, dict(request.headers))
    assert envelope["body"] == CALL
    metadata = envelope["metadata"]
    assert metadata | {"time": None} == {
        "ruleId": 11,
        "rule": "no secrets out",
        "ruleEngineId": 3,
        "ruleEngine": "screen",
        "userId": 5,
        "userEmail": "ada@example.com",
        "host": "claude-desktop",
        "gatewayId": 2,
        "gateway": "finance",
        "server": "mail",
        "tool": "send_email",
        "method": "tools/call",
        "direction": "request",
        "correlationId": "01JCORRELATION",
        "time": None,
        "test": False,
    }
    assert metadata["time"].endswith("Z")
    assert datetime.datetime.fromisoformat(metadata["time"]).timestamp() == 1_796_000_000.25
    assert request.headers["content-type"] == "application/json"


async def test_a_tampered_envelope_does_not_verify_and_an_engine_without_secret_sends_no_signature(
    server: HTTPServer, engines: Engines
) -> None:
    url = answering(server, {"verdict": "pass"}, {"verdict": "pass"})
    await engines.ask(webhook(url), asking())
    await engines.ask(webhook(url, secret=None), asking())

    signed, unsigned = received(server)
    with pytest.raises(Exception, match="match"):
        Webhook(SECRET).verify(signed.get_data().replace(b"hello", b"HELLO"), dict(signed.headers))
    assert "webhook-signature" not in unsigned.headers


async def test_the_engines_configured_headers_are_sent_but_never_replace_the_signature(
    server: HTTPServer, engines: Engines
) -> None:
    url = answering(server, {"verdict": "pass"})
    await engines.ask(webhook(url, headers={"X-Tenant": "acme"}), asking())
    [request] = received(server)
    assert request.headers["x-tenant"] == "acme"
    with pytest.raises(EngineFailure, match="definition"):
        await engines.ask(webhook(url, headers={"webhook-signature": "v1,forged"}), asking())
    with pytest.raises(EngineFailure, match=r"control character|visible ASCII"):
        await engines.ask(webhook(url, headers={"X-Tenant": "acme\r\nX-Admin: yes"}), asking())
    assert len(received(server)) == 1


async def test_a_block_verdict_carries_its_reason_cut_and_without_control_characters(
    server: HTTPServer, engines: Engines
) -> None:
    url = answering(server, {"verdict": "block", "reason": "\x1b[31mleaks\u202e a card\r\n" + "x" * 400})

    verdict = await engines.ask(webhook(url), asking())

    assert verdict.kind is VerdictKind.BLOCK
    assert verdict.reason is not None
    assert verdict.reason.startswith("[31mleaks a card")
    assert len(verdict.reason) == 256


async def test_a_modify_verdict_replaces_the_message_on_either_leg(
    server: HTTPServer, engines: Engines
) -> None:
    call = {**CALL, "params": {"name": "send_email", "arguments": {"to": "[email]", "body": "hello"}}}
    result = {**RESULT, "result": {"content": [{"type": "text", "text": "sent to [email]"}]}}
    url = answering(
        server,
        {"verdict": "modify", "reason": "redacted", "modifiedPayload": {"body": call}},
        {"verdict": "modify", "modifiedPayload": {"body": result}},
    )

    on_request = await engines.ask(webhook(url), asking())
    on_response = await engines.ask(webhook(url), asking(RESULT, Direction.RESPONSE))

    assert (on_request.kind, on_request.body, on_request.reason) == (VerdictKind.MODIFY, call, "redacted")
    assert (on_response.kind, on_response.body) == (VerdictKind.MODIFY, result)


@pytest.mark.parametrize(
    ("leg", "body", "why"),
    [
        (Direction.REQUEST, {**CALL, "id": 8}, "id"),
        (Direction.REQUEST, {**CALL, "id": "7"}, "id"),
        (Direction.REQUEST, {**CALL, "method": "tools/list"}, "method"),
        (Direction.REQUEST, {**CALL, "params": {"name": "delete_all", "arguments": {}}}, "params.name"),
        (Direction.REQUEST, {**CALL, "params": {"name": "send_email", "arguments": "x"}}, "arguments"),
        (Direction.REQUEST, {**CALL, "params": {**CALL["params"], "_meta": {}}}, "added a member to params"),
        (Direction.REQUEST, {k: v for k, v in CALL.items() if k != "jsonrpc"}, "2.0"),
        (Direction.REQUEST, None, "not a JSON object"),
        (Direction.RESPONSE, {"jsonrpc": "2.0", "id": 7, "error": {"code": 1, "message": "no"}}, "result"),
        (Direction.RESPONSE, {**RESULT, "result": {"content": "not a list"}}, "content"),
        (Direction.RESPONSE, {**RESULT, "result": {"content": [{"text": "untyped"}]}}, "content"),
        (Direction.RESPONSE, {**RESULT, "result": {"deep": json.loads("[" * 80 + "]" * 80)}}, "deeper"),
    ],
)
async def test_a_modified_body_that_is_not_the_same_message_is_a_failure(
    server: HTTPServer, engines: Engines, leg: Direction, body: Any, why: str
) -> None:
    url = answering(server, {"verdict": "modify", "modifiedPayload": {"body": body}})
    original = CALL if leg is Direction.REQUEST else RESULT
    with pytest.raises(EngineFailure, match=why):
        await engines.ask(webhook(url), asking(original, leg))


NOTE = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x"}}
ERROR = {"jsonrpc": "2.0", "id": 7, "error": {"code": -32602, "message": "no customer x"}}
ANSWER = {"jsonrpc": "2.0", "result": {"action": "accept", "content": {"ssn": "x"}}}


@pytest.mark.parametrize(
    ("original", "leg", "method", "replacement"),
    [
        (
            NOTE,
            Direction.RESPONSE,
            "notifications/message",
            {**NOTE, "params": {"level": "info", "data": "y"}},
        ),
        (ERROR, Direction.RESPONSE, "tools/call", {**ERROR, "error": {"code": -32602, "message": "no one"}}),
        (ANSWER, Direction.REQUEST, "elicitation/create", {**ANSWER, "result": {"action": "decline"}}),
    ],
)
async def test_a_notification_an_error_or_a_relayed_answer_may_be_modified_into_its_own_kind(
    server: HTTPServer,
    engines: Engines,
    original: dict[str, Any],
    leg: Direction,
    method: str,
    replacement: dict[str, Any],
) -> None:
    url = answering(server, {"verdict": "modify", "modifiedPayload": {"body": replacement}})
    verdict = await engines.ask(webhook(url), asking(original, leg, method))
    assert (verdict.kind, verdict.body) == (VerdictKind.MODIFY, replacement)


@pytest.mark.parametrize(
    ("original", "body", "why"),
    [
        (NOTE, {**NOTE, "id": 1}, "id"),
        (NOTE, {**NOTE, "params": "x"}, "params object"),
        (ERROR, {**ERROR, "error": {"code": 0, "message": "no"}}, "code"),
        (ERROR, {**ERROR, "error": {"code": -32602}}, "message"),
        (ERROR, {**RESULT}, "error object"),
        (ANSWER, {**ANSWER, "id": 3}, "id"),
    ],
)
async def test_a_notification_or_an_error_modified_into_another_kind_of_message_is_a_failure(
    server: HTTPServer, engines: Engines, original: dict[str, Any], body: Any, why: str
) -> None:
    url = answering(server, {"verdict": "modify", "modifiedPayload": {"body": body}})
    with pytest.raises(EngineFailure, match=why):
        await engines.ask(webhook(url), asking(original, Direction.RESPONSE))


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (Response(b"{not json", content_type="application/json"), "not JSON"),
        (Response(b"[1, 2]", content_type="application/json"), "not a JSON object"),
        ({"verdict": "allow"}, "unknown verdict"),
        ({"verdict": "error", "reason": "model overloaded"}, "answered error: model overloaded"),
        (Response(b"", status=302, headers={"Location": "http://127.0.0.1:1/"}), "HTTP 302"),
    ],
)
async def test_garbage_an_unknown_verdict_an_error_or_a_redirect_is_a_failure(
    server: HTTPServer, engines: Engines, answer: Any, why: str
) -> None:
    url = answering(server, answer)
    with pytest.raises(EngineFailure, match=why):
        await engines.ask(webhook(url), asking())
    assert len(received(server)) == 1


@pytest.fixture
def gate(server: HTTPServer) -> Iterator[threading.Event]:
    """Released when the test ends, so a handler held on it lets the server stop."""
    released = threading.Event()
    yield released
    released.set()


async def test_an_engine_that_hangs_is_a_failure_at_its_timeout(
    server: HTTPServer, engines: Engines, gate: threading.Event
) -> None:
    def hang(request: Request) -> Response:
        gate.wait(30)
        return Response('{"verdict": "pass"}')

    server.expect_request("/hook").respond_with_handler(hang)
    started = time.monotonic()
    with pytest.raises(EngineFailure, match=r"did not answer within 0\.3 s"):
        await engines.ask(webhook(server.url_for("/hook"), timeout_s=0.3), asking())
    assert time.monotonic() - started < 2


async def test_a_server_error_is_retried_and_the_second_answer_counts(
    server: HTTPServer, engines: Engines
) -> None:
    url = answering(server, Response(b"", status=500), Response(b"", status=503), {"verdict": "block"})
    verdict = await engines.ask(webhook(url, retries=2), asking())
    assert verdict.kind is VerdictKind.BLOCK
    assert len(received(server)) == 3


async def test_a_client_error_is_not_retried(server: HTTPServer, engines: Engines) -> None:
    url = answering(server, Response(b"", status=400), {"verdict": "pass"})
    with pytest.raises(EngineFailure, match="HTTP 400"):
        await engines.ask(webhook(url, retries=3), asking())
    assert len(received(server)) == 1


async def test_retries_end_with_the_last_failure(server: HTTPServer, engines: Engines) -> None:
    url = answering(server, Response(b"", status=503), Response(b"", status=429))
    with pytest.raises(EngineFailure, match="HTTP 429"):
        await engines.ask(webhook(url, retries=1), asking())
    assert len(received(server)) == 2


async def test_a_refused_connection_is_retried_then_a_failure(engines: Engines) -> None:
    with HTTPServer(host="127.0.0.1", port=0) as closed:
        url = closed.url_for("/hook")
    with pytest.raises(EngineFailure, match="could not be reached"):
        await engines.ask(webhook(url, retries=2), asking())


async def test_an_answer_declaring_more_than_the_cap_is_a_failure_before_its_body_is_read(
    server: HTTPServer, engines: Engines
) -> None:
    size = LIMITS.engine_payload_bytes + 1
    produced: list[int] = []

    def chunks() -> Iterator[bytes]:
        for _ in range(size // 65536 + 1):
            produced.append(65536)
            yield b" " * 65536

    answer = Response(chunks(), headers={"Content-Length": str(size)}, content_type="application/json")
    url = answering(server, answer)
    with pytest.raises(EngineFailure, match="more than 16777216 bytes"):
        await engines.ask(webhook(url), asking())


async def test_an_endless_answer_is_cut_at_the_cap_not_read_to_its_end(
    server: HTTPServer, engines: Engines
) -> None:
    endless = Response(itertools.repeat(b" " * 65536), content_type="application/json")
    url = answering(server, endless)
    with pytest.raises(EngineFailure, match="more than 16777216 bytes"):
        await engines.ask(webhook(url, timeout_s=30), asking())


async def test_an_envelope_over_the_cap_is_a_failure_and_nothing_is_sent(
    server: HTTPServer, engines: Engines
) -> None:
    url = answering(server, {"verdict": "pass"})
    huge = {
        **CALL,
        "params": {"name": "send_email", "arguments": {"body": "x" * LIMITS.engine_payload_bytes}},
    }
    with pytest.raises(EngineFailure, match="was not sent"):
        await engines.ask(webhook(url), asking(huge))
    assert received(server) == []


async def test_a_private_address_is_refused_unless_the_operator_allows_its_network(
    server: HTTPServer,
) -> None:
    engines = Engines([])
    try:
        https = f"https://127.0.0.1:{server.port}/hook"
        with pytest.raises(EngineFailure, match="egress guard refused"):
            await engines.ask(webhook(https), asking())
        with pytest.raises(EngineFailure, match="plain http"):
            await engines.ask(webhook(server.url_for("/hook")), asking())
    finally:
        await engines.aclose()
    assert received(server) == []


async def test_plain_http_goes_only_to_an_address_inside_the_allowed_networks(engines: Engines) -> None:
    for url in ("http://10.0.0.8/hook", "http://engine.example.com/hook", "ftp://127.0.0.1/hook"):
        with pytest.raises(EngineFailure, match=r"plain http|http\(s\) URL"):
            await engines.ask(webhook(url), asking())


async def test_the_test_operation_sends_a_sample_marked_as_a_test_and_reports_verdict_and_duration(
    server: HTTPServer, engines: Engines
) -> None:
    url = answering(server, {"verdict": "block", "reason": "test seen"}, Response(b"", status=404))

    passed = await engines.test(webhook(url))
    failed = await engines.test(webhook(url))

    assert passed.verdict is not None and passed.verdict.reason == "test seen" and passed.failure is None
    assert passed.duration_ms >= 0
    assert (failed.verdict, failed.failure) == (None, "the engine answered HTTP 404")
    sample = json.loads(received(server)[0].get_data())
    assert sample["metadata"]["test"] is True
    assert sample["body"]["method"] == "tools/call"


def test_engines_refuse_a_malformed_allowed_network() -> None:
    with pytest.raises(ValueError, match="not a network"):
        Engines(["10.0.0.0/33"])


async def test_retries_stop_at_the_deadline_of_the_whole_ask(server: HTTPServer, engines: Engines) -> None:
    server.expect_request("/hook").respond_with_data("", status=503)
    started = time.monotonic()
    with pytest.raises(EngineFailure, match=r"HTTP 503|within 0\.3 s"):
        await engines.ask(webhook(server.url_for("/hook"), timeout_s=0.3, retries=5), asking())
    assert time.monotonic() - started < 1
    assert 1 <= len(received(server)) < 6


async def test_a_message_that_is_no_json_is_a_failure_and_nothing_is_sent(
    server: HTTPServer, engines: Engines
) -> None:
    odd = {**CALL, "params": {"name": "send_email", "arguments": {1: "a key that is no string"}}}
    with pytest.raises(EngineFailure, match="cannot be encoded"):
        await engines.ask(webhook(server.url_for("/hook")), asking(odd))
    assert received(server) == []
