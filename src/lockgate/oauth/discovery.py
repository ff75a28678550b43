"""Finding an MCP server's authorization server: RFC 9728 protected resource metadata, then RFC 8414 /
OpenID Connect discovery (MCP authorization 2026-07-28 §Authorization Server Discovery), with the
2025-03-26 fallbacks for servers that publish no resource metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from lockgate.oauth.challenge import parse_challenge
from lockgate.oauth.errors import OAuthError

PROTECTED_RESOURCE_WELL_KNOWN = "/.well-known/oauth-protected-resource"
AUTHORIZATION_SERVER_WELL_KNOWN = "/.well-known/oauth-authorization-server"
OPENID_WELL_KNOWN = "/.well-known/openid-configuration"
PROBE_PROTOCOL_VERSION = "2025-11-25"


@dataclass(frozen=True)
class AuthorizationServer:
    """What a client needs to get tokens for one MCP server.

    ``issuer`` is the authorization server's issuer identifier exactly as published (credentials are
    keyed by it); ``metadata`` its RFC 8414 / OIDC discovery document (synthesised from the default
    endpoints for a 2025-03-26 server without one); ``resource`` the RFC 8707 resource indicator to
    send, exactly as the protected resource metadata published it, else ``canonical_resource`` of the
    server URL; ``scopes`` the scopes to ask for: the 401 challenge's ``scope``, else the resource
    metadata's ``scopes_supported``, else none (MCP authorization §Scope Selection Strategy).
    """

    issuer: str
    metadata: dict[str, Any] = field(repr=False)
    resource: str
    scopes: tuple[str, ...] = ()

    @property
    def authorization_endpoint(self) -> str:
        return str(self.metadata["authorization_endpoint"])

    @property
    def token_endpoint(self) -> str:
        return str(self.metadata["token_endpoint"])

    @property
    def registration_endpoint(self) -> str | None:
        endpoint = self.metadata.get("registration_endpoint")
        return endpoint if isinstance(endpoint, str) else None


def canonical_resource(url: str) -> str:
    """The canonical URI of an MCP server (MCP authorization §Canonical Server URI, RFC 8707 §2):
    lowercase scheme and host, no fragment, no trailing slash; port, path and query kept as given."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    if parts.username is not None:
        netloc = f"{parts.netloc.rpartition('@')[0]}@{netloc}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), parts.query, ""))


async def probe(http: httpx.AsyncClient, server_url: str) -> str | None:
    """POSTs an MCP ``initialize`` without credentials; returns the ``WWW-Authenticate`` header of a
    401 answer (empty string if the 401 had none), None for any other status. The body is never read.

    Raises:
        OAuthError: ``discovery_failed`` when the server cannot be reached.
    """
    request = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": PROBE_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "lockgate-probe", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    try:
        async with http.stream("POST", server_url, json=request, headers=headers) as response:
            if response.status_code != httpx.codes.UNAUTHORIZED:
                return None
            return str(response.headers.get("www-authenticate", ""))
    except httpx.HTTPError as exc:
        raise _unreachable("discovery_failed", server_url, exc) from exc


async def discover(
    http: httpx.AsyncClient, server_url: str, *, www_authenticate: str | None = None
) -> AuthorizationServer:
    """The authorization server of the MCP server at ``server_url``.

    Protected resource metadata (RFC 9728) comes from the challenge's ``resource_metadata`` URL, else
    ``/.well-known/oauth-protected-resource/<path>``, else the root well-known URL; its ``resource``
    must name this server (same origin, a path prefix on segment boundaries: RFC 9728 §3.3, §7.3).
    The first ``authorization_servers`` entry is the issuer; its metadata is fetched per MCP
    authorization §Authorization Server Metadata Discovery, and its ``issuer`` must equal the one
    used to build the URL, character for character (RFC 8414 §3.3). Without any resource metadata
    (a 2025-03-26 server), the metadata is looked for at the server's origin, and failing that the
    default ``/authorize``, ``/token`` and ``/register`` endpoints there are assumed.

    Raises:
        OAuthError: ``discovery_failed`` (nothing usable found, or unreachable),
            ``resource_mismatch``, ``issuer_mismatch``, ``pkce_unsupported`` (the metadata does not
            list ``S256`` in ``code_challenge_methods_supported``; MCP authorization §PKCE).
    """
    challenge = parse_challenge(www_authenticate)
    found = await _fetch_resource_metadata(http, server_url, challenge.resource_metadata)
    if found is None:
        return await _discover_without_resource_metadata(http, server_url, challenge.scopes)
    resource_metadata, resource = found
    issuers = resource_metadata.get("authorization_servers")
    if not isinstance(issuers, list) or not issuers or not isinstance(issuers[0], str):
        raise OAuthError("discovery_failed", "protected resource metadata names no authorization server")
    issuer = issuers[0]
    metadata = await _fetch_server_metadata(http, issuer, _metadata_urls(issuer))
    if metadata is None:
        raise OAuthError("discovery_failed", f"no authorization server metadata found for {issuer}")
    _require_usable(metadata)
    return AuthorizationServer(issuer, metadata, resource, challenge.scopes or _scopes(resource_metadata))


def _scopes(resource_metadata: dict[str, Any]) -> tuple[str, ...]:
    supported = resource_metadata.get("scopes_supported")
    return tuple(s for s in supported if isinstance(s, str)) if isinstance(supported, list) else ()


def _unreachable(error: str, url: str, exc: httpx.HTTPError) -> OAuthError:
    return OAuthError(error, f"{url} could not be reached: {type(exc).__name__}")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _resource_metadata_urls(server_url: str) -> list[str]:
    origin, path = _origin(server_url), urlsplit(server_url).path.rstrip("/")
    urls = [origin + PROTECTED_RESOURCE_WELL_KNOWN + path] if path else []
    return [*urls, origin + PROTECTED_RESOURCE_WELL_KNOWN]


def _metadata_urls(issuer: str) -> list[str]:
    origin, path = _origin(issuer), urlsplit(issuer).path.rstrip("/")
    if not path:
        return [origin + AUTHORIZATION_SERVER_WELL_KNOWN, origin + OPENID_WELL_KNOWN]
    return [
        origin + AUTHORIZATION_SERVER_WELL_KNOWN + path,
        origin + OPENID_WELL_KNOWN + path,
        origin + path + OPENID_WELL_KNOWN,
    ]


async def _get_json(http: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    """The JSON object at ``url``, or None when it answers anything but 200 with a JSON object."""
    try:
        response = await http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise _unreachable("discovery_failed", url, exc) from exc
    if response.status_code != httpx.codes.OK:
        return None
    try:
        document = response.json()
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


async def _fetch_resource_metadata(
    http: httpx.AsyncClient, server_url: str, advertised: str | None
) -> tuple[dict[str, Any], str] | None:
    """The first protected resource metadata found and its checked ``resource``; None if none."""
    candidates = ([advertised] if advertised else []) + _resource_metadata_urls(server_url)
    for url in dict.fromkeys(candidates):
        document = await _get_json(http, url)
        if document is None:
            continue
        resource = document.get("resource")
        if not isinstance(resource, str):
            raise OAuthError("discovery_failed", f"protected resource metadata at {url} has no resource")
        if not resource_matches(resource, server_url):
            raise OAuthError(
                "resource_mismatch", f"protected resource metadata names {resource}, not {server_url}"
            )
        return document, resource
    return None


def resource_matches(resource: str, server_url: str) -> bool:
    """Whether a published ``resource`` identifies the server at ``server_url``: the same scheme,
    host and port (case-insensitively) and a path that is the server's path or a parent of it on a
    segment boundary (a root-level resource covers every path; RFC 9728 §3.3, RFC 8707 §2)."""
    published, actual = urlsplit(canonical_resource(resource)), urlsplit(canonical_resource(server_url))
    if (published.scheme, published.netloc) != (actual.scheme, actual.netloc) or published.query:
        return False
    return actual.path == published.path or actual.path.startswith(published.path + "/")


async def _fetch_server_metadata(
    http: httpx.AsyncClient, issuer: str, urls: list[str]
) -> dict[str, Any] | None:
    for url in urls:
        metadata = await _get_json(http, url)
        if metadata is None:
            continue
        if metadata.get("issuer") != issuer:
            named = metadata.get("issuer")
            raise OAuthError("issuer_mismatch", f"metadata at {url} names issuer {named!r}, not {issuer!r}")
        return metadata
    return None


def _require_usable(metadata: dict[str, Any]) -> None:
    for endpoint in ("authorization_endpoint", "token_endpoint"):
        if not isinstance(metadata.get(endpoint), str):
            raise OAuthError("discovery_failed", f"authorization server metadata has no {endpoint}")
    methods = metadata.get("code_challenge_methods_supported")
    if not isinstance(methods, list) or "S256" not in methods:
        raise OAuthError(
            "pkce_unsupported",
            "the authorization server does not list S256 in code_challenge_methods_supported",
        )


async def _discover_without_resource_metadata(
    http: httpx.AsyncClient, server_url: str, scopes: tuple[str, ...]
) -> AuthorizationServer:
    """MCP 2025-03-26 §2.3.2-2.3.3: the authorization base URL is the server URL's origin; metadata
    at its well-known URLs, else the default endpoints (PKCE assumed, as that version mandated it)."""
    issuer = _origin(server_url)
    metadata = await _fetch_server_metadata(http, issuer, _metadata_urls(issuer))
    if metadata is None:
        metadata = {
            "issuer": issuer,
            "authorization_endpoint": issuer + "/authorize",
            "token_endpoint": issuer + "/token",
            "registration_endpoint": issuer + "/register",
            "code_challenge_methods_supported": ["S256"],
        }
    _require_usable(metadata)
    return AuthorizationServer(issuer, metadata, canonical_resource(server_url), scopes)
