"""``lockgate.oauth`` against a real authorization server (oidc-provider) and a real protected MCP
server: register, authorize through the browser step, call, outlive the access token, refresh, call
again, and be refused once the grant is revoked."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest
from mcp.types import TextContent

from lockgate.oauth import (
    AuthorizationServer,
    ClientRegistration,
    OAuthError,
    TokenSet,
    discover,
    finish_authorization,
    probe,
    refresh,
    register,
    start_authorization,
)
from tests.conformance.suites import NODE
from tests.conftest import DEADLINE, mcp_client
from tests.e2e.oauth_fixtures import OidcProvider, ProtectedServer, callback_parameters, drive_browser_login

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.anyio,
    pytest.mark.skipif(not NODE.exists(), reason="Node 22 from `npm ci` is not installed"),
]
REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"  # never requested: the browser step stops before it
ACCESS_TTL = 2
POLL = 0.1


async def whoami(url: str, access_token: str) -> dict[str, Any]:
    """Calls ``whoami`` through the SDK's client with the access token."""
    async with mcp_client(url, access_token) as client:
        result = await client.call_tool("whoami", {})
    content = result.content[0]
    assert not result.is_error and isinstance(content, TextContent), result
    return dict(json.loads(content.text))


async def refused(url: str, access_token: str) -> bool:
    """Whether the server refuses the token (401) on a plain MCP POST."""
    async with httpx.AsyncClient(timeout=DEADLINE) as http:
        response = await http.post(
            url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}},
            headers={
                "Authorization": f"Bearer {access_token}",
                "Accept": "application/json, text/event-stream",
            },
        )
    return response.status_code == httpx.codes.UNAUTHORIZED


async def authorize(
    http: httpx.AsyncClient, upstream: ProtectedServer, account: str
) -> tuple[AuthorizationServer, ClientRegistration, TokenSet]:
    challenge = await probe(http, upstream.url)
    assert challenge is not None, "the protected server asked for no token"
    server = await discover(http, upstream.url, www_authenticate=challenge)
    client = await register(http, server, redirect_uri=REDIRECT_URI, client_name="lockgate-e2e")
    pending = start_authorization(server, client, redirect_uri=REDIRECT_URI)
    callback = await drive_browser_login(http, pending.url, account)
    return (
        server,
        client,
        await finish_authorization(http, server, client, pending, callback_parameters(callback)),
    )


async def test_a_token_is_used_refreshed_after_expiry_and_refused_once_its_grant_is_revoked(
    oidc_provider: Callable[..., OidcProvider], protected_server: Callable[[str], ProtectedServer]
) -> None:
    provider = oidc_provider(access_ttl=ACCESS_TTL)
    upstream = protected_server(provider.url)
    async with httpx.AsyncClient(timeout=DEADLINE) as http:
        server, client, tokens = await authorize(http, upstream, "ada")
        assert (server.issuer, server.resource, client.kind) == (provider.url, upstream.url, "dynamic")
        assert tokens.refresh_token is not None and tokens.expires_at is not None
        first = await whoami(upstream.url, tokens.access_token)
        assert first["sub"] == "ada"

        with anyio.fail_after(ACCESS_TTL + 10):  # the token's own expiry, as the server sees it
            while True:
                if await refused(upstream.url, tokens.access_token):
                    break
                await anyio.sleep(POLL)
        assert time.time() >= tokens.expires_at - 1

        renewed = await refresh(http, server, client, tokens.refresh_token)
        assert renewed.refresh_token not in (None, tokens.refresh_token)  # the provider rotates them
        second = await whoami(upstream.url, renewed.access_token)
        assert second["sub"] == "ada" and second["token"] != first["token"]

        assert renewed.refresh_token is not None
        await provider.revoke(http, renewed.refresh_token)
        with pytest.raises(OAuthError) as revoked:
            await refresh(http, server, client, renewed.refresh_token)
    assert revoked.value.error == "invalid_grant"
    assert upstream.subjects() == ["ada", "ada"]


async def test_a_rotated_away_refresh_token_is_refused_with_invalid_grant(
    oidc_provider: Callable[..., OidcProvider], protected_server: Callable[[str], ProtectedServer]
) -> None:
    provider = oidc_provider()
    upstream = protected_server(provider.url)
    async with httpx.AsyncClient(timeout=DEADLINE) as http:
        server, client, tokens = await authorize(http, upstream, "bob")
        assert tokens.refresh_token is not None
        await refresh(http, server, client, tokens.refresh_token)
        with pytest.raises(OAuthError) as reused:
            await refresh(http, server, client, tokens.refresh_token)
    assert reused.value.error == "invalid_grant"


async def test_revoking_an_account_revokes_its_refresh_tokens(
    oidc_provider: Callable[..., OidcProvider], protected_server: Callable[[str], ProtectedServer]
) -> None:
    provider = oidc_provider()
    upstream = protected_server(provider.url)
    async with httpx.AsyncClient(timeout=DEADLINE) as http:
        server, client, tokens = await authorize(http, upstream, "carol")
        assert tokens.refresh_token is not None
        await provider.revoke_account(http, "carol")
        with pytest.raises(OAuthError, match="invalid_grant"):
            await refresh(http, server, client, tokens.refresh_token)


async def test_the_protected_server_refuses_a_token_issued_for_another_resource(
    oidc_provider: Callable[..., OidcProvider], protected_server: Callable[[str], ProtectedServer]
) -> None:
    provider = oidc_provider()
    upstream, other = protected_server(provider.url), protected_server(provider.url)
    async with httpx.AsyncClient(timeout=DEADLINE) as http:
        server = await discover(http, other.url)
        client = await register(http, server, redirect_uri=REDIRECT_URI, client_name="lockgate-e2e")
        pending = start_authorization(server, client, redirect_uri=REDIRECT_URI)
        callback = await drive_browser_login(http, pending.url, "dave")
        tokens = await finish_authorization(http, server, client, pending, callback_parameters(callback))
    assert not await refused(other.url, tokens.access_token)
    assert await refused(upstream.url, tokens.access_token)
