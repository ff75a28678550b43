"""Personal access tokens through the JSON API: shown once, the caller's own, refused at once when
revoked or expired, never in an answer or an admin event after their creation."""

from __future__ import annotations

import time

from sqlalchemy import select, update

from lockgate.domain.capabilities import Capability
from lockgate.store.schema import personal_access_tokens
from tests.conftest import Api, People, RunningGateway

DAY = 86_400


def test_a_new_token_is_shown_once_works_and_is_never_listed_or_recorded(
    admin: Api, people: People, lockgate: RunningGateway
) -> None:
    ada = people.user("ada@example.com", "Member")
    created = ada.post("/personal-access-tokens", json={"name": "laptop"})
    assert created.status_code == 201, created.text
    new = created.json()
    assert new["token"].startswith("lgp_")
    assert new["id"].startswith("pat_")
    assert new["revoked_at"] is None
    assert new["expires_at"] is not None
    assert abs(new["expires_at"] - new["created_at"] - 90 * DAY) < 1  # the default lifetime
    assert Api(lockgate.api_url, new["token"], lockgate.http).get("/me").json()["email"] == "ada@example.com"

    with lockgate.engine.connect() as conn:
        stored_hash = conn.execute(
            select(personal_access_tokens.c.token_hash).where(personal_access_tokens.c.public_id == new["id"])
        ).scalar_one()
    listed = ada.get("/personal-access-tokens")
    assert [t["name"] for t in listed.json()["items"]] == ["test", "laptop"]
    events = admin.get("/events", params={"kind": "personal_access_token"})
    for answer in (listed, events):
        assert new["token"] not in answer.text
        assert stored_hash not in answer.text
    (event,) = events.json()["items"]
    assert event["name"] == new["id"]
    assert event["actor"] == "ada@example.com"
    assert event["after"] == {k: new[k] for k in ("id", "name", "created_at", "expires_at", "revoked_at")}


def test_a_lifetime_of_zero_days_never_expires_and_one_beyond_a_year_is_a_400(people: People) -> None:
    ada = people.user("ada@example.com", "Member")
    forever = ada.post("/personal-access-tokens", json={"name": "ci", "expires_in_days": 0})
    assert forever.json()["expires_at"] is None
    too_long = ada.post("/personal-access-tokens", json={"name": "ci", "expires_in_days": 366})
    assert too_long.status_code == 400
    assert too_long.json()["error"]["field"] == "expires_in_days"
    assert ada.post("/personal-access-tokens", json={"name": ""}).json()["error"]["field"] == "name"


def test_a_revoked_token_is_refused_on_its_very_next_request(
    people: People, lockgate: RunningGateway
) -> None:
    ada = people.user("ada@example.com", "Member")
    new = ada.post("/personal-access-tokens", json={"name": "laptop"}).json()
    laptop = Api(lockgate.api_url, new["token"], lockgate.http)
    assert laptop.get("/me").status_code == 200
    revoked = laptop.post(f"/personal-access-tokens/{new['id']}/revoke")  # revoking the token in use
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = laptop.get("/me")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert ada.get("/me").status_code == 200  # the other token still works
    again = ada.post(f"/personal-access-tokens/{new['id']}/revoke")
    assert again.status_code == 409


def test_an_expired_token_is_refused(people: People, lockgate: RunningGateway) -> None:
    ada = people.user("ada@example.com", "Member")
    new = ada.post("/personal-access-tokens", json={"name": "short", "expires_in_days": 1}).json()
    short = Api(lockgate.api_url, new["token"], lockgate.http)
    assert short.get("/me").status_code == 200
    with lockgate.engine.begin() as conn:  # a day passes
        conn.execute(
            update(personal_access_tokens)
            .where(personal_access_tokens.c.public_id == new["id"])
            .values(expires_at=time.time() - 1)
        )
    assert short.get("/me").status_code == 401
    expired = ada.get("/personal-access-tokens", params={"active": "false"}).json()["items"]
    assert [t["id"] for t in expired] == [new["id"]]
    assert [
        t["name"] for t in ada.get("/personal-access-tokens", params={"active": "true"}).json()["items"]
    ] == ["test"]


def test_someone_elses_token_is_a_404_and_a_malformed_id_a_400(people: People) -> None:
    ada = people.user("ada@example.com", "Member")
    bob = people.user("bob@example.com", "Member")
    theirs = bob.post("/personal-access-tokens", json={"name": "bob's"}).json()
    assert ada.post(f"/personal-access-tokens/{theirs['id']}/revoke").status_code == 404
    assert [t["name"] for t in ada.get("/personal-access-tokens").json()["items"]] == ["test"]
    malformed = ada.post("/personal-access-tokens/tok_123/revoke")
    assert malformed.status_code == 400
    assert malformed.json()["error"]["field"] == "pat"
    assert bob.post(f"/personal-access-tokens/{theirs['id']}/revoke").status_code == 200


def test_an_invited_user_gets_a_first_token_from_a_people_manager_and_uses_it(
    admin: Api, lockgate: RunningGateway
) -> None:
    admin.post("/users", json={"email": "ada@example.com"})
    issued = admin.post("/users/ada@example.com/personal-access-tokens", json={"name": "first"})
    assert issued.status_code == 201, issued.text
    ada = Api(lockgate.api_url, issued.json()["token"], lockgate.http)
    assert ada.get("/me").json()["email"] == "ada@example.com"
    assert [t["name"] for t in ada.get("/personal-access-tokens").json()["items"]] == ["first"]
    events = admin.get("/events", params={"operation": "users_create_token"}).json()["items"]
    assert len(events) == 1 and issued.json()["token"] not in str(events)


def test_no_one_mints_a_token_for_a_user_holding_more_than_they_do(admin: Api, people: People) -> None:
    people.role("People", [Capability.MANAGE_PEOPLE])
    pat = people.user("pat@example.com", "People")
    people.user("root@example.com", "Super admin")
    refused = pat.post("/users/root@example.com/personal-access-tokens", json={"name": "mine now"})
    assert refused.status_code == 403
    assert admin.get("/users/nobody@example.com/personal-access-tokens").status_code == 405
    missing = admin.post("/users/nobody@example.com/personal-access-tokens", json={"name": "x"})
    assert missing.status_code == 404
