"""The whole seed 004 enrolment against a running Lockgate: a user opens the host's connection link,
signs in, brings a header identity for the per-user server, allows, and the agent then calls a tool
with the minted token; the server sees that user's own credential, never the token."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from lockgate.store.passwords import save_password
from lockgate.store.people import fetch_user
from lockgate.store.schema import hosts
from tests.conftest import People, RunningGateway, mcp_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TOKEN = re.compile(r"\blg_[A-Za-z0-9_-]{43}\b")


def _csrf(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def _enrol(lockgate: RunningGateway, link: str, email: str, key: str) -> str:
    """One user's browser through the connection link; returns the token the page shows."""
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{lockgate.port}", follow_redirects=True
    ) as browser:
        form = await browser.get(f"/connect/{link}?gateway=g")  # → sign in → back to the link → the step
        assert form.url.path == "/signin"
        step = await browser.post(
            "/signin",
            data={
                "csrf": _csrf(form),
                "email": email,
                "password": PASSWORD,
                "next": f"/connect/{link}?gateway=g",
            },
        )
        assert step.url.path == f"/connect/{link}/g"
        assert "No identity yet." in step.text
        [action] = re.findall(r'action="([^"]+/headers)"', step.text)
        step = await browser.post(action, data={"csrf": _csrf(step), "name": "X-Api-Key", "value": key})
        assert "Using identity" in step.text
        shown = await browser.post(f"/connect/{link}/g/allow", data={"csrf": _csrf(step)})
        assert shown.url.path == f"/connect/{link}/g/token"
        [token] = set(TOKEN.findall(shown.text))
        assert (await browser.get(shown.url)).status_code == 410
        return token


async def test_each_user_enrolled_through_the_link_calls_the_server_with_their_own_credential(
    lockgate: RunningGateway, people: People, sdk_http_url: str
) -> None:
    lockgate.declare(
        {
            "servers": [{"name": "fixture", "transport": "http", "url": sdk_http_url}],
            "gateways": [
                {
                    "name": "g",
                    "servers": [
                        {
                            "server": "fixture",
                            "provisioning": "allow_all",
                            "prefix": "mine",
                            "identity_scheme": "per_user",
                        }
                    ],
                }
            ],
            "hosts": [{"name": "agent"}],
        }
    )
    for email in ("ada@example.com", "bob@example.com"):
        people.user(email, "Member", [f"team-{email}"], ["g"])
        with lockgate.engine.begin() as conn:
            save_password(conn, fetch_user(conn, email).id, PASSWORD)
    with lockgate.engine.connect() as conn:
        link = conn.execute(select(hosts.c.link_id).where(hosts.c.name == "agent")).scalar_one()

    tokens = {
        email: await _enrol(lockgate, link, email, f"{email}-key")
        for email in ("ada@example.com", "bob@example.com")
    }

    for email, token in tokens.items():
        async with mcp_client(lockgate.url("g"), token) as client:
            result = await client.call_tool("mine__headers", {})
        text = result.content[0].text  # type: ignore[union-attr]
        seen = dict(line.split(": ", 1) for line in text.splitlines())
        assert seen["x-api-key"] == f"{email}-key"
        assert all(t not in text for t in tokens.values())
