"""Signing in with a local account: one answer for every failure, deactivated users kept out, a
session cookie that is HttpOnly and SameSite, CSRF tokens on every form, and a brake on guessing."""

from __future__ import annotations

import anyio
import pytest
from sqlalchemy import func, select, update

from lockgate.store.errors import NotFoundError
from lockgate.store.passwords import load_password_user, save_password
from lockgate.store.schema import users, web_sessions
from lockgate.web import signin
from tests.web.conftest import PASSWORD, WebWorld, csrf

pytestmark = pytest.mark.anyio
FAILED = "That email and password do not match an active account."
WRONG = "wrong password, long enough"


async def test_the_right_password_signs_in_and_goes_on_to_next(web: WebWorld) -> None:
    web.user("ada@example.com")
    browser = web.browser()
    signed_in = await browser.sign_in("ada@example.com", next_path="/connect/x/engineering")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/connect/x/engineering"
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("lockgate_session=")
    for attribute in ("HttpOnly", "SameSite=lax", "Path=/"):
        assert attribute.lower() in cookie.lower()
    assert "secure" not in cookie.lower()  # the public URL is http here
    home = await browser.get("/connect")
    assert home.status_code == 200
    assert "Signed in as ada@example.com" in home.text


async def test_the_email_is_matched_without_regard_to_case(web: WebWorld) -> None:
    web.user("ada@example.com")
    assert (await web.browser().sign_in("  ADA@Example.com")).status_code == 303


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ada@example.com", "wrong password, long enough"),
        ("nobody@example.com", PASSWORD),
        ("nopassword@example.com", PASSWORD),
        ("gone@example.com", PASSWORD),
    ],
    ids=["wrong password", "no such user", "no password set", "deactivated"],
)
async def test_every_failed_sign_in_gets_the_same_answer_and_no_session(
    web: WebWorld, email: str, password: str
) -> None:
    web.user("ada@example.com")
    web.user("nopassword@example.com", password=None)
    web.user("gone@example.com", active=False)
    browser = web.browser()
    refused = await browser.sign_in(email, password)
    assert refused.status_code == 400
    assert FAILED in refused.text
    assert "lockgate_session" not in refused.headers.get("set-cookie", "")
    with web.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(web_sessions)).scalar() == 0
    assert (await browser.get("/connect")).status_code == 303


async def test_a_deactivated_users_session_stops_at_once(web: WebWorld) -> None:
    ada = web.user("ada@example.com")
    browser = web.browser()
    await browser.sign_in("ada@example.com")
    assert (await browser.get("/connect")).status_code == 200
    with web.engine.begin() as conn:
        conn.execute(update(users).where(users.c.id == ada).values(active=False))
    refused = await browser.get("/connect")
    assert refused.status_code == 303
    assert refused.headers["location"] == "/signin?next=%2Fconnect"


async def test_a_page_needing_a_session_sends_the_visitor_to_sign_in_and_back(web: WebWorld) -> None:
    web.user("ada@example.com")
    browser = web.browser()
    sent = await browser.get(f"/connect/{web.link}?gateway=engineering")
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/signin?next=%2Fconnect%2F{web.link}%3Fgateway%3Dengineering"
    form = await browser.get(sent.headers["location"])
    assert f'value="/connect/{web.link}?gateway=engineering"' in form.text
    back = await browser.submit(
        form,
        "/signin",
        email="ada@example.com",
        password=PASSWORD,
        next=f"/connect/{web.link}?gateway=engineering",
    )
    assert back.headers["location"] == f"/connect/{web.link}?gateway=engineering"


@pytest.mark.parametrize(
    "next_path", ["https://evil.example.com/", "//evil.example.com/x", "/\\evil.example.com"]
)
async def test_next_never_leads_off_lockgate(web: WebWorld, next_path: str) -> None:
    web.user("ada@example.com")
    signed_in = await web.browser().sign_in("ada@example.com", next_path=next_path)
    assert signed_in.headers["location"] == "/connect"


async def test_a_sign_in_without_its_csrf_token_is_refused(web: WebWorld) -> None:
    web.user("ada@example.com")
    browser = web.browser()
    await browser.get("/signin")
    missing = await browser.http.post("/signin", data={"email": "ada@example.com", "password": PASSWORD})
    forged = await browser.http.post(
        "/signin", data={"csrf": "0" * 64, "email": "ada@example.com", "password": PASSWORD}
    )
    assert missing.status_code == forged.status_code == 403
    assert "could not be verified" in missing.text


async def test_a_sign_in_form_from_another_browser_is_refused(web: WebWorld) -> None:
    web.user("ada@example.com")
    attackers_form = await web.browser().get("/signin")
    victim = web.browser()
    await victim.get("/signin")
    refused = await victim.submit(attackers_form, "/signin", email="ada@example.com", password=PASSWORD)
    assert refused.status_code == 403


async def test_signing_out_ends_the_session_and_needs_the_csrf_token(web: WebWorld) -> None:
    web.user("ada@example.com")
    browser = web.browser()
    await browser.sign_in("ada@example.com")
    page = await browser.get("/connect")
    assert (await browser.http.post("/signout", data={})).status_code == 403
    signed_out = await browser.submit(page, "/signout")
    assert signed_out.status_code == 303
    assert signed_out.headers["location"] == "/signin"
    with web.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(web_sessions)).scalar() == 0
    assert (await browser.get("/connect")).status_code == 303


async def test_signing_in_again_replaces_the_previous_session(web: WebWorld) -> None:
    web.user("ada@example.com")
    browser = web.browser()
    await browser.sign_in("ada@example.com")
    await browser.sign_in("ada@example.com")
    with web.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(web_sessions)).scalar() == 1


async def test_repeated_failures_for_an_account_are_throttled_even_with_the_right_password(
    web: WebWorld,
) -> None:
    web.user("ada@example.com")
    browser = web.browser()
    for _ in range(5):
        assert (await browser.sign_in("ada@example.com", "wrong password, long enough")).status_code == 400
    throttled = await browser.sign_in("ada@example.com")
    assert throttled.status_code == 429
    assert "Too many failed sign-ins" in throttled.text
    web.user("grace@example.com")
    assert (await browser.sign_in("grace@example.com")).status_code == 303  # other accounts are not


async def test_parallel_guesses_are_counted_before_any_password_is_checked(
    web: WebWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    web.user("ada@example.com")
    browser = web.browser()
    form = await browser.get("/signin")
    checked: list[str] = []

    def wrong(_conn: object, _email: str, password: str) -> None:
        checked.append(password)

    monkeypatch.setattr(signin, "load_password_user", wrong)
    statuses: list[int] = []

    async def guess(n: int) -> None:
        fields = {"email": "ada@example.com", "password": f"guess number {n:02}, long enough"}
        statuses.append((await browser.submit(form, "/signin", **fields)).status_code)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as guesses:
            for n in range(30):
                guesses.start_soon(guess, n)
    assert len(checked) == 5
    assert sorted(statuses) == [400] * 5 + [429] * 25


async def test_failures_from_one_address_do_not_lock_the_account_elsewhere(web: WebWorld) -> None:
    web.user("ada@example.com")
    attacker = web.browser("198.51.100.66")
    for _ in range(6):
        await attacker.sign_in("ada@example.com", WRONG)
    assert (await attacker.sign_in("ada@example.com")).status_code == 429
    assert (await web.browser().sign_in("ada@example.com")).status_code == 303


async def test_guesses_from_many_addresses_spare_a_browser_that_signed_in_before(web: WebWorld) -> None:
    web.user("ada@example.com")
    web.user("grace@example.com")
    known, graces = web.browser(), web.browser("192.0.2.2")
    assert (await known.sign_in("ada@example.com")).status_code == 303
    assert (await graces.sign_in("grace@example.com")).status_code == 303
    for n in range(4):
        attacker = web.browser(f"198.51.100.{n}")
        for _ in range(5):
            assert (await attacker.sign_in("ada@example.com", WRONG)).status_code == 400
    assert (await web.browser("192.0.2.1").sign_in("ada@example.com")).status_code == 429
    assert (await graces.sign_in("ada@example.com")).status_code == 429  # its device cookie is grace's
    assert (await known.sign_in("ada@example.com")).status_code == 303


async def test_a_request_for_another_host_or_from_another_origin_is_refused(web: WebWorld) -> None:
    browser = web.browser()
    assert (await browser.get("/signin", headers={"Host": "evil.example.com"})).status_code == 421
    refused = await browser.http.post("/signin", data={}, headers={"Origin": "https://evil.example.com"})
    assert refused.status_code == 403


async def test_a_form_from_an_opaque_origin_is_decided_by_its_csrf_token(web: WebWorld) -> None:
    web.user("ada@example.com")
    browser = web.browser()
    form = await browser.get("/signin")
    fields = {"email": "ada@example.com", "password": PASSWORD}
    null = {"Origin": "null"}
    forged = await browser.http.post("/signin", data={"csrf": "0" * 64, **fields}, headers=null)
    assert forged.status_code == 403
    assert "This form could not be verified" in forged.text
    cross_site = {"Origin": "https://evil.example.com"}
    refused = await browser.http.post("/signin", data={"csrf": csrf(form), **fields}, headers=cross_site)
    assert (refused.status_code, refused.text) == (403, "Origin 'https://evil.example.com' is not allowed")
    signed_in = await browser.http.post("/signin", data={"csrf": csrf(form), **fields}, headers=null)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/connect")


@pytest.mark.parametrize("token", ["", "0" * 64, "é" * 64], ids=["empty", "wrong", "not ascii"])
async def test_a_form_with_a_wrong_csrf_token_is_refused(web: WebWorld, token: str) -> None:
    browser = web.browser()
    await browser.get("/signin")
    fields = {"csrf": token, "email": "ada@example.com", "password": PASSWORD}
    refused = await browser.http.post("/signin", data=fields)
    assert refused.status_code == 403
    assert "This form could not be verified" in refused.text


async def test_pages_are_not_cached_framed_or_leaking_referrers(web: WebWorld) -> None:
    page = await web.browser().get("/signin")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert 'name="csrf"' in page.text and csrf(page)


async def test_a_password_is_stored_as_an_argon2id_hash_and_checked(web: WebWorld) -> None:
    ada = web.user("ada@example.com", password=None)
    with web.engine.begin() as conn:
        save_password(conn, ada, PASSWORD)
        stored = conn.execute(select(users.c.password_hash).where(users.c.id == ada)).scalar_one()
        assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
        assert PASSWORD not in stored
        assert load_password_user(conn, "ada@example.com", PASSWORD) == ada
        assert load_password_user(conn, "ada@example.com", PASSWORD + "!") is None


@pytest.mark.parametrize("password", ["short", "x" * 1025])
async def test_a_password_outside_the_rules_is_refused(web: WebWorld, password: str) -> None:
    ada = web.user("ada@example.com", password=None)
    with web.engine.begin() as conn, pytest.raises(ValueError, match="a password has at"):
        save_password(conn, ada, password)


async def test_a_password_for_no_user_is_not_found(web: WebWorld) -> None:
    with web.engine.begin() as conn, pytest.raises(NotFoundError):
        save_password(conn, 999, PASSWORD)
