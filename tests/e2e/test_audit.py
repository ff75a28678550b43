"""Audit: every client message leaves exactly the legs that happened, joined by correlation id, and
no stored leg holds a secret."""

from __future__ import annotations

import itertools
from typing import Any

import httpx2
import pytest

from lockgate.store.audit_log import load_entries
from lockgate.store.schema import audit_entries
from tests.conftest import RunningGateway, free_port

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
FORWARDED_OK = [
    "proxy_request_success",
    "mcp_request_success",
    "mcp_response_success",
    "proxy_response_success",
]
FORWARDED_ERR = ["proxy_request_success", "mcp_request_success", "mcp_response_error", "proxy_response_error"]
REFUSED = ["proxy_request_success", "gateway_refused", "proxy_response_error"]
NOT_SENT = ["proxy_request_success", "mcp_request_error", "proxy_response_error"]
SECRETS = ["s3cr3t-password-value", "s3cr3t-client-secret", "s3cr3t-refresh-token", "s3cr3t-cookie"]
_ids = itertools.count(1)


def modern_call(tool: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    body = {
        "jsonrpc": "2.0",
        "id": next(_ids),
        "method": "tools/call",
        "params": {
            "name": tool,
            "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "audit-test", "version": "1"},
            },
        },
    }
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
    }
    return body, headers


@pytest.fixture
def gateway(lockgate: RunningGateway, sdk_http_url: str) -> RunningGateway:
    lockgate.declare(
        {
            "servers": [
                {"name": "fixture", "transport": "http", "url": sdk_http_url},
                {"name": "down", "transport": "http", "url": f"http://127.0.0.1:{free_port()}/mcp"},
                {"name": "off", "transport": "http", "url": sdk_http_url, "enabled": False},
            ],
            "gateways": [
                {
                    "name": "g",
                    "servers": [
                        {"server": "fixture", "provisioning": "allow_all"},
                        {"server": "down", "provisioning": "allow_all", "prefix": "down"},
                        {"server": "off", "provisioning": "allow_all", "prefix": "off"},
                    ],
                }
            ],
            "hosts": [{"name": "agent"}],
        }
    )
    return lockgate


async def test_each_call_leaves_exactly_the_legs_that_happened_joined_by_correlation_id(
    gateway: RunningGateway,
) -> None:
    token = gateway.token("agent", "g", "ada@example.com")
    cases = [
        (token, "echo", {"text": "hi"}, FORWARDED_OK),
        (token, "fail", {"message": "boom"}, FORWARDED_ERR),
        (token, "no_such_tool", {}, FORWARDED_ERR),  # the only unprefixed server answers for its names
        (token, "off__echo", {"text": "x"}, REFUSED),
        (token, "down__echo", {"text": "x"}, NOT_SENT),
        ("lg_not-a-token", "echo", {"text": "x"}, REFUSED),
    ] * 3
    expected: dict[str, list[str]] = {}
    async with httpx2.AsyncClient(timeout=30) as http:
        for bearer, tool, arguments, legs in cases:
            body, headers = modern_call(tool, arguments)
            response = await http.post(
                gateway.url("g"), json=body, headers=headers | {"Authorization": f"Bearer {bearer}"}
            )
            expected[response.headers["x-correlation-id"]] = legs
    gateway.flush_audit()
    for correlation_id, legs in expected.items():
        entries = load_entries(gateway.engine, correlation_id=correlation_id)
        assert [e["type"] for e in entries] == legs, entries
    stored = load_entries(gateway.engine, limit=10_000)
    assert len(stored) == sum(len(legs) for legs in expected.values())
    attributed = [e for e in stored if e["user_email"] is not None]
    assert {e["user_email"] for e in attributed} == {"ada@example.com"}
    assert {e["server"] for e in stored if e["type"].startswith("mcp_")} == {"fixture", "down"}


async def test_no_stored_leg_holds_a_planted_secret(gateway: RunningGateway) -> None:
    token = gateway.token("agent", "g")
    planted = {
        "text": "visible",
        "password": SECRETS[0],
        "nested": {"client_secret": SECRETS[1], "refresh_token": SECRETS[2]},
    }
    async with httpx2.AsyncClient(timeout=30) as http:
        for tool in ("echo", "no_such_tool", "down__echo"):
            body, headers = modern_call(tool, planted)
            headers |= {"Authorization": f"Bearer {token}", "Cookie": f"session={SECRETS[3]}"}
            await http.post(gateway.url("g"), json=body, headers=headers)
    gateway.flush_audit()
    with gateway.engine.connect() as conn:
        rows = [r._asdict() for r in conn.execute(audit_entries.select())]
    assert rows
    dump = repr(rows)
    for secret in [*SECRETS, token]:
        assert secret not in dump
    assert "visible" in dump and "[REDACTED]" in dump
