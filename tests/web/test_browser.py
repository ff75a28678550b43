"""The web pages in a real browser: headless Chromium (Debian's package, driven by Playwright) against
a Lockgate serving on a real port, through sign-in, a host's connection link and the token page.

What only a browser shows lives here: the Origin and Referer it sends on a form (from the pages'
Referrer-Policy), which cookies it keeps and sends back, and what a reload does. In CI (``CI=true``)
a missing Chromium fails these tests instead of skipping them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, sync_playwright
from sqlalchemy import select

from lockgate.domain.tokens import hash_token
from lockgate.store.schema import api_tokens, hosts
from lockgate.web.signin import FAILED
from tests.conftest import DEADLINE, RunningGateway
from tests.web.conftest import PASSWORD, add_user

pytestmark = pytest.mark.browser
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DECLARATION = {
    "servers": [
        {"name": "time", "transport": "stdio", "command": "python"},
        {"name": "notes", "transport": "http", "url": "https://notes.example.com/mcp"},
    ],
    "gateways": [
        {
            "name": "finance",
            "servers": [
                {"server": "time", "provisioning": "allow_all"},
                {"server": "notes", "provisioning": "allow_all", "identity_scheme": "per_user"},
            ],
        }
    ],
    "hosts": [{"name": "agent"}],
}


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[BrowserContext]:
    """A fresh Chromium profile; skipped without Chromium, except in CI where that fails."""
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; CI runs the browser tests (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            timeout=DEADLINE * 1000,
        )
        context.set_default_timeout(DEADLINE * 1000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def link(lockgate: RunningGateway) -> str:
    """The connection link of host ``agent``, for a user who may use gateway ``finance``."""
    lockgate.declare(DECLARATION)
    add_user(lockgate.engine, "ada@example.com", ["finance"])
    with lockgate.engine.connect() as conn:
        link_id = conn.execute(select(hosts.c.link_id).where(hosts.c.name == "agent")).scalar_one()
    return f"http://127.0.0.1:{lockgate.port}/connect/{link_id}"


def sign_in(page: Page, email: str, password: str) -> None:
    page.fill("#email", email)
    page.fill("#password", password)
    submit(page, "Sign in")


def submit(page: Page, button: str) -> None:
    with page.expect_navigation():
        page.click(f"button:text('{button}')")


def test_a_connection_link_leads_through_sign_in_and_an_identity_to_a_token_shown_once(
    lockgate: RunningGateway, chromium: BrowserContext, link: str
) -> None:
    page = chromium.new_page()
    page.goto(f"{link}?gateway=finance")
    assert page.url.startswith(f"http://127.0.0.1:{lockgate.port}/signin?next=")
    sign_in(page, "ada@example.com", PASSWORD)
    assert page.url == f"{link}/finance"
    assert page.locator("text=Signed in as ada@example.com").is_visible()
    page.fill("input[name=value]", "Bearer notes-key")
    submit(page, "Save as a new identity")
    assert page.url == f"{link}/finance"
    submit(page, "Allow")
    assert page.url == f"{link}/finance/token"
    token = page.input_value("#token")
    minted = select(api_tokens.c.id).where(
        api_tokens.c.token_hash == hash_token(lockgate.settings.key_bytes(), token)
    )
    with lockgate.engine.connect() as conn:
        assert conn.execute(minted).first() is not None
    reloaded = page.reload()
    assert reloaded is not None and reloaded.status == 410
    assert page.locator("h1").inner_text() == "Token already shown"
    assert token not in page.content()
    submit(page, "Sign out")
    assert page.url == f"http://127.0.0.1:{lockgate.port}/signin"
    page.goto(f"{link}/finance")
    assert page.url.startswith(f"http://127.0.0.1:{lockgate.port}/signin?next=")


def test_a_wrong_password_in_the_browser_gets_the_form_again_and_the_right_one_signs_in(
    lockgate: RunningGateway, chromium: BrowserContext, link: str
) -> None:
    page = chromium.new_page()
    page.goto(link)
    sign_in(page, "ada@example.com", "wrong password, long enough")
    assert page.locator("[role=alert]").inner_text() == FAILED
    sign_in(page, "ada@example.com", PASSWORD)
    assert page.url == link
    assert page.locator("a:text('finance')").is_visible()
