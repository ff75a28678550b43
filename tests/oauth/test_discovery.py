"""Discovery: protected resource metadata, authorization server metadata, and their refusals."""

from __future__ import annotations

import httpx
import pytest

from lockgate.oauth import OAuthError, canonical_resource, discover, parse_challenge, probe
from tests.oauth.fakes import ISSUER, SERVER_URL, FakeWeb, as_metadata, standard_web

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://MCP.Example.COM/mcp", "https://mcp.example.com/mcp"),
        ("https://mcp.example.com/mcp/", "https://mcp.example.com/mcp"),
        ("https://mcp.example.com/", "https://mcp.example.com"),
        ("https://mcp.example.com:8443/Path#frag", "https://mcp.example.com:8443/Path"),
        ("https://mcp.example.com/mcp?tenant=a", "https://mcp.example.com/mcp?tenant=a"),
    ],
)
def test_canonical_resource_lowercases_scheme_and_host_and_drops_fragment_and_trailing_slash(
    url: str, canonical: str
) -> None:
    assert canonical_resource(url) == canonical


def test_the_bearer_challenge_is_found_among_several_and_its_quoted_values_unescaped() -> None:
    header = (
        'Basic realm="x", Bearer error="insufficient_scope", scope="a b", '
        'resource_metadata="https://mcp.example.com/prm", error_description="say \\"hi\\", DPoP x=1"'
    )
    challenge = parse_challenge(header)
    assert challenge.error == "insufficient_scope"
    assert challenge.scopes == ("a", "b")
    assert challenge.resource_metadata == "https://mcp.example.com/prm"
    assert challenge.error_description == 'say "hi", DPoP x=1'


def test_a_header_without_a_bearer_challenge_yields_an_empty_challenge() -> None:
    assert parse_challenge('DPoP algs="ES256"').resource_metadata is None
    assert parse_challenge(None).scopes == ()


async def test_discovery_follows_the_challenges_resource_metadata_url_and_takes_its_scope() -> None:
    web = FakeWeb()
    web.json(
        "https://mcp.example.com/custom/prm.json", {"resource": SERVER_URL, "authorization_servers": [ISSUER]}
    )
    web.json(f"{ISSUER}/.well-known/oauth-authorization-server", as_metadata(scopes_supported=["x"]))
    header = 'Bearer resource_metadata="https://mcp.example.com/custom/prm.json", scope="mcp:basic"'
    async with web.client() as http:
        server = await discover(http, SERVER_URL, www_authenticate=header)
    assert (server.issuer, server.resource, server.scopes) == (ISSUER, SERVER_URL, ("mcp:basic",))
    assert web.urls()[0] == "https://mcp.example.com/custom/prm.json"


async def test_without_a_challenge_the_path_based_then_the_root_resource_metadata_is_tried() -> None:
    web = FakeWeb()
    web.json(
        "https://mcp.example.com/.well-known/oauth-protected-resource",
        {"resource": "https://mcp.example.com", "authorization_servers": [ISSUER], "scopes_supported": ["a"]},
    )
    web.json(f"{ISSUER}/.well-known/oauth-authorization-server", as_metadata())
    async with web.client() as http:
        server = await discover(http, SERVER_URL)
    assert web.urls()[:2] == [
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
        "https://mcp.example.com/.well-known/oauth-protected-resource",
    ]
    assert server.resource == "https://mcp.example.com"  # sent exactly as published
    assert server.scopes == ("a",)


async def test_an_issuer_with_a_path_is_looked_up_at_the_three_well_known_urls_in_order() -> None:
    issuer = "https://auth.example.com/tenant1"
    web = standard_web(prm={"resource": SERVER_URL, "authorization_servers": [issuer]})
    web.json("https://auth.example.com/tenant1/.well-known/openid-configuration", as_metadata(issuer))
    async with web.client() as http:
        server = await discover(http, SERVER_URL)
    assert server.issuer == issuer
    assert web.urls()[1:] == [
        "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
        "https://auth.example.com/.well-known/openid-configuration/tenant1",
        "https://auth.example.com/tenant1/.well-known/openid-configuration",
    ]


async def test_metadata_naming_another_issuer_is_refused() -> None:
    web = standard_web(metadata=as_metadata(issuer="https://attacker.example.com"))
    async with web.client() as http:
        with pytest.raises(OAuthError) as refused:
            await discover(http, SERVER_URL)
    assert refused.value.error == "issuer_mismatch"


async def test_an_issuer_differing_only_by_a_trailing_slash_is_refused() -> None:
    web = standard_web(metadata=as_metadata(issuer=ISSUER + "/"))
    async with web.client() as http:
        with pytest.raises(OAuthError, match="issuer_mismatch"):
            await discover(http, SERVER_URL)


@pytest.mark.parametrize("methods", [["plain"], None])
async def test_an_authorization_server_without_pkce_s256_is_refused(methods: list[str] | None) -> None:
    metadata = as_metadata()
    metadata.pop("code_challenge_methods_supported")
    if methods is not None:
        metadata["code_challenge_methods_supported"] = methods
    web = standard_web(metadata=metadata)
    async with web.client() as http:
        with pytest.raises(OAuthError) as refused:
            await discover(http, SERVER_URL)
    assert refused.value.error == "pkce_unsupported"


@pytest.mark.parametrize(
    "resource",
    ["https://evil.example.com/mcp", "https://mcp.example.com/other", "http://mcp.example.com/mcp"],
)
async def test_resource_metadata_for_another_resource_is_refused(resource: str) -> None:
    web = standard_web(prm={"resource": resource, "authorization_servers": [ISSUER]})
    async with web.client() as http:
        with pytest.raises(OAuthError) as refused:
            await discover(http, SERVER_URL)
    assert refused.value.error == "resource_mismatch"
    assert all("auth.example.com" not in url for url in web.urls())


async def test_resource_metadata_without_authorization_servers_fails_discovery() -> None:
    web = standard_web(prm={"resource": SERVER_URL})
    async with web.client() as http:
        with pytest.raises(OAuthError, match="discovery_failed"):
            await discover(http, SERVER_URL)


async def test_without_resource_metadata_the_servers_origin_metadata_is_used() -> None:
    web = FakeWeb()
    web.json(
        "https://mcp.example.com/.well-known/oauth-authorization-server",
        as_metadata(
            "https://mcp.example.com", authorization_endpoint="https://mcp.example.com/oauth/authorize"
        ),
    )
    async with web.client() as http:
        server = await discover(http, SERVER_URL, www_authenticate='Bearer scope="s"')
    assert server.issuer == "https://mcp.example.com"
    assert server.authorization_endpoint == "https://mcp.example.com/oauth/authorize"
    assert (server.resource, server.scopes) == (SERVER_URL, ("s",))


async def test_without_any_metadata_the_2025_03_26_default_endpoints_are_assumed() -> None:
    async with FakeWeb().client() as http:
        server = await discover(http, "https://MCP.example.com/mcp/")
    assert server.issuer == "https://MCP.example.com"
    assert server.token_endpoint == "https://MCP.example.com/token"
    assert server.registration_endpoint == "https://MCP.example.com/register"
    assert server.resource == "https://mcp.example.com/mcp"


async def test_an_unreachable_server_fails_discovery_without_leaking_the_exception() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(OAuthError) as failed:
            await discover(http, SERVER_URL)
    assert failed.value.error == "discovery_failed"


async def test_probe_returns_the_challenge_of_a_401_and_none_otherwise() -> None:
    web = FakeWeb()
    header = 'Bearer resource_metadata="https://mcp.example.com/prm"'
    web.route("POST", SERVER_URL, lambda _r: httpx.Response(401, headers={"WWW-Authenticate": header}))
    web.json("https://open.example.com/mcp", {"jsonrpc": "2.0", "id": 0, "result": {}}, method="POST")
    async with web.client() as http:
        assert await probe(http, SERVER_URL) == header
        assert await probe(http, "https://open.example.com/mcp") is None
    assert web.posted_json(0)["method"] == "initialize"
    assert "authorization" not in web.requests[0].headers
