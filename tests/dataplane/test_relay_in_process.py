"""Nothing a server says is lost in relay: its errors, its list changes and its resource updates reach
the front clients they are for, in process (``tests/dataplane/in_process.py``)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from lockgate.domain.declaration import Declaration
from lockgate.domain.mcp import Era
from lockgate.domain.model import Availability, IdentityKind
from lockgate.settings import Settings
from lockgate.store.declarative import apply_declaration
from lockgate.store.identities import create_identity
from lockgate.store.people import ensure_user
from lockgate.store.schema import servers
from lockgate.store.tokens import create_token
from lockgate.upstream.memory import MemoryServer
from tests.conftest import TEST_VAULT
from tests.dataplane.in_process import ECHO, MemoryGateway, memory_gateway

pytestmark = pytest.mark.anyio
MISSING = "file:///missing"
WATCHED = {"uri": "file:///watched", "name": "watched"}
OTHER = {"uri": "file:///other", "name": "other"}
TOOLS_CHANGED = "notifications/tools/list_changed"
UPDATED = "notifications/resources/updated"


@pytest.mark.parametrize(
    ("era", "status", "code"),
    [(Era.MODERN, 400, -32602), (Era.LEGACY, 200, -32002)],
)
async def test_an_unknown_resource_is_answered_with_the_servers_own_code_message_and_data(
    settings: Settings, engine: Engine, era: Era, status: int, code: int
) -> None:
    alpha = MemoryServer(era=era, resources=[WATCHED])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        client = gateway.modern_client() if era is Era.MODERN else await gateway.legacy_client()
        response = await client.post(client.body("resources/read", {"uri": MISSING}))

    assert response.status_code == status
    not_found = {"code": code, "message": "Resource not found", "data": {"uri": MISSING}}
    assert response.json()["error"] == not_found


async def test_a_tool_list_change_on_a_modern_server_reaches_a_listen_stream_and_a_legacy_get_stream(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(era=Era.MODERN, tools=[ECHO])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        legacy, modern = await gateway.legacy_client(), gateway.modern_client()
        await legacy.request("tools/list")
        await modern.request("tools/list")
        listen = {"notifications": {"toolsListChanged": True}}
        async with modern.stream("subscriptions/listen", listen) as listening, legacy.listen_legacy() as get:
            acknowledged = await listening.message()
            alpha.tools.append({**ECHO, "name": "echo_again"})
            await alpha.announce(TOOLS_CHANGED)

            heard_modern, heard_legacy = await listening.message(), await get.message()

    subscription = acknowledged["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"]
    assert heard_modern["method"] == heard_legacy["method"] == TOOLS_CHANGED
    assert heard_modern["params"]["_meta"] == {"io.modelcontextprotocol/subscriptionId": subscription}
    assert "id" not in heard_legacy


def _per_user_identity(engine: Engine, email: str) -> None:
    """Give ``email`` (a member of a team granted gateway ``g``) their own identity for ``alpha``."""
    with engine.begin() as conn:
        server_id = conn.execute(select(servers.c.id).where(servers.c.name == "alpha")).scalar_one()
        create_identity(
            conn,
            TEST_VAULT,
            name=f"{email}/alpha",
            server_id=server_id,
            owner_id=ensure_user(conn, email),
            kind=IdentityKind.HEADERS,
            availability=Availability.PRIVATE,
            headers={"X-Api-Key": email},
        )


def _token(gateway: MemoryGateway, email: str) -> str:
    return create_token(gateway.engine, gateway.settings.key_bytes(), "agent", "g", email, minted_by=None)[1]


async def test_resources_updated_reaches_the_subscribed_legacy_session_and_not_another_identitys(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(resources=[WATCHED, OTHER])
    per_user = [{"server": "alpha", "identity_scheme": "per_user"}]
    async with memory_gateway(settings, engine, {"alpha": alpha}, assignments=per_user) as gateway:
        emails = ("alice@example.com", "bob@example.com")
        granted = {
            "gateways": [{"name": "g", "servers": per_user, "teams": ["g-users"]}],
            "teams": [{"name": "g-users"}],
            "users": [{"email": email, "teams": ["g-users"]} for email in emails],
        }
        apply_declaration(engine, TEST_VAULT, Declaration.model_validate(granted))
        for email in emails:
            _per_user_identity(engine, email)
        alice = await gateway.legacy_client(token=_token(gateway, "alice@example.com"))
        bob = await gateway.legacy_client(token=_token(gateway, "bob@example.com"))
        for client, uris in ((alice, [WATCHED]), (bob, [WATCHED, OTHER])):
            for uri in uris:
                assert "result" in await client.request("resources/subscribe", {"uri": uri["uri"]})
        alice_connection, bob_connection = alpha.upstreams  # one per identity, in order of first use
        async with alice.listen_legacy() as alice_hears, bob.listen_legacy() as bob_hears:
            await alice_connection.push(UPDATED, {"uri": WATCHED["uri"]})
            await bob_connection.push(UPDATED, {"uri": OTHER["uri"]})

            heard_by_alice, heard_by_bob = await alice_hears.message(), await bob_hears.message()

    assert heard_by_alice == {"jsonrpc": "2.0", "method": UPDATED, "params": {"uri": WATCHED["uri"]}}
    # Bob subscribed to the watched URI too, but through his own identity: Alice's update is not his
    assert heard_by_bob == {"jsonrpc": "2.0", "method": UPDATED, "params": {"uri": OTHER["uri"]}}
    assert alice_connection.spec.partition != bob_connection.spec.partition


async def test_one_session_unsubscribing_leaves_the_servers_subscription_to_another_that_needs_it(
    settings: Settings, engine: Engine
) -> None:
    alpha = MemoryServer(resources=[WATCHED])
    async with memory_gateway(settings, engine, {"alpha": alpha}) as gateway:
        leaving, staying = await gateway.legacy_client(), await gateway.legacy_client()
        for client in (leaving, staying):
            assert "result" in await client.request("resources/subscribe", {"uri": WATCHED["uri"]})
        assert "result" in await leaving.request("resources/unsubscribe", {"uri": WATCHED["uri"]})
        assert alpha.subscriptions == {WATCHED["uri"]}  # the server still sends the updates
        async with leaving.listen_legacy() as left, staying.listen_legacy() as stays:
            await alpha.announce(UPDATED, {"uri": WATCHED["uri"]})
            await alpha.announce(TOOLS_CHANGED)

            heard_by_staying = await stays.message()
            heard_by_leaving = await left.message()

        assert "result" in await staying.request("resources/unsubscribe", {"uri": WATCHED["uri"]})

    assert heard_by_staying["method"] == UPDATED
    assert heard_by_leaving["method"] == TOOLS_CHANGED  # the update was not for it
    assert alpha.subscriptions == set()  # the last one out unsubscribed upstream
