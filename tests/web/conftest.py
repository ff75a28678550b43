"""The web pages driven in process through ``httpx.ASGITransport``, over a store with two gateways,
a host with a connection link, and upstream OAuth answered by an in-memory authorization server."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, insert, select, update

from lockgate.brokering.authorization import Broker
from lockgate.dataplane.guard import HostOriginGuard
from lockgate.domain.declaration import Declaration
from lockgate.store.declarative import apply_declaration
from lockgate.store.passwords import save_password
from lockgate.store.people import ensure_user, role_id
from lockgate.store.schema import gateways, hosts, team_gateways, team_members, teams, users
from lockgate.web import build_web
from tests.brokering.fakes import SERVER_URL, FakeAuthorizationServer
from tests.conftest import TEST_VAULT

KEY = b"test-secret-key"
BASE = "http://127.0.0.1:8080"
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
DECLARATION: dict[str, Any] = {
    "servers": [
        {"name": "github", "transport": "http", "url": SERVER_URL},
        {"name": "notes", "transport": "http", "url": "https://notes.example.com/mcp"},
        {"name": "time", "transport": "stdio", "command": "python"},
    ],
    "gateways": [
        {
            "name": "engineering",
            "servers": [
                {"server": "github", "provisioning": "allow_all", "identity_scheme": "per_user"},
                {"server": "notes", "provisioning": "allow_all", "identity_scheme": "per_user"},
                {"server": "time", "provisioning": "allow_all"},
            ],
        },
        {"name": "finance", "servers": [{"server": "time", "provisioning": "allow_all"}]},
        {"name": "research"},
    ],
    "hosts": [{"name": "agent"}],
}


def csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, f"no CSRF token on the page:\n{page.text}"
    return found.group(1)


def add_user(
    engine: Engine,
    email: str,
    gateways_: Iterable[str] = (),
    *,
    password: str | None = PASSWORD,
    role: str = "Member",
    active: bool = True,
) -> int:
    """A user of ``role`` on a team of their own granted ``gateways_``, signing in with ``password``."""
    with engine.begin() as conn:
        user_id = ensure_user(conn, email)
        conn.execute(
            update(users).where(users.c.id == user_id).values(role_id=role_id(conn, role), active=active)
        )
        team_id = conn.execute(
            insert(teams).values(name=f"team-{user_id}", version=1, created_at=time.time())
        )
        team = team_id.inserted_primary_key[0]  # type: ignore[index]
        conn.execute(insert(team_members).values(team_id=team, user_id=user_id))
        for name in gateways_:
            gateway_id = conn.execute(select(gateways.c.id).where(gateways.c.name == name)).scalar_one()
            conn.execute(insert(team_gateways).values(team_id=team, gateway_id=gateway_id))
        if password is not None:
            save_password(conn, user_id, password)
    return user_id


@dataclass
class Browser:
    """One browser: its own cookies, talking to the web app."""

    http: httpx.AsyncClient

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, **kwargs)

    async def submit(self, page: httpx.Response, action: str, **fields: str) -> httpx.Response:
        """POST ``fields`` to ``action`` with the CSRF token ``page`` carries, as its form would."""
        return await self.http.post(action, data={"csrf": csrf(page), **fields})

    async def sign_in(
        self, email: str, password: str = PASSWORD, next_path: str | None = None
    ) -> httpx.Response:
        form = await self.get("/signin")
        fields = {"email": email, "password": password} | ({"next": next_path} if next_path else {})
        return await self.submit(form, "/signin", **fields)


@dataclass
class WebWorld:
    engine: Engine
    fake: FakeAuthorizationServer
    app: Any
    link: str
    queued: list[float] = field(default_factory=list)
    browsers: list[Browser] = field(default_factory=list)

    def user(
        self,
        email: str,
        gateways_: Iterable[str] = (),
        *,
        password: str | None = PASSWORD,
        role: str = "Member",
        active: bool = True,
    ) -> int:
        """A user of ``role`` on a team of their own granted ``gateways_``."""
        return add_user(self.engine, email, gateways_, password=password, role=role, active=active)

    def browser(self, address: str = "203.0.113.7") -> Browser:
        """A browser of its own, at client ``address``."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 50000))
        browser = Browser(httpx.AsyncClient(transport=transport, base_url=BASE))
        self.browsers.append(browser)
        return browser

    def declare(self, declaration: dict[str, Any]) -> None:
        apply_declaration(self.engine, TEST_VAULT, Declaration.model_validate(declaration))


@pytest.fixture
async def web(engine: Engine) -> AsyncIterator[WebWorld]:
    apply_declaration(engine, TEST_VAULT, Declaration.model_validate(DECLARATION))
    with engine.connect() as conn:
        link = conn.execute(select(hosts.c.link_id).where(hosts.c.name == "agent")).scalar_one()
    fake = FakeAuthorizationServer()
    guard = HostOriginGuard(["127.0.0.1:*"], ["http://127.0.0.1:*"])
    async with fake.client() as http:
        world = WebWorld(engine, fake, None, link)
        broker = Broker(engine, TEST_VAULT, KEY, BASE, http)
        world.app = build_web(
            engine, KEY, TEST_VAULT, broker, guard.check, lambda: world.queued.append(time.time())
        )
        yield world
        for browser in world.browsers:
            await browser.http.aclose()
