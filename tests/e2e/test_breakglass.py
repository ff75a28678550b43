"""Break-glass: disabling a host, connection, gateway or server refuses the very next call, and
re-enabling restores it; a revoked token is refused on the next call. No caching in between."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mcp.shared.exceptions import MCPError

from lockgate.store.catalog import set_connection_enabled, set_enabled
from lockgate.store.tokens import list_tokens, revoke_token
from tests.conftest import RunningGateway, mcp_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture
def gateway(lockgate: RunningGateway, sdk_http_url: str) -> RunningGateway:
    lockgate.declare(
        {
            "servers": [{"name": "fixture", "transport": "http", "url": sdk_http_url}],
            "gateways": [{"name": "g", "servers": [{"server": "fixture"}]}],
            "hosts": [{"name": "agent"}],
        }
    )
    return lockgate


TOGGLES: dict[str, Callable[[RunningGateway, bool], object]] = {
    "host": lambda gw, on: set_enabled(gw.engine, "hosts", "agent", on),
    "connection": lambda gw, on: set_connection_enabled(gw.engine, "agent", "g", None, on),
    "gateway": lambda gw, on: set_enabled(gw.engine, "gateways", "g", on),
}


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
@pytest.mark.parametrize("layer", list(TOGGLES))
async def test_disabling_a_layer_refuses_the_next_call_and_enabling_restores_it(
    gateway: RunningGateway, layer: str, era: str
) -> None:
    token = gateway.token("agent", "g")
    async with mcp_client(gateway.url("g"), token, mode=era) as client:
        assert (await client.call_tool("echo", {"text": "before"})).content[0].text == "before"
        TOGGLES[layer](gateway, False)
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "during"})
        assert "disabled" in str(refused.value)
        TOGGLES[layer](gateway, True)
        assert (await client.call_tool("echo", {"text": "after"})).content[0].text == "after"


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
async def test_disabled_server_disappears_from_lists_and_its_calls_fail_until_enabled(
    gateway: RunningGateway, era: str
) -> None:
    token = gateway.token("agent", "g")
    async with mcp_client(gateway.url("g"), token, mode=era) as client:
        assert "echo" in {t.name for t in (await client.list_tools(cache_mode="bypass")).tools}
        set_enabled(gateway.engine, "servers", "fixture", False)
        assert (await client.list_tools(cache_mode="bypass")).tools == []
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "x"})
        assert "server 'fixture' is disabled" in str(refused.value)
        set_enabled(gateway.engine, "servers", "fixture", True)
        assert "echo" in {t.name for t in (await client.list_tools(cache_mode="bypass")).tools}
        assert (await client.call_tool("echo", {"text": "back"})).content[0].text == "back"


async def test_revoked_token_is_refused_on_the_next_call(gateway: RunningGateway) -> None:
    token = gateway.token("agent", "g")
    async with mcp_client(gateway.url("g"), token, mode="2026-07-28") as client:
        assert (await client.call_tool("echo", {"text": "ok"})).content[0].text == "ok"
        (row,) = list_tokens(gateway.engine)
        revoke_token(gateway.engine, row["id"])
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "no"})
        assert "revoked" in str(refused.value)


async def test_another_token_of_the_same_host_keeps_working_after_one_is_revoked(
    gateway: RunningGateway,
) -> None:
    first, second = gateway.token("agent", "g"), gateway.token("agent", "g")
    revoke_token(gateway.engine, list_tokens(gateway.engine)[0]["id"])
    async with mcp_client(gateway.url("g"), second, mode="2026-07-28") as client:
        assert (await client.call_tool("echo", {"text": "ok"})).content[0].text == "ok"
    with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the 401 differently per era
        async with mcp_client(gateway.url("g"), first, mode="2026-07-28") as client:
            await client.call_tool("echo", {"text": "no"})


async def test_the_query_form_of_the_gateway_url_reaches_the_same_gateway(gateway: RunningGateway) -> None:
    url = gateway.url("g").replace("/mcp/g", "/mcp?gateway=g")
    async with mcp_client(url, gateway.token("agent", "g"), mode="2026-07-28") as client:
        assert (await client.call_tool("echo", {"text": "query"})).content[0].text == "query"
