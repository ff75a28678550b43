"""Registration in the spec's order: pre-registered, client ID metadata document, dynamic."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lockgate.oauth import AuthorizationServer, OAuthError, register
from tests.oauth.fakes import ISSUER, REDIRECT_URI, SERVER_URL, FakeWeb, as_metadata

pytestmark = pytest.mark.anyio
CIMD_URL = "https://gateway.example.com/oauth/client.json"


def server(**metadata: Any) -> AuthorizationServer:
    return AuthorizationServer(ISSUER, as_metadata(**metadata), SERVER_URL)


@pytest.mark.parametrize(
    ("supported", "secret", "method"),
    [
        (["client_secret_post", "client_secret_basic"], "s3cret", "client_secret_basic"),
        (["client_secret_post"], "s3cret", "client_secret_post"),
        (None, "s3cret", "client_secret_basic"),  # RFC 8414 default
        (["client_secret_basic"], None, "none"),
    ],
)
async def test_pre_registered_credentials_win_and_pick_the_preferred_auth_method(
    supported: list[str] | None, secret: str | None, method: str
) -> None:
    web = FakeWeb()
    async with web.client() as http:
        client = await register(
            http,
            server(
                token_endpoint_auth_methods_supported=supported, client_id_metadata_document_supported=True
            ),
            redirect_uri=REDIRECT_URI,
            client_name="lockgate",
            pre_registered=("pre-id", secret),
            metadata_document_url=CIMD_URL,
        )
    assert (client.client_id, client.client_secret, client.token_endpoint_auth_method) == (
        "pre-id",
        secret,
        method,
    )
    assert (client.kind, client.issuer) == ("pre_registered", ISSUER)
    assert web.requests == []


async def test_a_metadata_document_url_is_the_client_id_where_the_server_supports_it() -> None:
    async with FakeWeb().client() as http:
        client = await register(
            http,
            server(client_id_metadata_document_supported=True),
            redirect_uri=REDIRECT_URI,
            client_name="lockgate",
            metadata_document_url=CIMD_URL,
        )
    assert (client.client_id, client.kind, client.token_endpoint_auth_method) == (
        CIMD_URL,
        "metadata_document",
        "none",
    )


async def test_dynamic_registration_asks_for_a_web_client_with_refresh_tokens_and_keeps_the_secret() -> None:
    web = FakeWeb()
    web.json(
        f"{ISSUER}/register",
        {
            "client_id": "dyn-1",
            "client_secret": "dyn-secret",
            "token_endpoint_auth_method": "client_secret_post",
        },
        status=201,
        method="POST",
    )
    async with web.client() as http:
        client = await register(
            http, server(), redirect_uri=REDIRECT_URI, client_name="lockgate", metadata_document_url=CIMD_URL
        )
    sent = web.posted_json()
    assert sent["application_type"] == "web"
    assert sent["grant_types"] == ["authorization_code", "refresh_token"]
    assert sent["redirect_uris"] == [REDIRECT_URI]
    assert sent["token_endpoint_auth_method"] == "client_secret_basic"
    assert (client.client_id, client.client_secret, client.token_endpoint_auth_method, client.kind) == (
        "dyn-1",
        "dyn-secret",
        "client_secret_post",
        "dynamic",
    )
    assert "dyn-secret" not in repr(client)


async def test_a_server_that_supports_only_public_clients_registers_one() -> None:
    web = FakeWeb()
    web.json(f"{ISSUER}/register", {"client_id": "pub", "client_secret": "unused"}, 201, "POST")
    async with web.client() as http:
        client = await register(
            http,
            server(token_endpoint_auth_methods_supported=["none"]),
            redirect_uri=REDIRECT_URI,
            client_name="x",
        )
    assert web.posted_json()["token_endpoint_auth_method"] == "none"
    assert client.token_endpoint_auth_method == "none"


async def test_a_refused_dynamic_registration_says_pre_registration_is_needed() -> None:
    web = FakeWeb()
    web.json(
        f"{ISSUER}/register",
        {"error": "invalid_client_metadata", "error_description": "no"},
        status=400,
        method="POST",
    )
    async with web.client() as http:
        with pytest.raises(OAuthError) as refused:
            await register(http, server(), redirect_uri=REDIRECT_URI, client_name="x")
    assert refused.value.error == "registration_failed"
    assert "invalid_client_metadata" in refused.value.description
    assert "pre-register" in refused.value.description


async def test_a_server_with_no_way_to_register_asks_for_a_pre_registered_client() -> None:
    async with FakeWeb().client() as http:
        with pytest.raises(OAuthError) as refused:
            await register(
                http,
                server(registration_endpoint=None),
                redirect_uri=REDIRECT_URI,
                client_name="x",
                metadata_document_url=CIMD_URL,  # not advertised: not used
            )
    assert refused.value.error == "registration_failed"
    assert "pre-register" in refused.value.description


async def test_an_unreachable_registration_endpoint_fails_registration() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(OAuthError, match="registration_failed"):
            await register(http, server(), redirect_uri=REDIRECT_URI, client_name="x")
