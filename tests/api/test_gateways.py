"""Gateways through the JSON API: the envelope, versions and team scoping."""

from __future__ import annotations

import httpx2

from tests.conftest import Api, People, RunningGateway


def test_creating_a_gateway_answers_201_with_its_etag_and_a_correlation_id(admin: Api) -> None:
    created = admin.post("/gateways", json={"name": "engineering"})
    assert created.status_code == 201
    assert created.headers["etag"] == '"1"'
    assert created.headers["x-correlation-id"]
    assert created.json()["name"] == "engineering"


def test_a_taken_name_is_a_409_and_a_bad_one_a_400_naming_the_field(admin: Api) -> None:
    admin.post("/gateways", json={"name": "engineering"})
    taken = admin.post("/gateways", json={"name": "engineering"})
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "conflict"
    bad = admin.post("/gateways", json={"name": "no spaces"})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "name"


def test_an_update_from_a_stale_version_gets_412_and_changes_nothing(admin: Api) -> None:
    admin.post("/gateways", json={"name": "engineering"})
    first = admin.patch("/gateways/engineering", json={"name": "eng"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200
    stale = admin.patch("/gateways/eng", json={"name": "lost"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert admin.get("/gateways/eng").json()["version"] == 2
    assert admin.get("/gateways/lost").status_code == 404


def test_a_member_sees_only_the_gateways_their_teams_are_granted(admin: Api, people: People) -> None:
    for name in ("engineering", "finance"):
        admin.post("/gateways", json={"name": name})
    ada = people.user("ada@example.com", "Member", ["eng"], ["engineering"])
    listed = ada.get("/gateways").json()["items"]
    assert [g["name"] for g in listed] == ["engineering"]
    refused = ada.get("/gateways/finance")
    assert refused.status_code == 403
    assert refused.json()["error"]["capability"] == "viewAndUseAllGateways"


def test_a_member_cannot_create_a_gateway_and_the_403_names_the_capability(
    people: People, admin: Api
) -> None:
    ada = people.user("ada@example.com", "Member")
    refused = ada.post("/gateways", json={"name": "mine"})
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Capability 'Basic gateway management' is required."


def test_requests_without_a_personal_access_token_get_401(lockgate: RunningGateway) -> None:
    answer = httpx2.get(lockgate.api_url + "/gateways")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
