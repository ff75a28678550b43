"""The authorization code flow: the request, the callback's checks, the code exchange, refreshing."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from lockgate.oauth import (
    AuthorizationServer,
    ClientRegistration,
    OAuthError,
    PendingAuthorization,
    finish_authorization,
    refresh,
    start_authorization,
)
from tests.oauth.fakes import ISSUER, REDIRECT_URI, SERVER_URL, FakeWeb, as_metadata

pytestmark = pytest.mark.anyio
TOKEN_URL = f"{ISSUER}/token"


def server(scopes: tuple[str, ...] = (), **metadata: Any) -> AuthorizationServer:
    return AuthorizationServer(ISSUER, as_metadata(**metadata), SERVER_URL, scopes)


def client(
    method: str = "none", secret: str | None = None, client_id: str = "client-1"
) -> ClientRegistration:
    return ClientRegistration(ISSUER, client_id, secret, method, "dynamic")


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def token_web(answer: dict[str, Any] | None = None, status: int = 200) -> FakeWeb:
    web = FakeWeb()
    body = (
        answer if answer is not None else {"access_token": "at-1", "token_type": "Bearer", "expires_in": 60}
    )
    web.json(TOKEN_URL, body, status=status, method="POST")
    return web


def callback(pending: PendingAuthorization, **extra: str) -> Mapping[str, str]:
    return {"code": "the-code", "state": pending.state, "iss": ISSUER, **extra}


def test_the_authorization_request_carries_pkce_s256_state_resource_and_scope() -> None:
    pending = start_authorization(server(("mcp:read",)), client(), redirect_uri=REDIRECT_URI)
    sent = query(pending.url)
    assert pending.url.startswith(f"{ISSUER}/authorize?")
    assert sent["response_type"] == "code"
    assert sent["client_id"] == "client-1"
    assert sent["redirect_uri"] == REDIRECT_URI
    assert sent["resource"] == SERVER_URL
    assert sent["scope"] == pending.scope == "mcp:read"
    assert sent["code_challenge_method"] == "S256"
    digest = hashlib.sha256(pending.code_verifier.encode()).digest()
    assert sent["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert sent["state"] == pending.state and len(pending.state) * 5.95 >= 128  # log2(62) bits a character
    assert pending.code_verifier not in repr(pending)


def test_each_authorization_request_gets_its_own_state_and_verifier() -> None:
    first, second = (start_authorization(server(), client(), redirect_uri=REDIRECT_URI) for _ in range(2))
    assert first.state != second.state and first.code_verifier != second.code_verifier


def test_no_scope_is_sent_when_none_was_selected() -> None:
    pending = start_authorization(server(), client(), redirect_uri=REDIRECT_URI)
    assert "scope" not in query(pending.url) and pending.scope is None


def test_offline_access_is_added_only_when_the_authorization_server_lists_it() -> None:
    listed = server(("mcp:basic",), scopes_supported=["mcp:basic", "offline_access"])
    unlisted = server(("mcp:basic",), scopes_supported=["mcp:basic"])
    assert (
        start_authorization(listed, client(), redirect_uri=REDIRECT_URI).scope == "mcp:basic offline_access"
    )
    assert start_authorization(unlisted, client(), redirect_uri=REDIRECT_URI).scope == "mcp:basic"
    explicit = start_authorization(listed, client(), redirect_uri=REDIRECT_URI, scope="a b")
    assert explicit.scope == "a b offline_access"


def test_a_client_registered_at_another_issuer_is_not_used() -> None:
    elsewhere = ClientRegistration("https://other.example.com", "c", None, "none", "dynamic")
    with pytest.raises(OAuthError, match="issuer_mismatch"):
        start_authorization(server(), elsewhere, redirect_uri=REDIRECT_URI)


async def test_the_code_is_exchanged_with_verifier_resource_and_redirect_uri() -> None:
    web = token_web(
        {"access_token": "at-1", "token_type": "bearer", "expires_in": 60, "refresh_token": "rt-1"}
    )
    pending = start_authorization(server(), client(), redirect_uri=REDIRECT_URI)
    async with web.client() as http:
        tokens = await finish_authorization(http, server(), client(), pending, callback(pending))
    form = web.form()
    assert form == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": REDIRECT_URI,
        "code_verifier": pending.code_verifier,
        "resource": SERVER_URL,
        "client_id": "client-1",
    }
    assert (tokens.access_token, tokens.refresh_token, tokens.token_type) == ("at-1", "rt-1", "bearer")
    assert tokens.expires_at is not None and time.time() + 50 < tokens.expires_at <= time.time() + 60
    assert "at-1" not in repr(tokens) and "rt-1" not in repr(tokens)


async def test_client_secret_basic_form_encodes_the_credentials_before_base64() -> None:
    web = token_web()
    confidential = client("client_secret_basic", "p@ss word", client_id="id:1")
    pending = start_authorization(server(), confidential, redirect_uri=REDIRECT_URI)
    async with web.client() as http:
        await finish_authorization(http, server(), confidential, pending, callback(pending))
    scheme, _, encoded = web.requests[-1].headers["authorization"].partition(" ")
    assert (scheme, base64.b64decode(encoded).decode()) == ("Basic", "id%3A1:p%40ss+word")
    assert "client_secret" not in web.form() and "client_id" not in web.form()


async def test_client_secret_post_sends_the_credentials_in_the_body() -> None:
    web = token_web()
    confidential = client("client_secret_post", "s3cret")
    pending = start_authorization(server(), confidential, redirect_uri=REDIRECT_URI)
    async with web.client() as http:
        await finish_authorization(http, server(), confidential, pending, callback(pending))
    assert (web.form()["client_id"], web.form()["client_secret"]) == ("client-1", "s3cret")
    assert "authorization" not in web.requests[-1].headers


async def test_a_callback_with_another_state_is_refused_before_any_token_request() -> None:
    web = token_web()
    pending = start_authorization(server(), client(), redirect_uri=REDIRECT_URI)
    async with web.client() as http:
        with pytest.raises(OAuthError) as refused:
            await finish_authorization(http, server(), client(), pending, callback(pending, state="forged"))
    assert refused.value.error == "state_mismatch"
    assert web.requests == []


@pytest.mark.parametrize("iss", ["https://evil.example.com", ISSUER + "/", "HTTPS://auth.example.com"])
async def test_an_iss_that_is_not_exactly_the_issuer_is_refused(iss: str) -> None:
    web = token_web()
    unadvertised = server(authorization_response_iss_parameter_supported=None)
    pending = start_authorization(unadvertised, client(), redirect_uri=REDIRECT_URI)
    async with web.client() as http:
        with pytest.raises(OAuthError) as refused:
            await finish_authorization(http, unadvertised, client(), pending, callback(pending, iss=iss))
    assert refused.value.error == "iss_mismatch"
    assert web.requests == []


async def test_a_missing_iss_is_refused_when_the_server_promised_one_and_accepted_otherwise() -> None:
    promising = server(authorization_response_iss_parameter_supported=True)
    silent = server()
    web = token_web()
    async with web.client() as http:
        pending = start_authorization(promising, client(), redirect_uri=REDIRECT_URI)
        without_iss = {"code": "c", "state": pending.state}
        with pytest.raises(OAuthError, match="iss_mismatch"):
            await finish_authorization(http, promising, client(), pending, without_iss)
        pending = start_authorization(silent, client(), redirect_uri=REDIRECT_URI)
        tokens = await finish_authorization(
            http, silent, client(), pending, {"code": "c", "state": pending.state}
        )
    assert tokens.access_token == "at-1"


async def test_an_error_in_the_callback_is_raised_with_its_code() -> None:
    pending = start_authorization(server(), client(), redirect_uri=REDIRECT_URI)
    denied = {"state": pending.state, "iss": ISSUER, "error": "access_denied", "error_description": "no"}
    async with FakeWeb().client() as http:
        with pytest.raises(OAuthError) as refused:
            await finish_authorization(http, server(), client(), pending, denied)
    assert (refused.value.error, refused.value.description) == ("access_denied", "no")


async def test_a_refused_code_exchange_raises_the_servers_error() -> None:
    web = token_web({"error": "invalid_grant", "error_description": "code reused"}, status=400)
    pending = start_authorization(server(), client(), redirect_uri=REDIRECT_URI)
    async with web.client() as http:
        with pytest.raises(OAuthError) as refused:
            await finish_authorization(http, server(), client(), pending, callback(pending))
    assert refused.value.error == "invalid_grant"


async def test_a_non_bearer_token_is_refused() -> None:
    web = token_web({"access_token": "x", "token_type": "DPoP"})
    pending = start_authorization(server(), client(), redirect_uri=REDIRECT_URI)
    async with web.client() as http:
        with pytest.raises(OAuthError, match="invalid_response"):
            await finish_authorization(http, server(), client(), pending, callback(pending))


async def test_refreshing_sends_the_resource_and_keeps_an_unrotated_refresh_token() -> None:
    web = token_web({"access_token": "at-2", "token_type": "Bearer"})
    async with web.client() as http:
        tokens = await refresh(http, server(), client(), "rt-1")
    assert web.form() == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-1",
        "resource": SERVER_URL,
        "client_id": "client-1",
    }
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_at) == ("at-2", "rt-1", None)


async def test_refreshing_takes_a_rotated_refresh_token() -> None:
    web = token_web({"access_token": "at-2", "token_type": "Bearer", "refresh_token": "rt-2", "scope": "a"})
    async with web.client() as http:
        tokens = await refresh(http, server(), client(), "rt-1")
    assert (tokens.refresh_token, tokens.scope) == ("rt-2", "a")


async def test_a_revoked_refresh_token_raises_invalid_grant() -> None:
    web = token_web({"error": "invalid_grant", "error_description": "grant request is invalid"}, status=400)
    async with web.client() as http:
        with pytest.raises(OAuthError) as refused:
            await refresh(http, server(), client(), "rt-revoked")
    assert refused.value.error == "invalid_grant"
    assert "rt-revoked" not in str(refused.value)


async def test_an_unreachable_token_endpoint_is_reported_as_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(OAuthError) as failed:
            await refresh(http, server(), client(), "rt-1")
    assert failed.value.error == "unreachable"
