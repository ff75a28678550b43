"""API tokens through the JSON API: shown once, never stored or recorded in plaintext, revoked,
scoped by gateway.

Tokens have no name and no version, so there is no 409 on a taken name nor 412 here.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from lockgate.api.table import BY_ID
from lockgate.domain.capabilities import Capability
from lockgate.domain.model import Availability, Credential, IdentityKind
from lockgate.domain.tokens import hash_token
from lockgate.store.access import load_access
from lockgate.store.identities import create_identity
from lockgate.store.schema import admin_events, api_tokens, servers, users, webhook_deliveries
from lockgate.vault import place
from tests.conftest import TEST_VAULT, Api, People, RunningGateway


@pytest.fixture
def declared(lockgate: RunningGateway) -> RunningGateway:
    lockgate.declare(
        {
            "gateways": [{"name": "engineering"}, {"name": "finance"}],
            "hosts": [{"name": "claude"}, {"name": "cursor"}],
        }
    )
    return lockgate


def test_a_minted_token_is_shown_once_works_and_is_stored_only_as_its_hash(
    admin: Api, people: People, declared: RunningGateway
) -> None:
    people.user("ada@example.com", "Member", ["eng"], ["engineering"])
    created = admin.post(
        "/tokens", json={"host": "claude", "gateway": "engineering", "user": "ada@example.com"}
    )
    assert created.status_code == 201
    minted = created.json()
    token = minted.pop("token")
    assert token.startswith("lg_")
    assert minted["id"].startswith("tok_")
    assert (minted["host"], minted["gateway"], minted["user"], minted["revoked_at"]) == (
        "claude",
        "engineering",
        "ada@example.com",
        None,
    )
    access = load_access(declared.engine, TEST_VAULT, hash_token(declared.settings.key_bytes(), token))
    assert access is not None
    assert access.principal.user_email == "ada@example.com"
    assert BY_ID["tokens_create"].reveals == "token"
    listed = admin.get("/tokens")
    assert listed.json()["items"] == [minted]
    with declared.engine.connect() as conn:
        stored = [repr(r._mapping) for r in conn.execute(select(api_tokens))]
        [event] = conn.execute(select(admin_events).where(admin_events.c.kind == "api_token"))
    assert (event.operation, event.name, event.before, event.after) == (
        "tokens_create",
        minted["id"],
        None,
        minted,
    )
    for text in [*stored, repr(event._mapping), listed.text]:
        assert token not in text


def test_a_token_for_an_unknown_host_or_gateway_is_a_404_and_a_bad_email_a_400(
    admin: Api, declared: RunningGateway
) -> None:
    assert admin.post("/tokens", json={"host": "ghost", "gateway": "engineering"}).status_code == 404
    assert admin.post("/tokens", json={"host": "claude", "gateway": "ghost"}).status_code == 404
    bad = admin.post("/tokens", json={"host": "claude", "gateway": "engineering", "user": "not an email"})
    assert (bad.status_code, bad.json()["error"]["field"]) == (400, "user")
    assert admin.get("/tokens").json()["items"] == []


def test_a_revoked_token_is_refused_and_revoking_it_again_changes_nothing(
    admin: Api, declared: RunningGateway
) -> None:
    minted = admin.post("/tokens", json={"host": "claude", "gateway": "engineering"}).json()
    revoked = admin.post(f"/tokens/{minted['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    access = load_access(
        declared.engine, TEST_VAULT, hash_token(declared.settings.key_bytes(), minted["token"])
    )
    assert access is not None and access.token_revoked
    again = admin.post(f"/tokens/{minted['id']}/revoke")
    assert again.json() == revoked.json()
    with declared.engine.connect() as conn:
        events = list(conn.execute(select(admin_events).where(admin_events.c.kind == "api_token")))
    assert [e.operation for e in events] == ["tokens_create", "tokens_revoke"]
    assert (events[1].before["revoked_at"], events[1].after) == (None, revoked.json())


def test_an_unknown_token_is_a_404_and_a_malformed_id_a_400(admin: Api, declared: RunningGateway) -> None:
    assert admin.post("/tokens/tok_000000000000/revoke").status_code == 404
    assert admin.post("/tokens/lg_secret/revoke").status_code == 400


def test_the_list_filters_by_host_gateway_user_and_revocation_and_pages(
    admin: Api, people: People, declared: RunningGateway
) -> None:
    people.user("ada@example.com", "Member", ["eng"], ["engineering"])
    made = [
        admin.post("/tokens", json={"host": h, "gateway": g, "user": u}).json()["id"]
        for h, g, u in (
            ("claude", "engineering", None),
            ("claude", "engineering", "ada@example.com"),
            ("cursor", "finance", None),
        )
    ]
    admin.post(f"/tokens/{made[0]}/revoke")

    def ids(**params: str | int) -> list[str]:
        return [t["id"] for t in admin.get("/tokens", params=params).json()["items"]]

    assert ids(host="claude") == made[:2]
    assert ids(gateway="finance") == made[2:]
    assert ids(user="ada@example.com") == [made[1]]
    assert ids(revoked="true") == [made[0]]
    assert ids(revoked="false") == made[1:]
    first = admin.get("/tokens", params={"limit": 2}).json()
    assert ids(limit=2, cursor=first["next_cursor"]) == [made[2]]


def test_a_member_cannot_mint_list_or_revoke_tokens_and_the_403_names_the_capability(
    admin: Api, people: People, declared: RunningGateway
) -> None:
    minted = admin.post("/tokens", json={"host": "claude", "gateway": "engineering"}).json()
    ada = people.user("ada@example.com", "Member", ["eng"], ["engineering"])
    for refused in (
        ada.post("/tokens", json={"host": "claude", "gateway": "engineering"}),
        ada.get("/tokens"),
        ada.post(f"/tokens/{minted['id']}/revoke"),
    ):
        assert refused.status_code == 403
        assert refused.json()["error"]["message"] == "Capability 'Create and manage API tokens' is required."


def test_a_token_manager_works_only_on_the_gateways_their_teams_are_granted(
    admin: Api, people: People, declared: RunningGateway
) -> None:
    finance = admin.post("/tokens", json={"host": "cursor", "gateway": "finance"}).json()
    people.role("Token keeper", [Capability.CREATE_AND_MANAGE_API_TOKENS])
    kim = people.user("kim@example.com", "Token keeper", ["eng"], ["engineering"])
    own = kim.post("/tokens", json={"host": "claude", "gateway": "engineering"})
    assert own.status_code == 201
    assert [t["id"] for t in kim.get("/tokens").json()["items"]] == [own.json()["id"]]
    minted = kim.post("/tokens", json={"host": "claude", "gateway": "finance"})
    assert (minted.status_code, minted.json()["error"]["message"]) == (404, "no gateway named 'finance'")
    revoked = kim.post(f"/tokens/{finance['id']}/revoke")
    assert (revoked.status_code, revoked.json()["error"]["message"]) == (
        404,
        f"no token with id {finance['id']!r}",
    )
    assert admin.get("/tokens", params={"gateway": "finance"}).json()["items"][0]["revoked_at"] is None


def test_a_token_minted_for_a_host_with_a_webhook_is_queued_for_it_sealed(
    admin: Api, declared: RunningGateway
) -> None:
    admin.patch("/hosts/claude", json={"webhook_url": "http://127.0.0.1:9/hook"}).raise_for_status()
    minted = admin.post("/tokens", json={"host": "claude", "gateway": "engineering"}).json()
    admin.post("/tokens", json={"host": "cursor", "gateway": "engineering"}).raise_for_status()

    with declared.engine.connect() as conn:
        (delivery,) = conn.execute(select(webhook_deliveries)).all()  # cursor has no webhook
    assert delivery.event == "api_token.created" and minted["token"] not in delivery.payload
    body = TEST_VAULT.open(delivery.payload, place("webhook_deliveries", delivery.id, "payload"))
    assert body["data"]["token"] == minted["token"] and body["data"]["token_id"] == minted["id"]


# -- whom a token may act as ----------------------------------------------------------------------
def test_a_token_for_an_unknown_user_is_a_404_naming_them_and_adds_no_one(
    admin: Api, declared: RunningGateway
) -> None:
    typo = admin.post("/tokens", json={"host": "claude", "gateway": "engineering", "user": "bbo@example.com"})
    assert typo.status_code == 404
    assert "'bbo@example.com'" in typo.json()["error"]["message"]
    assert "users create" in typo.json()["error"]["message"]
    assert [u["email"] for u in admin.get("/users").json()["items"]] == ["admin@example.com"]
    assert admin.get("/tokens").json()["items"] == []


def test_a_token_for_a_user_whose_teams_are_not_granted_the_gateway_is_refused(
    admin: Api, people: People, declared: RunningGateway
) -> None:
    people.user("bob@example.com", "Member", ["finance"], ["finance"])
    refused = admin.post(
        "/tokens", json={"host": "claude", "gateway": "engineering", "user": "bob@example.com"}
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == (
        "user 'bob@example.com' is in no team granted gateway 'engineering'"
    )
    granted = admin.post("/tokens", json={"host": "claude", "gateway": "finance", "user": "bob@example.com"})
    assert granted.status_code == 201
    assert [t["gateway"] for t in admin.get("/tokens").json()["items"]] == ["finance"]


def test_only_a_super_admin_may_mint_a_token_acting_as_a_super_admin(
    admin: Api, people: People, declared: RunningGateway
) -> None:
    people.role(
        "Token keeper", [Capability.CREATE_AND_MANAGE_API_TOKENS, Capability.VIEW_AND_USE_ALL_GATEWAYS]
    )
    kim = people.user("kim@example.com", "Token keeper", ["eng"], ["engineering"])
    refused = kim.post(
        "/tokens", json={"host": "claude", "gateway": "engineering", "user": "admin@example.com"}
    )
    assert refused.status_code == 403
    assert "only a Super admin" in refused.json()["error"]["message"]
    own = admin.post(
        "/tokens", json={"host": "claude", "gateway": "engineering", "user": "admin@example.com"}
    )
    assert own.status_code == 201 and own.json()["private_identities"] is True


@pytest.fixture
def per_user(declared: RunningGateway, bob: Api) -> RunningGateway:
    """Gateway engineering assigns server ``docs`` per user; bob, in team eng, has a private identity."""
    declared.declare(
        {
            "servers": [{"name": "docs", "transport": "http", "url": "http://127.0.0.1:9/mcp"}],
            "gateways": [
                {
                    "name": "engineering",
                    "servers": [{"server": "docs", "identity_scheme": "per_user"}],
                    "teams": ["eng"],
                },
                {"name": "finance"},
            ],
        }
    )
    with declared.engine.begin() as conn:
        bob = conn.execute(select(users.c.id).where(users.c.email == "bob@example.com")).scalar_one()
        docs = conn.execute(select(servers.c.id).where(servers.c.name == "docs")).scalar_one()
        create_identity(
            conn, TEST_VAULT, name="bob/docs", server_id=docs, owner_id=bob, kind=IdentityKind.HEADERS,
            availability=Availability.PRIVATE, headers={"Authorization": "Bearer bobs-own"},
        )  # fmt: skip
    return declared


def _credential(lockgate: RunningGateway, token: str) -> Credential | None:
    access = load_access(lockgate.engine, TEST_VAULT, hash_token(lockgate.settings.key_bytes(), token))
    assert access is not None
    [assignment] = access.assignments
    return assignment.credential


@pytest.fixture
def bob(people: People, declared: RunningGateway) -> Api:
    return people.user("bob@example.com", "Member", ["eng"], ["engineering"])


def test_a_token_minted_for_someone_else_never_calls_as_their_private_identity(
    admin: Api, people: People, per_user: RunningGateway
) -> None:
    people.role("Token keeper", [Capability.CREATE_AND_MANAGE_API_TOKENS])
    kim = people.user("kim@example.com", "Token keeper", ["eng"])  # eng is granted engineering
    minted = kim.post("/tokens", json={"host": "claude", "gateway": "engineering", "user": "bob@example.com"})
    assert minted.status_code == 201 and minted.json()["private_identities"] is False
    assert _credential(per_user, minted.json()["token"]) is None  # refused: "needs your own identity"
    listed = kim.get("/tokens").json()["items"]
    assert [t["private_identities"] for t in listed] == [False]


def test_a_minter_who_may_manage_identities_hands_over_the_users_private_identity(
    admin: Api, per_user: RunningGateway
) -> None:
    minted = admin.post(
        "/tokens", json={"host": "claude", "gateway": "engineering", "user": "bob@example.com"}
    )
    assert minted.json()["private_identities"] is True
    credential = _credential(per_user, minted.json()["token"])
    assert credential is not None and credential.name == "bob/docs"


# -- expiry -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "seconds"), [(3600, 3600), ("90m", 5400), ("30d", 30 * 86_400), ("2w", 1_209_600)]
)
def test_a_token_may_be_given_a_lifetime_listed_as_its_expiry(
    admin: Api, declared: RunningGateway, given: int | str, seconds: int
) -> None:
    before = time.time()
    minted = admin.post("/tokens", json={"host": "claude", "gateway": "engineering", "expires_in": given})
    assert minted.status_code == 201
    expires_at = minted.json()["expires_at"]
    assert before + seconds <= expires_at <= time.time() + seconds
    [listed] = admin.get("/tokens").json()["items"]
    assert listed["expires_at"] == expires_at


def test_a_token_without_a_lifetime_never_expires(admin: Api, declared: RunningGateway) -> None:
    minted = admin.post("/tokens", json={"host": "claude", "gateway": "engineering"})
    assert minted.json()["expires_at"] is None


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("30x", "a number with a unit"),
        (59, "from 60"),
        ("366d", "365 days"),
        (True, "valid integer"),
        ("-1d", "a number with a unit"),
    ],
)
def test_a_malformed_or_unbounded_lifetime_is_a_400_naming_the_field(
    admin: Api, declared: RunningGateway, given: object, why: str
) -> None:
    refused = admin.post("/tokens", json={"host": "claude", "gateway": "engineering", "expires_in": given})
    assert refused.status_code == 400
    assert (
        refused.json()["error"]["field"].startswith("expires_in")
        and why in refused.json()["error"]["message"]
    )
    assert admin.get("/tokens").json()["items"] == []
