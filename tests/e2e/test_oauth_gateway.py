"""OAuth identities end to end: a real authorization server (npm ``oidc-provider``: dynamic
registration, PKCE, rotating refresh tokens, resource indicators) protects a real MCP server that
validates its tokens; Lockgate registers, completes the code flow (the browser step driven here),
calls tools through the gateway (and previews the server's features) with the user's token,
refreshes it once however many calls wait, and marks the identity for re-authorization when its
refresh token is revoked."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
from mcp.shared.exceptions import MCPError
from sqlalchemy import event, select, update

from lockgate.brokering.authorization import Broker, begin_authorization, complete_authorization
from lockgate.domain.capabilities import Capability
from lockgate.domain.model import Availability, IdentityKind, IdentityStatus
from lockgate.settings import Settings
from lockgate.store.identities import create_identity
from lockgate.store.people import ensure_user
from lockgate.store.schema import admin_events, identities, servers
from tests.conftest import TEST_VAULT, People, RunningGateway, mcp_client
from tests.e2e.oauth_fixtures import (
    OidcProvider,
    ProtectedServer,
    callback_parameters,
    drive_browser_login,
)

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
HOST, USER = "agent", "alice@example.com"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.egress_allowed_networks = ["127.0.0.0/8"]  # the authorization server runs on loopback
    return settings


@pytest.fixture
def upstream(
    oidc_provider: Callable[..., OidcProvider], protected_server: Callable[[str], ProtectedServer]
) -> Iterator[tuple[OidcProvider, ProtectedServer]]:
    provider = oidc_provider(access_ttl=600)
    yield provider, protected_server(provider.url)


async def _authorize(lockgate: RunningGateway, http: httpx.AsyncClient) -> int:
    """Alice's OAuth identity for ``protected``, authorized in her (test-driven) browser."""
    with lockgate.engine.begin() as conn:
        server_id = conn.execute(select(servers.c.id).where(servers.c.name == "protected")).scalar_one()
        user_id = ensure_user(conn, USER)
        identity = create_identity(
            conn, TEST_VAULT, name="alice/protected", server_id=server_id, owner_id=user_id,
            kind=IdentityKind.OAUTH, availability=Availability.PRIVATE, status=IdentityStatus.PENDING,
        )  # fmt: skip
    settings = lockgate.settings
    broker = Broker(lockgate.engine, TEST_VAULT, settings.key_bytes(), settings.resolved_public_url, http)
    url = await begin_authorization(broker, identity.id, user_id=user_id, return_to="/connect")
    callback = await drive_browser_login(http, url, "alice")
    assert callback.startswith(settings.resolved_public_url + "/oauth/callback?")
    await complete_authorization(broker, callback_parameters(callback), user_id=user_id)
    return int(identity.id)


async def _whoami(lockgate: RunningGateway, token: str) -> dict[str, Any]:
    async with mcp_client(lockgate.url("g"), token) as client:
        result = await client.call_tool("whoami", {})
    return json.loads(result.content[0].text)  # type: ignore[union-attr]


def _identity(lockgate: RunningGateway, identity_id: int) -> Any:
    with lockgate.engine.connect() as conn:
        return conn.execute(select(identities).where(identities.c.id == identity_id)).one()


def _expire(lockgate: RunningGateway, identity_id: int) -> None:
    """The access token's recorded expiry passes (as it would an hour later)."""
    with lockgate.engine.begin() as conn:
        conn.execute(
            update(identities).where(identities.c.id == identity_id).values(expires_at=time.time() - 1)
        )


def _declare_per_user(lockgate: RunningGateway, protected: ProtectedServer) -> None:
    """Gateway ``g`` with the protected server, each user bringing their own identity."""
    lockgate.declare(
        {
            "servers": [{"name": "protected", "transport": "http", "url": protected.url}],
            "hosts": [{"name": HOST}],
            "gateways": [
                {
                    "name": "g",
                    "servers": [
                        {"server": "protected", "provisioning": "allow_all", "identity_scheme": "per_user"}
                    ],
                }
            ],
        }
    )


async def test_an_oauth_identity_is_authorized_used_refreshed_once_and_marked_when_its_grant_is_revoked(
    lockgate: RunningGateway, upstream: tuple[OidcProvider, ProtectedServer]
) -> None:
    provider, protected = upstream
    _declare_per_user(lockgate, protected)
    async with httpx.AsyncClient(timeout=30) as http:
        identity_id = await _authorize(lockgate, http)
        token = lockgate.token(HOST, "g", USER)

        first = await _whoami(lockgate, token)
        assert first["sub"] == "alice" and protected.subjects() == ["alice"]
        authorized = _identity(lockgate, identity_id)
        assert authorized.status == "ready" and authorized.expires_at > time.time()

        _expire(lockgate, identity_id)
        seen: list[dict[str, Any]] = []

        async def call() -> None:
            seen.append(await _whoami(lockgate, token))

        async with anyio.create_task_group() as calls:  # five calls find it expired at once
            for _ in range(5):
                calls.start_soon(call)
        refreshed = _identity(lockgate, identity_id)
        assert refreshed.version == authorized.version + 1  # one refresh, not five
        assert {s["sub"] for s in seen} == {"alice"}
        assert {s["token"] for s in seen} != {first["token"]}  # upstream saw the new access token

        await provider.revoke_account(http, "alice")
        _expire(lockgate, identity_id)
        async with mcp_client(lockgate.url("g"), token) as client:
            with pytest.raises(MCPError) as refused:
                await client.call_tool("whoami", {})
    error = refused.value.error
    assert error.code == -32014 and error.data["reason"] == "identity_needs_reauthorization"  # type: ignore[index]
    assert "/connect/" in error.data["connect_url"]  # type: ignore[index]
    assert _identity(lockgate, identity_id).status == "needs_reauthorization"
    with lockgate.engine.connect() as conn:
        alert = conn.execute(
            select(admin_events).where(admin_events.c.operation == "identities_refresh")
        ).one()
    assert alert.name == "alice/protected" and alert.after["status"] == "needs_reauthorization"


async def _thread() -> int:
    return threading.get_ident()


async def test_a_refresh_reads_and_writes_the_store_off_the_gateway_event_loop(
    lockgate: RunningGateway, upstream: tuple[OidcProvider, ProtectedServer]
) -> None:
    _provider, protected = upstream
    _declare_per_user(lockgate, protected)
    async with httpx.AsyncClient(timeout=30) as http:
        identity_id = await _authorize(lockgate, http)
    token = lockgate.token(HOST, "g", USER)
    _expire(lockgate, identity_id)
    threads: list[int] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "identities" in statement or "oauth_clients" in statement:
            threads.append(threading.get_ident())

    event.listen(lockgate.engine, "before_cursor_execute", record)
    try:
        assert (await _whoami(lockgate, token))["sub"] == "alice"
    finally:
        event.remove(lockgate.engine, "before_cursor_execute", record)
    assert _identity(lockgate, identity_id).expires_at > time.time()  # it was refreshed
    assert threads and lockgate.on_loop(_thread()) not in threads


async def test_a_features_preview_as_an_oauth_identity_refreshes_it_when_due_and_names_where_to_reconnect(
    lockgate: RunningGateway, upstream: tuple[OidcProvider, ProtectedServer], people: People
) -> None:
    provider, protected = upstream
    _declare_per_user(lockgate, protected)
    role = people.role("Operator", [Capability.BASIC_SERVER_MANAGEMENT, Capability.VIEW_ALL_SERVERS])
    async with httpx.AsyncClient(timeout=30) as http:
        identity_id = await _authorize(lockgate, http)
        alice = people.user(USER, role)
        authorized = _identity(lockgate, identity_id)
        _expire(lockgate, identity_id)

        answer = await anyio.to_thread.run_sync(alice.get, "/servers/protected/features")
        assert answer.status_code == 200, answer.text
        assert [t["name"] for t in answer.json()["tools"]] == ["whoami"]
        assert answer.json()["identity"]["name"] == "alice/protected"
        refreshed = _identity(lockgate, identity_id)
        assert refreshed.version == authorized.version + 1 and refreshed.expires_at > time.time()

        await provider.revoke_account(http, "alice")
        _expire(lockgate, identity_id)
        refused = await anyio.to_thread.run_sync(alice.get, "/servers/protected/features")
    assert refused.status_code == 409
    message = refused.json()["error"]["message"]
    assert f"{lockgate.settings.resolved_public_url}/connect" in message
    assert _identity(lockgate, identity_id).status == "needs_reauthorization"
