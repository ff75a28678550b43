"""The gateway's bounds, through a running gateway.

An answer over ``LOCKGATE_MAX_RESPONSE_BYTES`` fails that call with -32012 naming the server and the
limit, whatever carried it (an HTTP body, an SSE event, a stdio line); the gateway keeps serving, and
a stdio server that sent one is restarted. Legacy sessions are capped per connection and in all, and
a client past the cap is refused without ending anyone's session."""

from __future__ import annotations

import sys
from typing import Any

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from lockgate.settings import Settings
from tests.conftest import DEADLINE, RunningGateway, mcp_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
LIMIT = 16 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"max_response_bytes": LIMIT, "max_sessions": 2, "max_sessions_per_connection": 1}
    )


@pytest.fixture
def gateway(lockgate: RunningGateway, sdk_http_url: str) -> RunningGateway:
    stdio = ["-m", "tests.fixtures.sdk_server", "--stdio"]
    lockgate.declare(
        {
            "servers": [
                {"name": "local", "transport": "stdio", "command": sys.executable, "args": stdio},
                {"name": "remote", "transport": "http", "url": sdk_http_url},
            ],
            "gateways": [
                {
                    "name": "g",
                    "servers": [
                        {"server": "local", "provisioning": "allow_all", "prefix": "local"},
                        {"server": "remote", "provisioning": "allow_all", "prefix": "remote"},
                    ],
                }
            ],
            "hosts": [{"name": "agent"}, {"name": "other"}, {"name": "third"}],
        }
    )
    return lockgate


# legacy: the SDK server answers over SSE (one event over the limit); modern: one JSON body.
@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
@pytest.mark.parametrize("server", ["local", "remote"])
async def test_an_answer_over_the_size_limit_fails_that_call_and_the_next_one_is_served(
    gateway: RunningGateway, era: str, server: str
) -> None:
    async with mcp_client(gateway.url("g"), gateway.token("agent", "g"), mode=era) as client:
        first_pid = (await client.call_tool("local__pid", {})).content[0].text
        with pytest.raises(MCPError) as refused:
            await client.call_tool(f"{server}__echo", {"text": "x" * (2 * LIMIT)})
        error = refused.value.error
        assert error.code == -32012
        assert f"{server!r}" in error.message and str(LIMIT) in error.message
        assert error.data == {"server": server, "reason": "response_too_large", "limit": LIMIT}
        assert (await client.call_tool(f"{server}__echo", {"text": "small"})).content[0].text == "small"
        restarted = (await client.call_tool("local__pid", {})).content[0].text != first_pid
        assert restarted is (server == "local")


def legacy_post(
    gateway: RunningGateway, token: str, message: dict[str, Any], session: str | None = None
) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    if session is not None:
        headers |= {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
    return httpx2.post(
        gateway.url("g"), json={"jsonrpc": "2.0", "id": 1, **message}, headers=headers, timeout=DEADLINE
    )


def initialize(gateway: RunningGateway, token: str) -> httpx2.Response:
    params = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    }
    return legacy_post(gateway, token, {"method": "initialize", "params": params})


def pings(gateway: RunningGateway, token: str, session: str) -> bool:
    return legacy_post(gateway, token, {"method": "ping"}, session).status_code == 200


def test_legacy_sessions_past_their_caps_end_the_same_connections_oldest_or_are_refused_with_503(
    gateway: RunningGateway,
) -> None:
    agent, other, third = (gateway.token(host, "g") for host in ("agent", "other", "third"))
    first = initialize(gateway, agent).headers["mcp-session-id"]
    second = initialize(gateway, agent).headers["mcp-session-id"]  # the agent's cap is one: ends first
    others = initialize(gateway, other).headers["mcp-session-id"]
    refused = initialize(gateway, third)
    assert refused.status_code == 503 and "mcp-session-id" not in refused.headers
    error = refused.json()["error"]
    assert error["code"] == -32016 and "maximum of 2 sessions" in error["message"]
    assert not pings(gateway, agent, first)
    assert pings(gateway, agent, second) and pings(gateway, other, others)
