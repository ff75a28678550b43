"""Getting a client identity at an authorization server, in the order MCP authorization 2026-07-28
§Client Registration prescribes: pre-registered credentials, a Client ID Metadata Document, then
RFC 7591 dynamic client registration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from lockgate.oauth.discovery import AuthorizationServer
from lockgate.oauth.errors import OAuthError

AUTH_METHOD_PREFERENCE = ("client_secret_basic", "client_secret_post", "none")
SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
RFC8414_DEFAULT_AUTH_METHODS = ["client_secret_basic"]


@dataclass(frozen=True)
class ClientRegistration:
    """A client identity at one authorization server, valid only there (credentials are keyed by
    ``issuer`` and never reused at another; MCP authorization §Client Registration).

    ``token_endpoint_auth_method`` is ``client_secret_basic``, ``client_secret_post`` or ``none``;
    ``kind`` says how it was obtained. The secret never appears in ``repr``.
    """

    issuer: str
    client_id: str
    client_secret: str | None = field(repr=False)
    token_endpoint_auth_method: str
    kind: Literal["pre_registered", "metadata_document", "dynamic"]


def resolve_auth_method(metadata: dict[str, Any], has_secret: bool) -> str:
    """The token endpoint auth method to use: among ``token_endpoint_auth_methods_supported``
    (RFC 8414 §2, default ``client_secret_basic``) the first of basic, post, none; a client without a
    secret is always ``none``.

    Raises:
        OAuthError: ``registration_failed`` when the server supports none of the three.
    """
    supported = metadata.get("token_endpoint_auth_methods_supported")
    if not isinstance(supported, list):
        supported = RFC8414_DEFAULT_AUTH_METHODS
    candidates = AUTH_METHOD_PREFERENCE if has_secret else ("none",)
    for method in candidates:
        if method in supported:
            return method
    if not has_secret:
        return "none"
    raise OAuthError(
        "registration_failed",
        f"the authorization server supports none of the token endpoint auth methods {AUTH_METHOD_PREFERENCE}",
    )


async def register(
    http: httpx.AsyncClient,
    server: AuthorizationServer,
    *,
    redirect_uri: str,
    client_name: str,
    pre_registered: tuple[str, str | None] | None = None,
    metadata_document_url: str | None = None,
) -> ClientRegistration:
    """A client identity at ``server``.

    ``pre_registered`` is ``(client_id, client_secret or None)`` an admin registered there by hand;
    ``metadata_document_url`` the HTTPS URL of our Client ID Metadata Document, used as ``client_id``
    when the server advertises ``client_id_metadata_document_supported``. Otherwise the client
    registers dynamically (RFC 7591 §3.1) as a ``web`` application for the authorization code and
    refresh token grants, asking for the auth method ``resolve_auth_method`` picks.

    Raises:
        OAuthError: ``registration_failed`` when the server refuses the registration or offers no
            way to register (then an admin must pre-register a client).
    """
    if pre_registered is not None:
        client_id, secret = pre_registered
        method = resolve_auth_method(server.metadata, secret is not None)
        return ClientRegistration(server.issuer, client_id, secret, method, "pre_registered")
    if metadata_document_url and server.metadata.get("client_id_metadata_document_supported") is True:
        return ClientRegistration(server.issuer, metadata_document_url, None, "none", "metadata_document")
    if server.registration_endpoint is None:
        raise OAuthError(
            "registration_failed",
            f"{server.issuer} offers neither dynamic registration nor client ID metadata documents: "
            "pre-register a client there and configure its credentials",
        )
    return await _register_dynamically(http, server, server.registration_endpoint, redirect_uri, client_name)


async def _register_dynamically(
    http: httpx.AsyncClient, server: AuthorizationServer, endpoint: str, redirect_uri: str, client_name: str
) -> ClientRegistration:
    method = resolve_auth_method(server.metadata, has_secret=True)
    request = {
        "client_name": client_name,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
        "application_type": "web",
    }
    try:
        response = await http.post(endpoint, json=request, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        reason = f"{endpoint} could not be reached: {type(exc).__name__}"
        raise OAuthError("registration_failed", reason) from exc
    try:
        answer = response.json()
    except ValueError:
        answer = None
    registered = isinstance(answer, dict) and isinstance(answer.get("client_id"), str)
    if not response.is_success or not registered or not isinstance(answer, dict):
        detail = ""
        if isinstance(answer, dict) and answer.get("error"):
            detail = f": {answer.get('error')} {answer.get('error_description') or ''}".rstrip()
        raise OAuthError(
            "registration_failed",
            f"dynamic registration at {endpoint} was refused (HTTP {response.status_code}){detail}; "
            "pre-register a client there instead",
        )
    secret = answer.get("client_secret") if isinstance(answer.get("client_secret"), str) else None
    granted = answer.get("token_endpoint_auth_method")
    method = granted if isinstance(granted, str) else method
    if secret is None and method in SECRET_AUTH_METHODS:
        method = "none"
    return ClientRegistration(server.issuer, answer["client_id"], secret, method, "dynamic")
