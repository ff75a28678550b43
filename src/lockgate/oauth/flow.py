"""The authorization code flow with PKCE (OAuth 2.1 §4.1, RFC 7636), resource indicators (RFC 8707)
and the ``iss`` response parameter (RFC 9207), plus refreshing (OAuth 2.1 §4.3): MCP authorization
2026-07-28 as a client.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from lockgate.oauth.discovery import AuthorizationServer
from lockgate.oauth.errors import OAuthError
from lockgate.oauth.registration import ClientRegistration

STATE_LENGTH = 43  # characters of [A-Za-z0-9]: about 256 bits
CODE_VERIFIER_LENGTH = 64  # RFC 7636 §4.1: 43-128 unreserved characters
OFFLINE_ACCESS = "offline_access"


@dataclass(frozen=True)
class PendingAuthorization:
    """An authorization the user has yet to complete: send them to ``url``; keep the rest (it is
    needed, unchanged, to finish). ``code_verifier`` is the one secret and stays out of ``repr``."""

    url: str
    state: str
    code_verifier: str = field(repr=False)
    redirect_uri: str
    issuer: str
    resource: str
    scope: str | None


@dataclass(frozen=True)
class TokenSet:
    """Tokens from the token endpoint. ``expires_at`` is unix seconds (None: the server said
    nothing); tokens never appear in ``repr``."""

    access_token: str = field(repr=False)
    token_type: str
    refresh_token: str | None = field(repr=False)
    expires_at: float | None
    scope: str | None


def resolve_scope(server: AuthorizationServer, scope: str | None) -> str | None:
    """The ``scope`` to request: ``scope`` if given, else the server's selected scopes; with
    ``offline_access`` added when the authorization server lists it in ``scopes_supported`` (so a
    refresh token can be issued; SEP-2207), and None when that leaves nothing."""
    scopes = scope.split() if scope is not None else list(server.scopes)
    supported = server.metadata.get("scopes_supported")
    if isinstance(supported, list) and OFFLINE_ACCESS in supported and OFFLINE_ACCESS not in scopes:
        scopes.append(OFFLINE_ACCESS)
    return " ".join(scopes) or None


def start_authorization(
    server: AuthorizationServer, client: ClientRegistration, *, redirect_uri: str, scope: str | None = None
) -> PendingAuthorization:
    """The authorization request to send the user's browser to: ``response_type=code``, PKCE S256,
    a fresh ``state``, ``resource`` (RFC 8707 §2.1) and the scope ``resolve_scope`` picks.

    Raises:
        OAuthError: ``issuer_mismatch`` when ``client`` was registered at another server.
    """
    _require_same_issuer(server, client)
    state = generate_token(STATE_LENGTH)
    code_verifier = generate_token(CODE_VERIFIER_LENGTH)
    requested = resolve_scope(server, scope)
    url = prepare_grant_uri(
        server.authorization_endpoint,
        client_id=client.client_id,
        response_type="code",
        redirect_uri=redirect_uri,
        scope=requested,
        state=state,
        code_challenge=create_s256_code_challenge(code_verifier),  # type: ignore[no-untyped-call]
        code_challenge_method="S256",
        resource=server.resource,
    )
    return PendingAuthorization(
        url, state, code_verifier, redirect_uri, server.issuer, server.resource, requested
    )


async def finish_authorization(
    http: httpx.AsyncClient,
    server: AuthorizationServer,
    client: ClientRegistration,
    pending: PendingAuthorization,
    callback: Mapping[str, str],
) -> TokenSet:
    """Checks the redirect's query parameters (``callback``) and exchanges the code for tokens.

    ``state`` must match; a present ``iss`` must equal the issuer exactly, and must be present when
    the server advertises ``authorization_response_iss_parameter_supported`` (RFC 9207 §2.4); an
    ``error`` is raised as it came (RFC 6749 §4.1.2.1). The token request carries the code, the
    ``code_verifier``, ``redirect_uri`` and ``resource``, authenticated by the client's method.

    Raises:
        OAuthError: ``state_mismatch``, ``iss_mismatch``, ``issuer_mismatch`` (the pending
            authorization or the client belongs to another server), the server's error code
            (e.g. ``access_denied``, ``invalid_grant``), ``invalid_request`` (no code),
            ``invalid_response`` (an unusable token response) or ``unreachable``.
    """
    _require_same_issuer(server, client)
    if pending.issuer != server.issuer:
        raise OAuthError("issuer_mismatch", "the authorization was started at another authorization server")
    if not hmac.compare_digest(callback.get("state", "").encode(), pending.state.encode()):
        raise OAuthError("state_mismatch", "the callback's state does not match the authorization request")
    _check_iss(server, callback)
    if "error" in callback:
        description = callback.get("error_description", "the authorization was not granted")
        raise OAuthError(callback["error"], description)
    code = callback.get("code")
    if not code:
        raise OAuthError("invalid_request", "the callback carries no authorization code")
    body = prepare_token_request(
        "authorization_code",
        code=code,
        redirect_uri=pending.redirect_uri,
        code_verifier=pending.code_verifier,
        resource=pending.resource,
    )
    return await _request_tokens(http, server, client, body, previous_refresh_token=None)


async def refresh(
    http: httpx.AsyncClient, server: AuthorizationServer, client: ClientRegistration, refresh_token: str
) -> TokenSet:
    """New tokens for a refresh token (OAuth 2.1 §4.3), with ``resource`` (RFC 8707 §2.2). The
    result keeps ``refresh_token`` when the server does not rotate it.

    Raises:
        OAuthError: ``invalid_grant`` when the refresh token is expired or revoked (the user must
            authorize again), another server error code, ``invalid_response`` or ``unreachable``
            (no answer: worth retrying later).
    """
    _require_same_issuer(server, client)
    body = prepare_token_request("refresh_token", refresh_token=refresh_token, resource=server.resource)
    return await _request_tokens(http, server, client, body, previous_refresh_token=refresh_token)


def _require_same_issuer(server: AuthorizationServer, client: ClientRegistration) -> None:
    if client.issuer != server.issuer:
        raise OAuthError("issuer_mismatch", "the client was registered at another authorization server")


def _check_iss(server: AuthorizationServer, callback: Mapping[str, str]) -> None:
    if "iss" in callback:
        if callback["iss"] != server.issuer:  # RFC 9207 §2.4: simple string comparison
            raise OAuthError("iss_mismatch", "the callback's iss is not the authorization server's issuer")
    elif server.metadata.get("authorization_response_iss_parameter_supported") is True:
        raise OAuthError("iss_mismatch", "the authorization server promised an iss parameter but sent none")


def _encode_client_secret_basic(
    client: ClientAuth, method: str, uri: str, headers: dict[str, str], body: str
) -> tuple[str, dict[str, str], str]:
    """RFC 6749 §2.3.1: client id and secret are form-urlencoded before they are joined and
    base64-encoded (authlib's built-in method skips the encoding)."""
    encoded = ClientAuth(quote_plus(client.client_id), quote_plus(client.client_secret or ""))
    return encoded.prepare(method, uri, headers, body)  # type: ignore[no-any-return,no-untyped-call]


def _client_auth(client: ClientRegistration) -> ClientAuth:
    method: Any = client.token_endpoint_auth_method
    if method == "client_secret_basic":
        method = _encode_client_secret_basic
    return ClientAuth(client.client_id, client.client_secret, method)


async def _request_tokens(
    http: httpx.AsyncClient,
    server: AuthorizationServer,
    client: ClientRegistration,
    body: str,
    previous_refresh_token: str | None,
) -> TokenSet:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    uri, headers, body = _client_auth(client).prepare(  # type: ignore[no-untyped-call]
        "POST", server.token_endpoint, headers, body
    )
    try:
        response = await http.post(uri, content=body, headers=headers)
    except httpx.HTTPError as exc:
        reason = f"the token endpoint could not be reached: {type(exc).__name__}"
        raise OAuthError("unreachable", reason) from exc
    try:
        answer = response.json()
    except ValueError:
        answer = None
    status = f"the token endpoint answered HTTP {response.status_code}"
    if not isinstance(answer, dict):
        raise OAuthError("invalid_response", f"{status} without JSON")
    if "error" in answer or not response.is_success:
        error = answer.get("error")
        code = error if isinstance(error, str) else "invalid_response"
        raise OAuthError(code, str(answer.get("error_description") or status))
    return _token_set(answer, previous_refresh_token)


def _token_set(answer: dict[str, Any], previous_refresh_token: str | None) -> TokenSet:
    access_token, token_type = answer.get("access_token"), answer.get("token_type", "Bearer")
    if not isinstance(access_token, str) or not access_token:
        raise OAuthError("invalid_response", "the token response has no access_token")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise OAuthError("invalid_response", f"unsupported token_type {token_type!r}; only Bearer is used")
    expires_in = answer.get("expires_in")
    try:  # RFC 6749 §5.1 says a number; some servers send a numeric string
        expires_at = time.time() + float(expires_in) if expires_in is not None else None
    except (TypeError, ValueError):
        expires_at = None
    refresh_token = answer.get("refresh_token")
    scope = answer.get("scope")
    return TokenSet(
        access_token=access_token,
        token_type=token_type,
        refresh_token=refresh_token if isinstance(refresh_token, str) else previous_refresh_token,
        expires_at=expires_at,
        scope=scope if isinstance(scope, str) else None,
    )
