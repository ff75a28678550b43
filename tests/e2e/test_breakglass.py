"""Break-glass through the control plane: disabling a host, connection, gateway, user or server
refuses the very next call, and re-enabling restores it; a revoked token is refused on the next
call. The gateway answers from memory only while nothing that affects access has changed, and every
writer (the API, the admin MCP endpoint, the CLI, a declaration, another process's own SQL) is
seen on the next call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from sqlalchemy import delete, update
from typer.testing import CliRunner

from lockgate.cli import app as cli
from lockgate.store.connections import agent_email
from lockgate.store.schema import hosts, team_gateways
from tests.conftest import TEST_MASTER_KEY, Api, RunningGateway, mcp_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def declaration(url: str, *, host_enabled: bool = True) -> dict[str, object]:
    return {
        "servers": [{"name": "fixture", "transport": "http", "url": url}],
        "gateways": [{"name": "g", "servers": [{"server": "fixture", "provisioning": "allow_all"}]}],
        "hosts": [{"name": "agent", "enabled": host_enabled}],
    }


@pytest.fixture
def gateway(lockgate: RunningGateway, sdk_http_url: str) -> RunningGateway:
    lockgate.declare(declaration(sdk_http_url))
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


async def _disable_host_through_the_admin_mcp_endpoint(
    gateway: RunningGateway, admin: Api, _url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with mcp_client(admin.base + "/mcp", admin.token, mode="2026-07-28") as agent:
        assert not (await agent.call_tool("hosts_disable", {"host": "agent"})).is_error


async def _disable_host_through_the_cli(
    gateway: RunningGateway, _admin: Api, _url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(gateway.settings.data_dir))
    monkeypatch.setenv("LOCKGATE_DATABASE_URL", str(gateway.settings.resolved_database_url))
    monkeypatch.setenv("LOCKGATE_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("LOCKGATE_MASTER_KEY", TEST_MASTER_KEY)
    monkeypatch.delenv("LOCKGATE_URL", raising=False)
    # in a thread of its own: the CLI runs an event loop of its own
    result = await anyio.to_thread.run_sync(CliRunner().invoke, cli, ["hosts", "disable", "agent"])
    assert result.exit_code == 0, result.output


async def _disable_host_through_a_declaration(
    gateway: RunningGateway, _admin: Api, url: str, _monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway.declare(declaration(url, host_enabled=False))


async def _disable_host_with_sql_from_another_process(
    gateway: RunningGateway, _admin: Api, _url: str, _monkeypatch: pytest.MonkeyPatch
) -> None:
    with gateway.engine.begin() as conn:  # the gateway's own code plays no part in this write
        conn.execute(update(hosts).where(hosts.c.name == "agent").values(enabled=False))


@pytest.mark.parametrize(
    "disable_host",
    [
        _disable_host_through_the_admin_mcp_endpoint,
        _disable_host_through_the_cli,
        _disable_host_through_a_declaration,
        _disable_host_with_sql_from_another_process,
    ],
)
async def test_a_host_disabled_by_any_writer_is_refused_on_the_next_call(
    gateway: RunningGateway,
    admin: Api,
    sdk_http_url: str,
    monkeypatch: pytest.MonkeyPatch,
    disable_host: Callable[..., Awaitable[None]],
) -> None:
    async with mcp_client(gateway.url("g"), gateway.token("agent", "g"), mode="2026-07-28") as client:
        for text in ("first", "answered again while nothing changed"):
            assert (await client.call_tool("echo", {"text": text})).content[0].text == text
        await disable_host(gateway, admin, sdk_http_url, monkeypatch)
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "during"})
        assert "host 'agent' is disabled" in str(refused.value)


async def test_a_user_whose_team_loses_the_gateway_is_refused_on_the_next_call(
    gateway: RunningGateway,
) -> None:
    token = gateway.token("agent", "g", user="ada@example.com")
    async with mcp_client(gateway.url("g"), token, mode="2026-07-28") as client:
        assert (await client.call_tool("echo", {"text": "granted"})).content[0].text == "granted"
        with gateway.engine.begin() as conn:
            conn.execute(delete(team_gateways))
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "no longer"})
        assert "no team of theirs is granted it" in str(refused.value)
