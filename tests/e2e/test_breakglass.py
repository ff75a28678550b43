"""Break-glass through the control plane: disabling a host, connection, gateway, user or server
refuses the very next call, and re-enabling restores it; a revoked token is refused on the next
call. No caching in between."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from mcp.shared.exceptions import MCPError

from lockgate.store.connections import agent_email
from tests.conftest import Api, RunningGateway, mcp_client

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


def _toggle(path: str) -> Callable[[Api, bool], object]:
    return lambda api, on: api.post(f"{path}/{'enable' if on else 'disable'}").raise_for_status()


def _connection(api: Api, on: bool) -> object:
    (connection,) = api.get("/connections", params={"host": "agent", "gateway": "g"}).json()["items"]
    return _toggle(f"/connections/{connection['id']}")(api, on)


def _user(api: Api, on: bool) -> object:
    return api.patch(f"/users/{agent_email('agent')}", json={"active": on}).raise_for_status()


TOGGLES: dict[str, Callable[[Api, bool], object]] = {
    "host": _toggle("/hosts/agent"),
    "connection": _connection,
    "gateway": _toggle("/gateways/g"),
    "user": _user,
}


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
@pytest.mark.parametrize("layer", list(TOGGLES))
async def test_disabling_a_layer_refuses_the_next_call_and_enabling_restores_it(
    gateway: RunningGateway, admin: Api, layer: str, era: str
) -> None:
    token = gateway.token("agent", "g")
    async with mcp_client(gateway.url("g"), token, mode=era) as client:
        assert (await client.call_tool("echo", {"text": "before"})).content[0].text == "before"
        TOGGLES[layer](admin, False)
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "during"})
        assert "disabled" in str(refused.value) or "deactivated" in str(refused.value)
        TOGGLES[layer](admin, True)
        assert (await client.call_tool("echo", {"text": "after"})).content[0].text == "after"


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
async def test_disabled_server_disappears_from_lists_and_its_calls_fail_until_enabled(
    gateway: RunningGateway, admin: Api, era: str
) -> None:
    token = gateway.token("agent", "g")
    async with mcp_client(gateway.url("g"), token, mode=era) as client:
        assert "echo" in {t.name for t in (await client.list_tools(cache_mode="bypass")).tools}
        admin.post("/servers/fixture/disable").raise_for_status()
        assert (await client.list_tools(cache_mode="bypass")).tools == []
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "x"})
        assert "server 'fixture' is disabled" in str(refused.value)
        admin.post("/servers/fixture/enable").raise_for_status()
        assert "echo" in {t.name for t in (await client.list_tools(cache_mode="bypass")).tools}
        assert (await client.call_tool("echo", {"text": "back"})).content[0].text == "back"


async def test_revoked_token_is_refused_on_the_next_call(gateway: RunningGateway, admin: Api) -> None:
    token = gateway.token("agent", "g")
    async with mcp_client(gateway.url("g"), token, mode="2026-07-28") as client:
        assert (await client.call_tool("echo", {"text": "ok"})).content[0].text == "ok"
        (row,) = admin.get("/tokens").json()["items"]
        admin.post(f"/tokens/{row['id']}/revoke").raise_for_status()
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "no"})
        assert "revoked" in str(refused.value)


async def test_another_token_of_the_same_host_keeps_working_after_one_is_revoked(
    gateway: RunningGateway, admin: Api
) -> None:
    first, second = gateway.token("agent", "g"), gateway.token("agent", "g")
    oldest = min(admin.get("/tokens").json()["items"], key=lambda t: t["created_at"])
    admin.post(f"/tokens/{oldest['id']}/revoke").raise_for_status()
    async with mcp_client(gateway.url("g"), second, mode="2026-07-28") as client:
        assert (await client.call_tool("echo", {"text": "ok"})).content[0].text == "ok"
    with pytest.raises(Exception):  # noqa: B017 - the SDK wraps the 401 differently per era
        async with mcp_client(gateway.url("g"), first, mode="2026-07-28") as client:
            await client.call_tool("echo", {"text": "no"})


async def test_the_query_form_of_the_gateway_url_reaches_the_same_gateway(gateway: RunningGateway) -> None:
    url = gateway.url("g").replace("/mcp/g", "/mcp?gateway=g")
    async with mcp_client(url, gateway.token("agent", "g"), mode="2026-07-28") as client:
        assert (await client.call_tool("echo", {"text": "query"})).content[0].text == "query"
