"""API tokens through the JSON API: shown once, never stored or recorded in plaintext, revoked,
scoped by gateway.

Tokens have no name and no version, so there is no 409 on a taken name nor 412 here.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lockgate.api.table import BY_ID
from lockgate.domain.capabilities import Capability
from lockgate.domain.tokens import hash_token
from lockgate.store.access import load_access
from lockgate.store.schema import admin_events, api_tokens, webhook_deliveries
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
    admin: Api, declared: RunningGateway
) -> None:
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
    admin: Api, declared: RunningGateway
) -> None:
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
