"""Bounds on what servers send: an answer over ``LOCKGATE_MAX_RESPONSE_BYTES`` fails that call with
-32012 naming the server and the limit, whatever carried it (an HTTP body, an SSE event, a stdio
line); the gateway keeps serving, and a stdio server that sent one is restarted."""

from __future__ import annotations

import sys

import pytest
from mcp.shared.exceptions import MCPError

from lockgate.settings import Settings
from tests.conftest import RunningGateway, mcp_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
LIMIT = 16 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"max_response_bytes": LIMIT})


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
                        {"server": "local", "prefix": "local"},
                        {"server": "remote", "prefix": "remote"},
                    ],
                }
            ],
            "hosts": [{"name": "agent"}],
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
