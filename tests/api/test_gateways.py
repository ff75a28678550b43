"""Gateways through the JSON API: the envelope, versions and team scoping."""

from __future__ import annotations

import pytest

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


def test_a_body_nested_300_deep_is_a_400_saying_so_not_a_500(admin: Api) -> None:
    deep = "[" * 300 + "]" * 300
    body = '{"name": "deep", "servers": ' + deep + "}"
    refused = admin.post("/gateways", content=body, headers={"Content-Type": "application/json"})
    assert refused.status_code == 400, refused.text
    assert "nested deeper than 128 levels" in refused.json()["error"]["message"]
    assert admin.get("/gateways/deep").status_code == 404


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
    assert (refused.status_code, refused.json()["error"]["message"]) == (404, "no gateway named 'finance'")
    assert ada.get("/gateways/nowhere").json()["error"]["message"] == "no gateway named 'nowhere'"


def test_a_member_cannot_create_a_gateway_and_the_403_names_the_capability(
    people: People, admin: Api
) -> None:
    ada = people.user("ada@example.com", "Member")
    refused = ada.post("/gateways", json={"name": "mine"})
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Capability 'Basic gateway management' is required."


def test_requests_without_a_personal_access_token_get_401(lockgate: RunningGateway) -> None:
    answer = lockgate.http.get(lockgate.api_url + "/gateways")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")


REMOTE = {"transport": "http", "url": "https://mcp.example.com/mcp"}


@pytest.fixture
def github(admin: Api) -> Api:
    """Gateway ``eng``, servers ``github`` and ``jira``, and global identities ``bot`` (github),
    ``jira-bot`` (jira) and a private ``mine`` (github)."""
    for server in ("github", "jira"):
        admin.post("/servers", json={"name": server, **REMOTE})
    admin.post("/gateways", json={"name": "eng"})
    for name, server, availability in (
        ("bot", "github", "global"),
        ("jira-bot", "jira", "global"),
        ("mine", "github", "private"),
    ):
        made = admin.post(
            "/identities",
            json={
                "name": name,
                "server": server,
                "availability": availability,
                "headers": {"X-Api-Key": "k"},
            },
        )
        assert made.status_code == 201, made.text
    return admin


def test_one_server_is_assigned_twice_under_two_names_with_different_identity_schemes(github: Api) -> None:
    github.post(
        "/gateways/eng/assignments",
        json={"server": "github", "prefix": "mine", "identity_scheme": "per_user"},
    )
    shared = github.post(
        "/gateways/eng/assignments",
        json={
            "server": "github",
            "name": "bot",
            "prefix": "bot",
            "identity_scheme": "shared",
            "identity": "bot",
        },
    )
    assert shared.status_code == 201, shared.text
    assignments = [
        {k: a[k] for k in ("name", "server", "prefix", "identity_scheme", "identity")}
        for a in shared.json()["servers"]
    ]
    assert assignments == [
        {
            "name": "github",
            "server": "github",
            "prefix": "mine",
            "identity_scheme": "per_user",
            "identity": None,
        },
        {"name": "bot", "server": "github", "prefix": "bot", "identity_scheme": "shared", "identity": "bot"},
    ]
    again = github.post("/gateways/eng/assignments", json={"server": "github"})
    assert again.status_code == 409 and "another name" in again.json()["error"]["message"]
    same_prefix = github.post("/gateways/eng/assignments", json={"server": "jira", "prefix": "bot"})
    assert same_prefix.status_code == 409
    removed = github.delete("/gateways/eng/assignments/github")
    assert [a["name"] for a in removed.json()["servers"]] == ["bot"]
    assert github.delete("/gateways/eng/assignments/github").status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"identity_scheme": "shared"}, "needs an identity"),
        ({"identity_scheme": "per_user", "identity": "bot"}, "only for the shared scheme"),
        ({"identity": "bot"}, "only for the shared scheme"),
    ],
)
def test_an_identity_that_does_not_fit_the_scheme_is_a_400_saying_why(
    github: Api, body: dict[str, str], message: str
) -> None:
    refused = github.post("/gateways/eng/assignments", json={"server": "github", **body})
    assert refused.status_code == 400 and message in refused.json()["error"]["message"]
    assert github.get("/gateways/eng").json()["servers"] == []


@pytest.mark.parametrize("identity", ["mine", "jira-bot", "nobody"])  # private, another server's, none
def test_sharing_an_identity_that_is_not_a_global_one_of_the_server_answers_the_same_404(
    github: Api, identity: str
) -> None:
    refused = github.post(
        "/gateways/eng/assignments",
        json={"server": "github", "identity_scheme": "shared", "identity": identity},
    )
    assert (refused.status_code, refused.json()["error"]["message"]) == (
        404,
        f"no global identity of this server is named {identity!r}",
    )
    assert github.get("/gateways/eng").json()["servers"] == []


def test_an_assignments_identity_scheme_is_changed_by_name(github: Api, people: People) -> None:
    github.post("/gateways/eng/assignments", json={"server": "github"})
    url = "/gateways/eng/assignments/github/identity-scheme"
    changed = github.post(url, json={"scheme": "shared", "identity": "bot"}, headers={"If-Match": '"2"'})
    assert changed.status_code == 200, changed.text
    [assignment] = changed.json()["servers"]
    assert (assignment["identity_scheme"], assignment["identity"], changed.json()["version"]) == (
        "shared",
        "bot",
        3,
    )
    assert github.post(url, json={"scheme": "none"}, headers={"If-Match": '"2"'}).status_code == 412
    assert github.post(url, json={"scheme": "shared", "identity": "mine"}).status_code == 404
    assert github.post(url, json={"scheme": "shared", "identity": "ghost"}).status_code == 404
    assert (
        github.post("/gateways/eng/assignments/ghost/identity-scheme", json={"scheme": "none"}).status_code
        == 404
    )
    per_user = github.post(url, json={"scheme": "per_user"}).json()["servers"][0]
    assert (per_user["identity_scheme"], per_user["identity"]) == ("per_user", None)
    ada = people.user("ada@example.com", "Member", ["eng-team"], ["eng"])
    refused = ada.post(url, json={"scheme": "none"})
    assert (refused.status_code, refused.json()["error"]["capability"]) == (403, "basicGatewayManagement")


def test_a_disabled_shared_identity_is_not_used_to_ask_what_the_server_offers(github: Api) -> None:
    shared = {"server": "github", "identity_scheme": "shared", "identity": "bot"}
    assert github.post("/gateways/eng/assignments", json=shared).status_code == 201
    assert github.post("/identities/bot/disable").status_code == 200
    for refused in (
        github.post("/gateways/eng/assignments", json=shared | {"name": "again", "approve_current": True}),
        github.post("/gateways/eng/assignments/github/provisioning/approve-current", json={}),
        github.post(
            "/gateways/eng/assignments/github/provisioning/approvals", json={"kind": "tools", "name": "x"}
        ),
    ):
        assert refused.status_code == 409, refused.text
        assert (
            refused.json()["error"]["message"]
            == "identity 'bot' for server 'github' is disabled; enable it to ask as it"
        )
    assert [a["name"] for a in github.get("/gateways/eng").json()["servers"]] == ["github"]
