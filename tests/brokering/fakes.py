"""An MCP server and its authorization server, in memory behind ``httpx.MockTransport``: a 401 naming
the protected resource metadata (RFC 9728), authorization server metadata (RFC 8414), dynamic client
registration (RFC 7591) and a token endpoint that checks PKCE S256, the redirect URI, the resource
indicator and the client's credentials. ``approve`` plays the browser's part."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import httpx

SERVER_URL = "https://mcp.example.com/mcp"
ISSUER = "https://auth.example.com"
RESOURCE_METADATA = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


@dataclass
class FakeAuthorizationServer:
    metadata_overrides: dict[str, Any] = field(default_factory=dict)
    registrations: list[dict[str, Any]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    clients: dict[str, str | None] = field(default_factory=dict)  # client_id -> secret
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    issued: list[str] = field(default_factory=list)
    reachable: bool = True

    @property
    def metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token",
            "registration_endpoint": f"{ISSUER}/register",
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
            "authorization_response_iss_parameter_supported": True,
        }
        metadata.update(self.metadata_overrides)
        return {k: v for k, v in metadata.items() if v is not None}

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def approve(self, authorization_url: str, user: str = "ada") -> dict[str, str]:
        """The user signs in at the authorization server and consents: the callback's query."""
        sent = query(authorization_url)
        assert authorization_url.startswith(f"{ISSUER}/authorize?")
        assert (sent["response_type"], sent["code_challenge_method"]) == ("code", "S256")
        assert sent["client_id"] in self.clients or sent["client_id"].startswith("https://")
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "client_id": sent["client_id"],
            "challenge": sent["code_challenge"],
            "redirect_uri": sent["redirect_uri"],
            "resource": sent["resource"],
            "user": user,
        }
        return {"code": code, "state": sent["state"], "iss": ISSUER}

    def deny(self, authorization_url: str) -> dict[str, str]:
        """The user declines consent (RFC 6749 §4.1.2.1)."""
        return {
            "error": "access_denied",
            "error_description": "the user said no",
            "state": query(authorization_url)["state"],
            "iss": ISSUER,
        }

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not self.reachable:
            raise httpx.ConnectError("unreachable", request=request)
        url = str(request.url.copy_with(query=None))
        if (request.method, url) == ("POST", SERVER_URL):
            challenge = f'Bearer resource_metadata="{RESOURCE_METADATA}"'
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        if url == RESOURCE_METADATA:
            return httpx.Response(200, json={"resource": SERVER_URL, "authorization_servers": [ISSUER]})
        if url == f"{ISSUER}/.well-known/oauth-authorization-server":
            return httpx.Response(200, json=self.metadata)
        if (request.method, url) == ("POST", f"{ISSUER}/register"):
            return self._register(request)
        if (request.method, url) == ("POST", f"{ISSUER}/token"):
            return self._token(request)
        return httpx.Response(404, json={"error": "not_found"})

    def _register(self, request: httpx.Request) -> httpx.Response:
        asked = httpx.Response(200, content=request.content).json()
        self.registrations.append(asked)
        client_id, secret = f"client-{len(self.registrations)}", secrets.token_urlsafe(16)
        self.clients[client_id] = secret
        return httpx.Response(201, json={**asked, "client_id": client_id, "client_secret": secret})

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        self.token_requests.append(form)
        client_id = form.get("client_id")
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Basic "):
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            client_id = unquote_plus(user)
            if self.clients.get(client_id) != unquote_plus(password):
                return httpx.Response(401, json={"error": "invalid_client"})
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant["client_id"] != client_id:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "unknown code"})
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "PKCE failed"})
        if form.get("redirect_uri") != grant["redirect_uri"] or form.get("resource") != grant["resource"]:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "mismatch"})
        token = f"at-{grant['user']}-{len(self.issued) + 1}"
        self.issued.append(token)
        answer = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": f"rt-{token}",
        }
        return httpx.Response(200, json=answer)
