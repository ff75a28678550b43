"""An API token stands on its sponsor — the user it acts as, or whoever minted a host agent's token —
and is refused from the next call on once they may no longer use its gateway (product spec §6.1):
no team of theirs granted it and no "View and use all gateways". No caching in between."""

from __future__ import annotations

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from lockgate.domain.capabilities import Capability
from lockgate.store.tokens import create_token
from tests.conftest import DEADLINE, Api, People, RunningGateway, mcp_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

KIM = "kim@example.com"


@pytest.fixture
def gateway(lockgate: RunningGateway, sdk_http_url: str) -> RunningGateway:
    lockgate.declare(
        {
            "servers": [{"name": "fixture", "transport": "http", "url": sdk_http_url}],
            "gateways": [{"name": "g", "servers": [{"server": "fixture", "provisioning": "allow_all"}]}],
            "hosts": [{"name": "agent"}],
        }
    )
    return lockgate


@pytest.fixture
def kim(gateway: RunningGateway, people: People) -> Api:
    """A token minter whose team "eng" is granted gateway g."""
    role = people.role("minter", [Capability.CREATE_AND_MANAGE_API_TOKENS])
    return people.user(KIM, role, ["eng"], ["g"])


async def _echo(gateway: RunningGateway, token: str, text: str) -> str:
    async with mcp_client(gateway.url("g"), token) as client:
        return str((await client.call_tool("echo", {"text": text})).content[0].text)


def _refusal(gateway: RunningGateway, token: str) -> str:
    """The message of the 403 the gateway answers a request with ``token``."""
    response = httpx2.post(
        gateway.url("g"),
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        timeout=DEADLINE,
    )
    assert response.status_code == 403, response.text
    return str(response.json()["error"]["message"])


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
async def test_a_user_removed_from_the_team_is_refused_on_the_next_call_and_restored_when_added_back(
    gateway: RunningGateway, admin: Api, era: str
) -> None:
    token = gateway.token("agent", "g", "ada@example.com")  # ada joins team g-users, granted g
    async with mcp_client(gateway.url("g"), token, mode=era) as client:
        assert (await client.call_tool("echo", {"text": "before"})).content[0].text == "before"
        admin.delete("/teams/g-users/members/ada@example.com").raise_for_status()
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "during"})
        assert "'ada@example.com', who may not use gateway 'g'" in str(refused.value)
        admin.post("/teams/g-users/members", json={"email": "ada@example.com"}).raise_for_status()
        assert (await client.call_tool("echo", {"text": "after"})).content[0].text == "after"


async def test_a_user_never_in_a_team_granted_the_gateway_is_refused(gateway: RunningGateway) -> None:
    key = gateway.settings.key_bytes()
    token = create_token(gateway.engine, key, "agent", "g", "eve@example.com", minted_by=None)[1]

    assert "'eve@example.com', who may not use gateway 'g'" in _refusal(gateway, token)


async def test_taking_the_gateway_back_from_the_team_refuses_its_members_tokens(
    gateway: RunningGateway, admin: Api
) -> None:
    token = gateway.token("agent", "g", "ada@example.com")
    assert await _echo(gateway, token, "granted") == "granted"

    admin.delete("/gateways/g/teams/g-users").raise_for_status()

    assert "no team of theirs is granted it" in _refusal(gateway, token)


async def test_an_agent_token_stands_on_whoever_minted_it_until_they_leave_the_team(
    gateway: RunningGateway, admin: Api, kim: Api
) -> None:
    minted = kim.post("/tokens", json={"host": "agent", "gateway": "g"})
    assert minted.status_code == 201, minted.text
    token = minted.json()["token"]
    assert await _echo(gateway, token, "sponsored") == "sponsored"

    admin.delete(f"/teams/eng/members/{KIM}").raise_for_status()
    assert f"stands on '{KIM}', who may not use gateway 'g'" in _refusal(gateway, token)

    admin.post("/teams/eng/members", json={"email": KIM}).raise_for_status()
    assert await _echo(gateway, token, "again") == "again"


async def test_an_agent_token_is_refused_once_its_sponsor_is_deactivated(
    gateway: RunningGateway, admin: Api, kim: Api
) -> None:
    token = kim.post("/tokens", json={"host": "agent", "gateway": "g"}).json()["token"]

    admin.patch(f"/users/{KIM}", json={"active": False}).raise_for_status()

    assert f"stands on '{KIM}', who is deactivated" in _refusal(gateway, token)


async def test_an_agent_token_minted_by_someone_who_may_use_every_gateway_needs_no_team(
    gateway: RunningGateway, admin: Api
) -> None:
    token = admin.post("/tokens", json={"host": "agent", "gateway": "g"}).json()["token"]

    assert await _echo(gateway, token, "view and use all") == "view and use all"


async def test_an_agent_token_the_instance_operator_minted_stands_until_revoked(
    gateway: RunningGateway,
) -> None:
    assert await _echo(gateway, gateway.token("agent", "g"), "operator") == "operator"


async def test_an_agent_token_is_refused_once_its_sponsor_loses_view_and_use_all_gateways(
    gateway: RunningGateway, admin: Api, people: People
) -> None:
    minting = [Capability.CREATE_AND_MANAGE_API_TOKENS]
    people.role("minter", minting)
    roaming = people.user(
        "ro@example.com", people.role("roamer", [*minting, Capability.VIEW_AND_USE_ALL_GATEWAYS])
    )
    token = roaming.post("/tokens", json={"host": "agent", "gateway": "g"}).json()["token"]
    assert await _echo(gateway, token, "every gateway") == "every gateway"

    admin.patch("/users/ro@example.com", json={"role": "minter"}).raise_for_status()

    assert "'ro@example.com', who may not use gateway 'g'" in _refusal(gateway, token)
