"""Identity brokering on the data plane: each call goes upstream with the calling user's own
identity (per-user scheme) or the service account (shared scheme), never the client's token, and an
identity's enabled flag is read on every call (product spec §4.2, §5.4)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from mcp.shared.exceptions import MCPError
from sqlalchemy import select

from lockgate.domain.model import Availability, IdentityKind
from lockgate.store.identities import create_identity, fetch_identity, save_identity_headers
from lockgate.store.people import ensure_user
from lockgate.store.schema import servers
from tests.conftest import TEST_VAULT, Api, RunningGateway, mcp_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
HOST = "agent"


def _identity(
    lockgate: RunningGateway, name: str, owner: str | None, key: str, available: Availability
) -> None:
    with lockgate.engine.begin() as conn:
        server_id = conn.execute(select(servers.c.id).where(servers.c.name == "fixture")).scalar_one()
        owner_id = ensure_user(conn, owner) if owner else None
        create_identity(
            conn,
            TEST_VAULT,
            name=name,
            server_id=server_id,
            owner_id=owner_id,
            kind=IdentityKind.HEADERS,
            availability=available,
            headers={"X-Api-Key": key},
        )


@pytest.fixture
def gateway(lockgate: RunningGateway, sdk_http_url: str) -> RunningGateway:
    """One server assigned twice on gateway ``g``: per-user as ``mine__*``, shared as ``bot__*``."""
    lockgate.declare(
        {
            "servers": [
                {"name": "fixture", "transport": "http", "url": sdk_http_url, "headers": {"X-Static": "s"}}
            ],
            "hosts": [{"name": HOST}],
        }
    )
    _identity(lockgate, "bot", None, "service-account-key", Availability.GLOBAL)
    _identity(lockgate, "alice/fixture", "alice@example.com", "alice-key", Availability.PRIVATE)
    _identity(lockgate, "bob/fixture", "bob@example.com", "bob-key", Availability.PRIVATE)
    ensure = {"name": "g", "servers": [
        {"server": "fixture", "name": "mine", "prefix": "mine", "identity_scheme": "per_user"},
        {"server": "fixture", "name": "bot", "prefix": "bot", "identity_scheme": "shared", "identity": "bot"},
    ]}  # fmt: skip
    for assignment in ensure["servers"]:
        assignment["provisioning"] = "allow_all"
    lockgate.declare({"gateways": [ensure]})
    return lockgate


async def _refusal(lockgate: RunningGateway, token: str, tool: str) -> Any:
    """The JSON-RPC error data a call is refused with."""
    async with mcp_client(lockgate.url("g"), token) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool(tool, {})
    return refused.value.error.data


async def _seen(lockgate: RunningGateway, token: str, tool: str) -> dict[str, str]:
    async with mcp_client(lockgate.url("g"), token) as client:
        result = await client.call_tool(tool, {})
    text = result.content[0].text  # type: ignore[union-attr]
    return dict(line.split(": ", 1) for line in text.splitlines())


async def test_two_users_of_one_host_reach_the_server_each_with_their_own_credential(
    gateway: RunningGateway,
) -> None:
    alice = gateway.token(HOST, "g", "alice@example.com")
    bob = gateway.token(HOST, "g", "bob@example.com")
    for _ in range(2):  # pooled sessions stay per identity on reuse
        seen_by_alice = await _seen(gateway, alice, "mine__headers")
        seen_by_bob = await _seen(gateway, bob, "mine__headers")
        assert seen_by_alice["x-api-key"] == "alice-key"
        assert seen_by_bob["x-api-key"] == "bob-key"
    for seen in (seen_by_alice, seen_by_bob):
        assert seen["x-static"] == "s"  # the server's own headers still go along
        assert all(token not in value for value in seen.values() for token in (alice, bob))


async def test_a_shared_assignment_shows_the_service_account_to_every_user(gateway: RunningGateway) -> None:
    for email in ("alice@example.com", "bob@example.com"):
        seen = await _seen(gateway, gateway.token(HOST, "g", email), "bot__headers")
        assert seen["x-api-key"] == "service-account-key"


async def test_a_user_without_an_identity_is_told_where_to_connect_and_sees_no_per_user_tools(
    gateway: RunningGateway,
) -> None:
    carol = gateway.token(HOST, "g", "carol@example.com")
    async with mcp_client(gateway.url("g"), carol) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "bot__echo" in names
        assert not any(name.startswith("mine__") for name in names)
        with pytest.raises(MCPError) as refused:
            await client.call_tool("mine__headers", {})
    error = refused.value.error
    assert error.code == -32014
    assert isinstance(error.data, dict) and error.data["reason"] == "identity_required"
    link = error.data["connect_url"]
    assert link.startswith(gateway.settings.resolved_public_url + "/connect/") and "gateway=g" in link
    assert link in error.message


def _toggle(admin: Api, identity: str, enabled: bool) -> None:
    """Flip an identity's break-glass toggle through the control plane."""
    action = "enable" if enabled else "disable"
    admin.post(f"/identities/{quote(identity, safe='')}/{action}").raise_for_status()


async def test_disabling_an_identity_refuses_the_next_call_and_enabling_it_restores_it(
    gateway: RunningGateway, admin: Api
) -> None:
    alice = gateway.token(HOST, "g", "alice@example.com")
    assert (await _seen(gateway, alice, "mine__headers"))["x-api-key"] == "alice-key"
    _toggle(admin, "alice/fixture", False)
    assert (await _refusal(gateway, alice, "mine__headers"))["reason"] == "identity_disabled"
    _toggle(admin, "alice/fixture", True)
    assert (await _seen(gateway, alice, "mine__headers"))["x-api-key"] == "alice-key"


async def test_disabling_the_shared_identity_refuses_everyone_on_that_assignment_only(
    gateway: RunningGateway, admin: Api
) -> None:
    bob = gateway.token(HOST, "g", "bob@example.com")
    _toggle(admin, "bot", False)
    data = await _refusal(gateway, bob, "bot__headers")
    assert data["reason"] == "identity_disabled" and "connect_url" not in data
    assert (await _seen(gateway, bob, "mine__headers"))["x-api-key"] == "bob-key"


@pytest.mark.parametrize(
    "headers", [{"X-Api-Key": "alice-key\r\nX-Injected: 1"}, {"Host": "attacker.example"}]
)
async def test_an_identity_stored_with_an_unsendable_header_is_refused_not_sent(
    gateway: RunningGateway, headers: dict[str, str]
) -> None:
    # as a row stored before values were checked holds it
    with gateway.engine.begin() as conn:
        save_identity_headers(conn, TEST_VAULT, fetch_identity(conn, "alice/fixture"), headers)
    alice = gateway.token(HOST, "g", "alice@example.com")
    async with mcp_client(gateway.url("g"), alice) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("mine__headers", {})
        assert (await client.call_tool("bot__headers", {})).is_error is False  # the shared one still goes
    assert refused.value.error.code == -32014
    assert refused.value.error.data["reason"] == "identity_invalid"
    assert "alice-key" not in refused.value.error.message and "cannot be sent" in refused.value.error.message
