"""The MCP endpoint in process: malformed bodies are refused with the right error and leave their legs,
strangers cannot write large data into the audit, and a failing audit refuses messages at once."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import text

from lockgate.audit.recorder import AuditUnavailableError
from lockgate.dataplane.errors import (
    AUDIT_UNAVAILABLE,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    PARSE_ERROR,
    UPSTREAM_FAILED,
)
from lockgate.dataplane.exchange import Exchange
from lockgate.domain.mcp import META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, MODERN_VERSIONS
from tests.dataplane.conftest import INITIALIZE, InProcessGateway

pytestmark = pytest.mark.anyio
REFUSED_MALFORMED = ["proxy_request_error", "gateway_refused", "proxy_response_error"]
PING = b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}'


def _deep_call(depth: int, request_id: bytes = b"9") -> bytes:
    params = b'{"name": "echo", "arguments": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"
    return b'{"jsonrpc": "2.0", "id": ' + request_id + b', "method": "tools/call", "params": ' + params + b"}"


async def test_a_call_with_params_nested_300_deep_is_an_invalid_request_and_leaves_its_legs(
    gateway: InProcessGateway,
) -> None:
    session = await gateway.initialize()

    response = await gateway.post(_deep_call(300), {"Mcp-Session-Id": session})

    assert response.status_code == 400
    assert response.json()["id"] == 9
    assert response.json()["error"]["code"] == INVALID_REQUEST
    legs = await gateway.legs(response)
    assert [leg["type"] for leg in legs] == REFUSED_MALFORMED
    assert legs[0]["method"] == "tools/call"
    assert legs[0]["user_email"] is None  # not authenticated: the body was never trusted
    assert "nested deeper than 128 levels" in legs[1]["error"]


async def test_an_object_id_on_a_legacy_session_is_an_invalid_request_and_leaves_its_legs(
    gateway: InProcessGateway,
) -> None:
    session = await gateway.initialize()

    response = await gateway.post(
        b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "tools/list"}', {"Mcp-Session-Id": session}
    )

    assert response.status_code == 400
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": INVALID_REQUEST, "message": "the id must be a string, a number or null"},
    }
    assert [leg["type"] for leg in await gateway.legs(response)] == REFUSED_MALFORMED


@pytest.mark.parametrize(
    "body",
    [b"\xef\xbb\xbf" + PING, PING.replace(b"ping", b"p\xffng"), b"<xml/>"],
    ids=["bom", "invalid-utf8", "not-json"],
)
async def test_a_body_that_is_not_json_is_a_parse_error_and_leaves_its_legs(
    gateway: InProcessGateway, body: bytes
) -> None:
    response = await gateway.post(body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == PARSE_ERROR
    assert [leg["type"] for leg in await gateway.legs(response)] == REFUSED_MALFORMED


async def test_a_body_over_the_limit_is_refused_with_413_and_leaves_its_legs(
    gateway: InProcessGateway,
) -> None:
    response = await gateway.post(b"[" * (4 * 1024 * 1024 + 1))

    assert response.status_code == 413
    legs = await gateway.legs(response)
    assert [leg["type"] for leg in legs] == REFUSED_MALFORMED
    assert legs[0]["body"] is None


async def test_a_stranger_cannot_write_a_large_body_into_the_audit(gateway: InProcessGateway) -> None:
    blob = b"A" * 1_500_000
    body = (
        b'{"jsonrpc": "2.0", "id": "' + blob + b'", "method": "tools/call", "params": {"x": "' + blob + b'"}}'
    )

    response = await gateway.post(body, token=None)

    assert response.status_code == 401
    legs = await gateway.legs(response)
    assert [leg["type"] for leg in legs] == [
        "proxy_request_success",
        "gateway_refused",
        "proxy_response_error",
    ]
    assert sum(len(leg["body"] or "") + len(leg["error"] or "") for leg in legs) < 4_000
    assert orjson.loads(legs[0]["body"])["bytes"] == len(body)


async def test_a_failing_audit_store_refuses_new_messages_at_once_with_503_until_it_recovers(
    gateway: InProcessGateway,
) -> None:
    with gateway.engine.begin() as conn:  # the store refuses every audit write, as a full disk would
        conn.execute(text("ALTER TABLE audit_entries RENAME TO audit_entries_away"))
    try:
        admitted = await gateway.post(INITIALIZE)
        assert admitted.status_code == 200
        with pytest.raises(AuditUnavailableError):
            await gateway.recorder.flush(deadline=1.0)

        refused = await gateway.post(INITIALIZE)
        health = await gateway.http.get("/healthz")
    finally:
        with gateway.engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_entries_away RENAME TO audit_entries"))

    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == AUDIT_UNAVAILABLE
    assert refused.json()["error"]["message"] == "audit unavailable: the audit store is failing"
    assert health.status_code == 503
    assert health.json()["audit"]["state"] == "failing"
    assert health.json()["audit"]["backlog"] == 2  # the admitted initialize's request and response legs

    assert [leg["type"] for leg in await gateway.legs(admitted)] == [
        "proxy_request_success",
        "proxy_response_success",
    ]
    recovered = await gateway.http.get("/healthz")
    assert recovered.status_code == 200
    assert recovered.json()["audit"] | {"state": "ok", "backlog": 0} == recovered.json()["audit"]
    assert (await gateway.post(INITIALIZE)).status_code == 200


class DeepForwarder:
    """Stands in for the forwarder: every server answers with a result nested 300 levels deep."""

    async def handle(self, _exchange: Exchange) -> dict[str, Any]:
        result: dict[str, Any] = {"content": []}
        for _ in range(300):
            result = {"a": result}
        return {"result": result}


async def test_an_answer_nested_too_deep_to_relay_is_a_broken_answer_error_and_leaves_its_legs(
    gateway: InProcessGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await gateway.initialize()
    monkeypatch.setattr(gateway.app.endpoint, "_forwarder", DeepForwarder())

    response = await gateway.post(_deep_call(3), {"Mcp-Session-Id": session})

    assert response.status_code == 200
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": 9,
        "error": {"code": UPSTREAM_FAILED, "message": "the server's answer cannot be relayed"},
    }
    assert [leg["type"] for leg in await gateway.legs(response)] == [
        "proxy_request_success",
        "proxy_response_error",
    ]


async def test_an_internal_error_answers_500_naming_its_correlation_id_in_the_message_header_and_data(
    gateway: InProcessGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(ex: Exchange) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(gateway.app.state.lockgate.forwarder, "handle", broken)
    meta = {META_PROTOCOL_VERSION: MODERN_VERSIONS[0], META_CLIENT_CAPABILITIES: {}}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x", "_meta": meta}}
    headers = {"MCP-Protocol-Version": MODERN_VERSIONS[0], "Mcp-Method": "tools/call", "Mcp-Name": "x"}

    response = await gateway.post(orjson.dumps(body), headers)

    correlation_id = response.headers["x-correlation-id"]
    error = response.json()["error"]
    assert response.status_code == 500
    assert error["code"] == INTERNAL_ERROR
    assert correlation_id in error["message"]
    assert error["data"] == {"correlation_id": correlation_id}
    assert "a bug" not in response.text
