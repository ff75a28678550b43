"""An in-memory web for ``httpx.MockTransport``: an MCP server and its authorization server as JSON
routes, with every request recorded."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

SERVER_URL = "https://mcp.example.com/mcp"
ISSUER = "https://auth.example.com"
REDIRECT_URI = "https://gateway.example.com/oauth/callback"
Route = Callable[[httpx.Request], httpx.Response]


def as_metadata(issuer: str = ISSUER, **overrides: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "registration_endpoint": f"{issuer}/register",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
    }
    metadata.update(overrides)
    return {k: v for k, v in metadata.items() if v is not None}


@dataclass
class FakeWeb:
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def route(self, method: str, url: str, route: Route) -> None:
        self.routes[(method, url)] = route

    def json(self, url: str, body: Any, status: int = 200, method: str = "GET") -> None:
        self.route(method, url, lambda _request: httpx.Response(status, json=body))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        url = str(request.url.copy_with(query=None))
        route = self.routes.get((request.method, url))
        return route(request) if route else httpx.Response(404, json={"error": "not_found"})

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    def urls(self, method: str = "GET") -> list[str]:
        return [str(r.url) for r in self.requests if r.method == method]

    def form(self, index: int = -1) -> dict[str, str]:
        """The form body of the ``index``-th POST."""
        posts = [r for r in self.requests if r.method == "POST"]
        return dict(parse_qsl(posts[index].content.decode()))

    def posted_json(self, index: int = -1) -> Any:
        posts = [r for r in self.requests if r.method == "POST"]
        return json.loads(posts[index].content)


def standard_web(*, prm: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> FakeWeb:
    """An MCP server at ``SERVER_URL`` whose path-based resource metadata names ``ISSUER``."""
    web = FakeWeb()
    web.json(
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
        prm if prm is not None else {"resource": SERVER_URL, "authorization_servers": [ISSUER]},
    )
    web.json(f"{ISSUER}/.well-known/oauth-authorization-server", metadata or as_metadata())
    return web
