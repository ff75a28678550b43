"""A real authorization server (npm's oidc-provider) and a real OAuth-protected MCP server, as pytest
fixtures, plus the "browser step" driven with httpx alone.

``oidc_provider(access_ttl=SECONDS)`` starts ``tests/fixtures/oidc_provider.mjs`` and returns an
``OidcProvider`` (its issuer ``url``, admin revocations); ``protected_server(issuer_url)`` starts
``tests/fixtures/protected_server.py`` trusting that issuer and returns a ``ProtectedServer`` (its MCP
``url`` and the ``log`` of subjects its ``whoami`` tool saw). Both are stopped at the test's end.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx
import pytest

from tests.conformance.suites import NODE
from tests.conftest import ROOT, child, free_port

OIDC_PROVIDER = ROOT / "tests" / "fixtures" / "oidc_provider.mjs"
DEFAULT_ACCESS_TTL = 300
MAX_BROWSER_STEPS = 20
_FORM_ACTION = re.compile(r'<form[^>]*\baction="([^"]+)"')


@dataclass(frozen=True)
class OidcProvider:
    """A running oidc-provider: ``url`` is its issuer, ``http://127.0.0.1:PORT``."""

    url: str
    access_ttl: int

    async def revoke(self, http: httpx.AsyncClient, refresh_token: str) -> None:
        """Revokes the refresh token's whole grant (its access and refresh tokens)."""
        response = await http.post(f"{self.url}/admin/revoke", data={"token": refresh_token})
        response.raise_for_status()

    async def revoke_account(self, http: httpx.AsyncClient, account: str) -> None:
        """Revokes every grant the account gave."""
        response = await http.post(f"{self.url}/admin/revoke-account", data={"account": account})
        response.raise_for_status()


@dataclass(frozen=True)
class ProtectedServer:
    """A running protected MCP server: ``url`` is its MCP endpoint (and its RFC 8707 resource)."""

    url: str
    log: Path

    def subjects(self) -> list[str]:
        """The subjects ``whoami`` was called for, in order."""
        return self.log.read_text().splitlines() if self.log.exists() else []


@pytest.fixture
def oidc_provider() -> Iterator[Callable[..., OidcProvider]]:
    """Starts oidc-provider instances: ``oidc_provider(access_ttl=300)``."""
    with ExitStack() as running:

        def start(access_ttl: int = DEFAULT_ACCESS_TTL) -> OidcProvider:
            port = free_port()
            argv = [str(NODE), str(OIDC_PROVIDER), str(port)]
            running.enter_context(child(argv, r"^listening ", {"ACCESS_TTL": str(access_ttl)}))
            return OidcProvider(f"http://127.0.0.1:{port}", access_ttl)

        yield start


@pytest.fixture
def protected_server(tmp_path: Path) -> Iterator[Callable[[str], ProtectedServer]]:
    """Starts protected MCP servers trusting an issuer: ``protected_server(issuer_url)``."""
    with ExitStack() as running:

        def start(issuer_url: str) -> ProtectedServer:
            port = free_port()
            log = tmp_path / f"protected-{port}.log"
            argv = [sys.executable, "-m", "tests.fixtures.protected_server", "--port", str(port)]
            running.enter_context(child([*argv, "--issuer", issuer_url, "--log", str(log)], "^ready"))
            return ProtectedServer(f"http://127.0.0.1:{port}/mcp", log)

        yield start


def _same_endpoint(url: str, other: str) -> bool:
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)


async def drive_browser_login(http: httpx.AsyncClient, authorization_url: str, account: str) -> str:
    """Does what the user's browser does: follows redirects from ``authorization_url``, signs in as
    ``account`` on the provider's login form, and stops at the first redirect to the request's
    ``redirect_uri``, returning that URL (with ``code``, ``state``, ``iss``) without requesting it.

    ``http`` must keep cookies (an ``httpx.AsyncClient`` does) and not follow redirects itself.
    """
    redirect_uri = dict(parse_qsl(urlsplit(authorization_url).query))["redirect_uri"]
    url, form = authorization_url, None
    for _ in range(MAX_BROWSER_STEPS):
        response = await (http.post(url, data=form) if form else http.get(url))
        form = None
        if response.is_redirect:
            url = urljoin(url, response.headers["location"])
            if _same_endpoint(url, redirect_uri):
                return url
            continue
        action = _FORM_ACTION.search(response.text) if response.status_code == 200 else None
        if action is None:
            raise AssertionError(
                f"the browser step stopped at HTTP {response.status_code}: {response.text[:300]}"
            )
        url, form = urljoin(url, action.group(1)), {"login": account}
    raise AssertionError(f"no redirect to {redirect_uri} within {MAX_BROWSER_STEPS} steps")


def callback_parameters(callback_url: str) -> dict[str, str]:
    """The query parameters of the redirect to the client, as ``finish_authorization`` takes them."""
    return dict(parse_qsl(urlsplit(callback_url).query))
