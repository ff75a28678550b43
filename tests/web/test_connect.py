"""The connection flow behind a host's link: the gateway picker, bringing an identity for each
per-user server (paste a header, pick one, or sign in with OAuth), and the API token minted on
"Allow", shown once and queued for the host's webhook."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import func, select, update

from lockgate.brokering.authorization import Broker
from lockgate.dataplane.guard import HostOriginGuard
from lockgate.domain.model import Availability, IdentityKind, IdentityStatus
from lockgate.domain.tokens import hash_token
from lockgate.store.identities import create_identity, open_identity_secret
from lockgate.store.schema import (
    api_tokens,
    connections,
    gateway_servers,
    gateways,
    hosts,
    identities,
    identity_choices,
    servers,
    users,
    webhook_deliveries,
)
from lockgate.web import build_web
from tests.brokering.fakes import query
from tests.conftest import TEST_VAULT
from tests.web.conftest import BASE, DECLARATION, KEY, Browser, WebWorld

pytestmark = pytest.mark.anyio
TOKEN = re.compile(r"\blg_[A-Za-z0-9_-]{43}\b")


def _assignment(web: WebWorld, server: str, gateway: str = "engineering") -> int:
    with web.engine.connect() as conn:
        return int(
            conn.execute(
                select(gateway_servers.c.id)
                .join(gateways, gateways.c.id == gateway_servers.c.gateway_id)
                .join(servers, servers.c.id == gateway_servers.c.server_id)
                .where((gateways.c.name == gateway) & (servers.c.name == server))
            ).scalar_one()
        )


def _identity(web: WebWorld, server: str, owner: int | None, name: str, available: Availability) -> int:
    with web.engine.begin() as conn:
        server_id = conn.execute(select(servers.c.id).where(servers.c.name == server)).scalar_one()
        row = create_identity(
            conn,
            TEST_VAULT,
            name=name,
            server_id=server_id,
            owner_id=owner,
            kind=IdentityKind.HEADERS,
            availability=available,
            headers={"Authorization": f"Bearer {name}"},
        )
    return int(row.id)


async def _signed_in(
    web: WebWorld, email: str = "ada@example.com", gateways_: tuple[str, ...] = ("engineering",)
) -> Browser:
    web.user(email, gateways_)
    browser = web.browser()
    assert (await browser.sign_in(email)).status_code == 303
    return browser


def _step(web: WebWorld, gateway: str = "engineering") -> str:
    return f"/connect/{web.link}/{gateway}"


async def _paste(
    web: WebWorld, browser: Browser, server: str, value: str, name: str = "Authorization"
) -> httpx.Response:
    page = await browser.get(_step(web))
    return await browser.submit(
        page, f"{_step(web)}/assignments/{_assignment(web, server)}/headers", name=name, value=value
    )


def _choices(web: WebWorld) -> dict[int, int]:
    with web.engine.connect() as conn:
        return {r.assignment_id: r.identity_id for r in conn.execute(select(identity_choices))}


async def test_the_picker_lists_only_the_gateways_the_users_teams_grant(web: WebWorld) -> None:
    browser = await _signed_in(web)
    picker = await browser.get(f"/connect/{web.link}")
    assert picker.status_code == 200
    assert "Add a connection for agent" in picker.text
    assert f'href="/connect/{web.link}/engineering"' in picker.text
    assert "finance" not in picker.text and "research" not in picker.text


async def test_a_role_that_may_use_every_gateway_is_offered_every_live_gateway(web: WebWorld) -> None:
    web.declare({"gateways": [{"name": "research", "archived": True}]})
    web.user("root@example.com", role="Administrator")
    browser = web.browser()
    await browser.sign_in("root@example.com")
    picker = await browser.get(f"/connect/{web.link}")
    assert all(f'/connect/{web.link}/{name}"' in picker.text for name in ("engineering", "finance"))
    assert "research" not in picker.text


async def test_a_user_on_no_granted_team_is_told_to_ask_for_one(web: WebWorld) -> None:
    browser = await _signed_in(web, gateways_=())
    picker = await browser.get(f"/connect/{web.link}")
    assert "No gateway is available to you yet" in picker.text


async def test_a_gateway_named_in_the_link_is_preselected(web: WebWorld) -> None:
    browser = await _signed_in(web)
    sent = await browser.get(f"/connect/{web.link}?gateway=engineering")
    assert (sent.status_code, sent.headers["location"]) == (303, _step(web))


@pytest.mark.parametrize("gateway", ["finance", "nonexistent"])
async def test_a_gateway_not_granted_or_unknown_is_not_available_alike(web: WebWorld, gateway: str) -> None:
    browser = await _signed_in(web)
    refused = await browser.get(_step(web, gateway))
    assert refused.status_code == 404
    assert f"No gateway called {gateway} is available to you" in refused.text


async def test_an_unknown_link_is_refused(web: WebWorld) -> None:
    browser = await _signed_in(web)
    refused = await browser.get("/connect/not-a-link/engineering")
    assert refused.status_code == 404
    assert "This connection link is not valid" in refused.text


async def test_a_disabled_host_refuses_with_a_clear_page(web: WebWorld) -> None:
    browser = await _signed_in(web)
    page = await browser.get(_step(web))
    web.declare({"hosts": [{"name": "agent", "enabled": False}]})
    for refused in (
        await browser.get(f"/connect/{web.link}"),
        await browser.submit(page, f"{_step(web)}/allow"),
    ):
        assert refused.status_code == 403
        assert "agent is disabled" in refused.text


async def test_a_disabled_gateway_refuses_with_a_clear_page(web: WebWorld) -> None:
    browser = await _signed_in(web)
    with web.engine.begin() as conn:
        conn.execute(update(gateways).where(gateways.c.name == "engineering").values(enabled=False))
    refused = await browser.get(_step(web))
    assert refused.status_code == 403
    assert "Gateway engineering is disabled" in refused.text
    assert "(disabled)" in (await browser.get(f"/connect/{web.link}")).text


async def test_the_step_asks_for_each_per_user_server_and_nothing_for_the_others(web: WebWorld) -> None:
    browser = await _signed_in(web)
    page = await browser.get(_step(web))
    assert page.status_code == 200
    assert page.text.count("No identity yet.") == 2
    assert "Sign in to github with OAuth" in page.text
    assert "time: needs no identity" in page.text
    assert "Bring an identity for github, notes to continue." in page.text


async def test_pasting_a_header_brings_a_private_identity_for_that_server(web: WebWorld) -> None:
    browser = await _signed_in(web)
    saved = await _paste(web, browser, "notes", "Bearer ada-notes-key")
    assert (saved.status_code, saved.headers["location"]) == (303, _step(web))
    with web.engine.connect() as conn:
        identity = conn.execute(select(identities)).one()
    assert (identity.name, identity.kind, identity.availability) == (
        "ada@example.com/notes",
        "headers",
        "private",
    )
    assert open_identity_secret(TEST_VAULT, identity) == {
        "headers": {"Authorization": "Bearer ada-notes-key"}
    }
    assert _choices(web) == {_assignment(web, "notes"): identity.id}
    assert "Using identity ada@example.com/notes." in (await browser.get(_step(web))).text


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("Host", "evil.example.com", "header &#39;Host&#39; is set by the gateway itself"),
        ("Mcp-Method", "tools/call", "header &#39;Mcp-Method&#39; is set by the gateway itself"),
        ("Proxy-Authorization", "Basic x", "is set by the gateway itself"),
        ("Bad Name", "x", "is not a header name"),
        ("X-Key", "", "has an empty value"),
        ("X-Key", "a\nb", "holds a control character"),
        ("X-Key", "a\rHost: evil", "holds a control character"),
    ],
)
async def test_a_pasted_header_must_be_a_credential_header_on_one_line(
    web: WebWorld, name: str, value: str, message: str
) -> None:
    browser = await _signed_in(web)
    refused = await _paste(web, browser, "notes", value, name=name)
    assert refused.status_code == 400
    assert message in refused.text
    assert _choices(web) == {}


@pytest.mark.parametrize("name", ["LD_PRELOAD", "PYTHONWARNINGS", "BROWSER", "PATH", "OTHER_TOKEN"])
async def test_a_member_cannot_set_a_variable_a_stdio_server_does_not_declare_for_identities(
    web: WebWorld, name: str
) -> None:
    declared = {
        **DECLARATION,
        "servers": [
            *DECLARATION["servers"][:2],
            {**DECLARATION["servers"][2], "identity_env": ["TIME_TOKEN"]},
        ],
    }
    declared["gateways"] = [
        {
            **DECLARATION["gateways"][0],
            "servers": [{"server": "time", "provisioning": "allow_all", "identity_scheme": "per_user"}],
        }
    ]
    web.declare(declared)
    browser = await _signed_in(web)
    assert "<option>TIME_TOKEN</option>" in (await browser.get(_step(web))).text  # what it may set
    refused = await _paste(web, browser, "time", "/tmp/payload.so", name=name)
    assert refused.status_code == 400
    assert f"{name}" in refused.text and "/tmp/payload.so" not in refused.text
    assert _choices(web) == {}
    saved = await _paste(web, browser, "time", "t-key", name="TIME_TOKEN")
    assert saved.status_code == 303
    assert list(_choices(web)) == [_assignment(web, "time")]


async def test_an_own_or_global_identity_can_be_picked_but_not_another_users_private_one(
    web: WebWorld,
) -> None:
    browser = await _signed_in(web)
    grace = web.user("grace@example.com")
    with web.engine.connect() as conn:
        ada = conn.execute(select(users.c.id).where(users.c.email == "ada@example.com")).scalar_one()
    own = _identity(web, "github", ada, "ada-github", Availability.PRIVATE)
    shared = _identity(web, "github", grace, "github-bot", Availability.GLOBAL)
    private = _identity(web, "github", grace, "grace-github", Availability.PRIVATE)
    page = await browser.get(_step(web))
    assert "ada-github" in page.text and "github-bot" in page.text and "grace-github" not in page.text
    action = f"{_step(web)}/assignments/{_assignment(web, 'github')}/choice"
    refused = await browser.submit(page, action, identity=str(private))
    assert refused.status_code == 400
    for picked in (shared, own):
        assert (await browser.submit(page, action, identity=str(picked))).status_code == 303
        assert _choices(web) == {_assignment(web, "github"): picked}


async def test_allow_waits_until_every_per_user_server_has_a_usable_identity(web: WebWorld) -> None:
    browser = await _signed_in(web)
    await _paste(web, browser, "notes", "Bearer k")
    page = await browser.get(_step(web))
    refused = await browser.submit(page, f"{_step(web)}/allow")
    assert refused.status_code == 409
    assert "Bring an identity for github first." in refused.text
    with web.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(api_tokens)).scalar() == 0


async def test_allow_mints_a_token_for_host_gateway_and_user_shown_once(web: WebWorld) -> None:
    browser = await _signed_in(web)
    await _paste(web, browser, "notes", "Bearer notes-key")
    await _paste(web, browser, "github", "Bearer github-key")
    page = await browser.get(_step(web))
    assert "Allow agent to reach gateway engineering as you" in page.text

    allowed = await browser.submit(page, f"{_step(web)}/allow")
    assert (allowed.status_code, allowed.headers["location"]) == (303, f"{_step(web)}/token")
    assert not TOKEN.search(allowed.text)
    shown = await browser.get(allowed.headers["location"])
    assert shown.status_code == 200
    [token] = set(TOKEN.findall(shown.text))
    assert f'value="{BASE}/mcp/engineering"' in shown.text
    assert "Nothing was delivered to agent" in shown.text
    assert web.queued == []

    again = await browser.get(allowed.headers["location"])
    assert again.status_code == 410
    assert not TOKEN.search(again.text)
    assert "shown once" in again.text
    with web.engine.connect() as conn:
        stored = conn.execute(
            select(
                api_tokens.c.token_hash, connections.c.user_id, hosts.c.name, gateways.c.name.label("gateway")
            )
            .join(connections, connections.c.id == api_tokens.c.connection_id)
            .join(hosts, hosts.c.id == connections.c.host_id)
            .join(gateways, gateways.c.id == connections.c.gateway_id)
        ).one()
    assert stored.token_hash == hash_token(KEY, token)
    assert (stored.name, stored.gateway) == ("agent", "engineering")


async def test_the_shown_token_opens_only_in_the_browser_that_minted_it(web: WebWorld) -> None:
    browser = await _signed_in(web)
    await _paste(web, browser, "notes", "Bearer n")
    await _paste(web, browser, "github", "Bearer g")
    allowed = await browser.submit(await browser.get(_step(web)), f"{_step(web)}/allow")
    cookie = next(c for c in browser.http.cookies.jar if c.name == "lockgate_token")
    other = await _signed_in(web, "grace@example.com")
    other.http.cookies.set("lockgate_token", cookie.value or "")
    stolen = await other.get(allowed.headers["location"])
    assert stolen.status_code == 410
    assert not TOKEN.search(stolen.text)


async def test_the_token_page_replayed_with_its_cookie_in_the_same_session_shows_nothing(
    web: WebWorld,
) -> None:
    browser = await _signed_in(web)
    await _paste(web, browser, "notes", "Bearer n")
    await _paste(web, browser, "github", "Bearer g")
    allowed = await browser.submit(await browser.get(_step(web)), f"{_step(web)}/allow")
    cookie = next(c for c in browser.http.cookies.jar if c.name == "lockgate_token").value or ""
    assert (await browser.get(allowed.headers["location"])).status_code == 200
    browser.http.cookies.set("lockgate_token", cookie)  # the request replayed as first sent
    replayed = await browser.get(allowed.headers["location"])
    assert replayed.status_code == 410
    assert not TOKEN.search(replayed.text)
    with web.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(api_tokens)).scalar() == 1


async def test_a_host_with_a_webhook_gets_the_token_queued_in_the_same_transaction(web: WebWorld) -> None:
    with web.engine.begin() as conn:
        conn.execute(update(hosts).values(webhook_url="https://agent.example.com/hook"))
    browser = await _signed_in(web)
    await _paste(web, browser, "notes", "Bearer n")
    await _paste(web, browser, "github", "Bearer g")
    allowed = await browser.submit(await browser.get(_step(web)), f"{_step(web)}/allow")
    shown = await browser.get(allowed.headers["location"])
    [token] = set(TOKEN.findall(shown.text))
    assert "Lockgate is also delivering this token to agent's webhook" in shown.text
    assert len(web.queued) == 1
    with web.engine.connect() as conn:
        [delivery] = conn.execute(select(webhook_deliveries)).all()
    assert delivery.event == "api_token.created"
    assert token not in repr(delivery._mapping)


async def test_a_webhook_set_by_someone_who_cannot_use_the_gateway_gets_no_enrolled_token(
    web: WebWorld,
) -> None:
    kim = web.user("kim@example.com")  # on a team granted nothing
    with web.engine.begin() as conn:
        conn.execute(update(hosts).values(webhook_url="https://kim.example/hook", webhook_set_by=kim))
    browser = await _signed_in(web)
    await _paste(web, browser, "notes", "Bearer n")
    await _paste(web, browser, "github", "Bearer g")
    allowed = await browser.submit(await browser.get(_step(web)), f"{_step(web)}/allow")
    shown = await browser.get(allowed.headers["location"])
    assert TOKEN.search(shown.text) and "Nothing was delivered to agent" in shown.text
    assert web.queued == []
    with web.engine.connect() as conn:
        assert conn.execute(select(webhook_deliveries)).all() == []


async def test_a_disabled_connection_gets_no_new_token(web: WebWorld) -> None:
    browser = await _signed_in(web)
    await _paste(web, browser, "notes", "Bearer n")
    await _paste(web, browser, "github", "Bearer g")
    page = await browser.get(_step(web))
    await browser.get((await browser.submit(page, f"{_step(web)}/allow")).headers["location"])
    with web.engine.begin() as conn:
        conn.execute(update(connections).values(enabled=False))
    refused = await browser.submit(page, f"{_step(web)}/allow")
    assert refused.status_code == 403
    assert "Your connection to engineering through agent is disabled" in refused.text
    with web.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(api_tokens)).scalar() == 1


@pytest.mark.parametrize("form", ["headers", "choice", "oauth", "allow"])
async def test_a_connection_form_without_its_csrf_token_changes_nothing(web: WebWorld, form: str) -> None:
    browser = await _signed_in(web)
    action = (
        f"{_step(web)}/allow"
        if form == "allow"
        else f"{_step(web)}/assignments/{_assignment(web, 'notes')}/{form}"
    )
    refused = await browser.http.post(
        action, data={"name": "Authorization", "value": "Bearer x", "identity": "1"}
    )
    assert refused.status_code == 403
    assert _choices(web) == {}
    with web.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(identities)).scalar() == 0


async def test_a_form_posted_after_the_session_ended_leads_back_to_the_step_after_signing_in(
    web: WebWorld,
) -> None:
    action = f"{_step(web)}/assignments/{_assignment(web, 'notes')}/headers"
    sent = await web.browser().http.post(action, data={"csrf": "x", "name": "A", "value": "b"})
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/signin?next=%2Fconnect%2F{web.link}%2Fengineering"


async def test_signing_in_with_oauth_from_the_step_brings_a_ready_identity(web: WebWorld) -> None:
    browser = await _signed_in(web)
    page = await browser.get(_step(web))
    sent = await browser.submit(page, f"{_step(web)}/assignments/{_assignment(web, 'github')}/oauth")
    assert sent.status_code == 303
    authorization_url = sent.headers["location"]
    assert query(authorization_url)["redirect_uri"] == f"{BASE}/oauth/callback"
    with web.engine.connect() as conn:
        pending = conn.execute(select(identities)).one()
    assert (pending.kind, pending.status) == ("oauth", "pending")
    assert _choices(web) == {_assignment(web, "github"): pending.id}

    returned = await browser.get("/oauth/callback", params=web.fake.approve(authorization_url))
    assert (returned.status_code, returned.headers["location"]) == (303, _step(web))
    with web.engine.connect() as conn:
        ready = conn.execute(select(identities)).one()
    assert (ready.id, ready.status) == (pending.id, IdentityStatus.READY.value)
    assert open_identity_secret(TEST_VAULT, ready)["access_token"] == "at-ada-1"
    assert "Using identity ada@example.com/github." in (await browser.get(_step(web))).text


async def test_signing_in_with_oauth_again_reuses_the_identity_awaiting_authorization(web: WebWorld) -> None:
    browser = await _signed_in(web)
    action = f"{_step(web)}/assignments/{_assignment(web, 'github')}/oauth"
    for _ in range(2):
        assert (await browser.submit(await browser.get(_step(web)), action)).status_code == 303
    with web.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(identities)).scalar() == 1


async def test_a_declined_oauth_sign_in_says_why_and_leads_back(web: WebWorld) -> None:
    browser = await _signed_in(web)
    page = await browser.get(_step(web))
    sent = await browser.submit(page, f"{_step(web)}/assignments/{_assignment(web, 'github')}/oauth")
    declined = await browser.get("/oauth/callback", params=web.fake.deny(sent.headers["location"]))
    assert declined.status_code == 400
    assert "access_denied" in declined.text
    assert f'href="{_step(web)}"' in declined.text


async def test_an_oauth_sign_in_that_cannot_start_says_why(web: WebWorld) -> None:
    web.fake.reachable = False
    browser = await _signed_in(web)
    page = await browser.get(_step(web))
    refused = await browser.submit(page, f"{_step(web)}/assignments/{_assignment(web, 'github')}/oauth")
    assert refused.status_code == 502
    assert "Signing in to github could not start" in refused.text
    assert _choices(web) == {}


async def test_the_oauth_callback_signs_the_visitor_in_first(web: WebWorld) -> None:
    sent = await web.browser().get("/oauth/callback", params={"state": "s", "code": "c"})
    assert sent.status_code == 303
    assert sent.headers["location"] == "/signin?next=%2Foauth%2Fcallback%3Fstate%3Ds%26code%3Dc"


async def test_the_client_metadata_document_is_served_only_over_https(web: WebWorld) -> None:
    assert (await web.browser().get("/oauth/client-metadata.json")).status_code == 404
    public = "https://lockgate.example.com"
    guard = HostOriginGuard(["lockgate.example.com"], [public])
    async with httpx.AsyncClient() as unused:
        app = build_web(
            web.engine, KEY, TEST_VAULT, Broker(web.engine, TEST_VAULT, KEY, public, unused), guard.check
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=public) as http:
            served = await http.get("/oauth/client-metadata.json")
            form = await http.get("/signin")
    assert served.status_code == 200
    assert served.json()["client_id"] == f"{public}/oauth/client-metadata.json"
    assert served.json()["redirect_uris"] == [f"{public}/oauth/callback"]
    cookie = form.headers["set-cookie"]
    assert cookie.startswith("__Host-lockgate_signin=") and "secure" in cookie.lower()
