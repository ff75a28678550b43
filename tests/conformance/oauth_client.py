"""The client the official conformance suite tests in its ``auth/*`` client scenarios, built on
``lockgate.oauth``: ``python -m tests.conformance.oauth_client <server-url>``.

The suite appends the scenario server's URL and sets ``MCP_CONFORMANCE_SCENARIO``,
``MCP_CONFORMANCE_PROTOCOL_VERSION`` (absent on the 0.1 suite: 2025-11-25) and, where a scenario
hands out pre-registered credentials, ``MCP_CONFORMANCE_CONTEXT`` (``{"client_id", "client_secret"}``).
The client probes, discovers, registers, sends the "browser" to the authorization endpoint and
follows its redirects up to (not into) the redirect URI, finishes the flow, then lists and calls
the tools with the bearer token: after an ``initialize`` handshake on dated versions up to
2025-11-25, statelessly (per-request ``_meta``) from 2026-07-28 on. A 401 re-authorizes; a 403
``insufficient_scope`` steps up to the union of the scopes asked for so far and the challenged ones
(SEP-2350); at most ``MAX_AUTHORIZATIONS`` per request. Exit status 0 when the tools were called,
1 with the reason on stderr otherwise.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

from lockgate.oauth import (
    ClientRegistration,
    OAuthError,
    TokenSet,
    discover,
    finish_authorization,
    parse_challenge,
    probe,
    register,
    start_authorization,
)

REDIRECT_URI = "http://localhost:3000/callback"  # never contacted: the redirect is not followed
CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"  # the suite's CIMD URL
CLIENT_NAME = "lockgate-conformance"
DEFAULT_PROTOCOL_VERSION = "2025-11-25"
FIRST_STATELESS_VERSION = "2026-07-28"
MAX_AUTHORIZATIONS = 3
MAX_REDIRECTS = 10
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
TIMEOUT = 10.0


class ClientFailure(Exception):
    """The MCP exchange failed for a reason other than OAuth."""


async def follow_to_redirect_uri(http: httpx.AsyncClient, url: str, redirect_uri: str) -> str:
    """Follows the authorization endpoint's redirects like a browser, stopping at the first one to
    ``redirect_uri`` (scheme, host and path equal) without requesting it; returns that URL."""
    target = urlsplit(redirect_uri)
    for _ in range(MAX_REDIRECTS):
        response = await http.get(url)
        if response.status_code not in REDIRECT_STATUSES:
            raise ClientFailure(f"the authorization step stopped at HTTP {response.status_code}")
        url = urljoin(url, response.headers["location"])
        landed = urlsplit(url)
        if (landed.scheme, landed.netloc, landed.path) == (target.scheme, target.netloc, target.path):
            return url
    raise ClientFailure(f"more than {MAX_REDIRECTS} redirects before the redirect URI")


@dataclass
class Authorizer:
    """Gets tokens for one MCP server; keeps one client registration per issuer (never reused at
    another authorization server) and the scopes asked for so far."""

    http: httpx.AsyncClient
    server_url: str
    pre_registered: tuple[str, str | None] | None
    registrations: dict[str, ClientRegistration] = field(default_factory=dict)
    requested: tuple[str, ...] = ()
    tokens: TokenSet | None = None

    async def authorize(self, www_authenticate: str | None, step_up: bool = False) -> None:
        server = await discover(self.http, self.server_url, www_authenticate=www_authenticate)
        client = self.registrations.get(server.issuer)
        if client is None:
            client = await register(
                self.http,
                server,
                redirect_uri=REDIRECT_URI,
                client_name=CLIENT_NAME,
                pre_registered=self.pre_registered,
                metadata_document_url=CLIENT_METADATA_URL,
            )
            self.registrations[server.issuer] = client
        scope = None
        if step_up:  # SEP-2350: previously requested scopes plus the challenged ones
            challenged = parse_challenge(www_authenticate).scopes
            scope = " ".join(dict.fromkeys((*self.requested, *challenged))) or None
        pending = start_authorization(server, client, redirect_uri=REDIRECT_URI, scope=scope)
        self.requested = tuple(pending.scope.split()) if pending.scope else ()
        callback = await follow_to_redirect_uri(self.http, pending.url, pending.redirect_uri)
        query = dict(parse_qsl(urlsplit(callback).query))
        self.tokens = await finish_authorization(self.http, server, client, pending, query)


@dataclass
class McpClient:
    """Just enough MCP over Streamable HTTP for the scenarios, in either era, with the bearer token."""

    http: httpx.AsyncClient
    url: str
    version: str
    authorizer: Authorizer
    session_id: str | None = None
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def stateless(self) -> bool:
        return self.version >= FIRST_STATELESS_VERSION

    def headers(self, method: str, name: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        if self.authorizer.tokens is not None:
            headers["Authorization"] = f"Bearer {self.authorizer.tokens.access_token}"
        if self.stateless:
            headers |= {"MCP-Protocol-Version": self.version, "Mcp-Method": method}
            if name is not None:
                headers["Mcp-Name"] = name
        elif method != "initialize":
            headers["MCP-Protocol-Version"] = self.version
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id
        return headers

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        params = dict(params or {})
        if self.stateless:
            params["_meta"] = {
                "io.modelcontextprotocol/protocolVersion": self.version,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": CLIENT_NAME, "version": "1.0.0"},
            }
        request_id = next(self.ids)
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        response = await self.send(message, method, params.get("name"))
        if "mcp-session-id" in response.headers:
            self.session_id = response.headers["mcp-session-id"]
        return read_result(response, request_id)

    async def notify(self, method: str) -> None:
        await self.send({"jsonrpc": "2.0", "method": method}, method, None)

    async def send(self, message: dict[str, Any], method: str, name: str | None) -> httpx.Response:
        for authorizations in itertools.count():
            response = await self.http.post(self.url, json=message, headers=self.headers(method, name))
            challenge = response.headers.get("www-authenticate")
            step_up = response.status_code == 403 and parse_challenge(challenge).error == "insufficient_scope"
            if response.status_code != 401 and not step_up:
                if response.is_error:
                    raise ClientFailure(
                        f"{method} answered HTTP {response.status_code}: {response.text[:200]}"
                    )
                return response
            if authorizations == MAX_AUTHORIZATIONS:
                raise ClientFailure(f"{method} still refused after {MAX_AUTHORIZATIONS} authorizations")
            await self.authorizer.authorize(challenge, step_up=step_up)
        raise AssertionError("unreachable")


def read_result(response: httpx.Response, request_id: int) -> dict[str, Any]:
    """The JSON-RPC result for ``request_id`` from a JSON or an SSE response."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        messages = [
            json.loads(line[5:])
            for line in response.text.splitlines()
            if line.startswith("data:") and line[5:].strip()
        ]
    else:
        messages = [response.json()]
    for message in messages:
        if message.get("id") == request_id:
            if "error" in message:
                raise ClientFailure(f"JSON-RPC error {message['error']}")
            return dict(message["result"])
    raise ClientFailure(f"no response to request {request_id}")


async def run(server_url: str) -> None:
    version = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION") or DEFAULT_PROTOCOL_VERSION
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    pre_registered = (context["client_id"], context.get("client_secret")) if "client_id" in context else None
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        authorizer = Authorizer(http, server_url, pre_registered)
        challenge = await probe(http, server_url)
        if challenge is not None:
            await authorizer.authorize(challenge)
        mcp = McpClient(http, server_url, version, authorizer)
        if not mcp.stateless:
            await mcp.request(
                "initialize",
                {
                    "protocolVersion": version,
                    "capabilities": {},
                    "clientInfo": {"name": CLIENT_NAME, "version": "1.0.0"},
                },
            )
            await mcp.notify("notifications/initialized")
        tools = await mcp.request("tools/list")
        for tool in tools.get("tools", [])[:1]:
            await mcp.request("tools/call", {"name": tool["name"], "arguments": {}})


def main() -> None:
    try:
        asyncio.run(run(sys.argv[1]))
    except (OAuthError, ClientFailure) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
