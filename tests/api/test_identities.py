"""Identities through the JSON API: one's own always manageable, other people's behind "Identity
management", global ones behind "Basic server management", and header values never shown."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from lockgate.store.schema import admin_events
from tests.conftest import Api, People, RunningGateway

SECRET = "sk-planted-identity-4d1e"
REMOTE = {"transport": "http", "url": "https://mcp.example.com/mcp"}


def path(name: str) -> str:
    return "/identities/" + quote(name, safe="")


@pytest.fixture
def world(admin: Api, people: People) -> dict[str, Api]:
    """Servers ``github`` (on gateway ``eng``) and ``payroll`` (on no gateway); Ada and Bob are
    Members of the team granted ``eng``."""
    for server in ("github", "payroll"):
        assert admin.post("/servers", json={"name": server, **REMOTE}).status_code == 201
    admin.post("/gateways", json={"name": "eng"})
    admin.post("/gateways/eng/assignments", json={"server": "github"})
    return {
        "admin": admin,
        "ada": people.user("ada@example.com", "Member", ["engineers"], ["eng"]),
        "bob": people.user("bob@example.com", "Member", ["engineers-b"], ["eng"]),
    }


def _create(api: Api, **fields: Any) -> httpx.Response:
    return api.post("/identities", json={"server": "github", "headers": {"X-Api-Key": SECRET}, **fields})


def test_a_member_adds_their_own_identity_named_after_them_and_sees_only_header_names(
    world: dict[str, Api], lockgate: RunningGateway
) -> None:
    created = _create(world["ada"], headers={"Authorization": f"Bearer {SECRET}", "X-Team": "t"})
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"'
    identity = created.json()
    assert identity == identity | {
        "name": "ada@example.com/github",
        "server": "github",
        "owner": "ada@example.com",
        "kind": "headers",
        "availability": "private",
        "enabled": True,
        "status": "ready",
        "header_names": ["Authorization", "X-Team"],
        "expires_at": None,
        "scope": None,
        "version": 1,
    }
    assert SECRET not in created.text
    again = _create(world["ada"])
    assert again.json()["name"] == "ada@example.com/github-2"
    fetched = world["ada"].get(path("ada@example.com/github"))
    assert fetched.status_code == 200 and fetched.json()["header_names"] == ["Authorization", "X-Team"]
    with lockgate.engine.connect() as conn:
        [event, _] = conn.execute(select(admin_events).where(admin_events.c.kind == "identity")).all()
    assert (event.operation, event.actor, event.name) == (
        "identities_create",
        "ada@example.com",
        identity["name"],
    )
    assert event.after["header_names"] == ["Authorization", "X-Team"] and SECRET not in str(event.after)


def test_creating_needs_to_see_the_server_and_global_or_for_others_needs_more(world: dict[str, Api]) -> None:
    unseen = _create(world["ada"], server="payroll")
    assert (unseen.status_code, unseen.json()["error"]["message"]) == (404, "no server named 'payroll'")
    shared = _create(world["ada"], availability="global")
    assert (shared.status_code, shared.json()["error"]["capability"]) == (403, "basicServerManagement")
    for owner in ("bob@example.com", "nobody@example.com"):  # the same 403 whether the user exists
        for_other = _create(world["ada"], owner=owner)
        assert (for_other.status_code, for_other.json()["error"]["capability"]) == (403, "identityManagement")
    assert _create(world["ada"], owner="ada@example.com").status_code == 201  # naming oneself is fine
    made = _create(world["admin"], owner="bob@example.com", name="bobs-key")
    assert (made.status_code, made.json()["owner"]) == (201, "bob@example.com")
    bot = _create(world["admin"], name="bot", availability="global")
    assert (bot.status_code, bot.json()["availability"]) == (201, "global")


def test_bad_inputs_are_400s_naming_the_field_a_taken_name_409_and_unknowns_404(
    world: dict[str, Api],
) -> None:
    ada = world["ada"]
    no_headers = ada.post("/identities", json={"server": "github"})
    assert (no_headers.status_code, no_headers.json()["error"]["field"]) == (400, "headers")
    none_with_headers = _create(ada, kind="none")
    assert (none_with_headers.status_code, none_with_headers.json()["error"]["field"]) == (400, "headers")
    oauth = _create(ada, kind="oauth")
    assert (oauth.status_code, oauth.json()["error"]["field"]) == (400, "kind")
    assert ada.post("/identities", json={"server": "github", "kind": "none"}).status_code == 201
    assert _create(ada, name="mine").status_code == 201
    taken = _create(world["bob"], name="mine")
    assert (taken.status_code, taken.json()["error"]["code"]) == (409, "conflict")
    assert _create(ada, server="ghost").status_code == 404
    assert _create(world["admin"], owner="nobody@example.com").status_code == 404
    assert ada.get(path("nobody/github")).status_code == 404


def test_a_member_lists_their_own_and_the_global_identities_of_servers_they_see(
    world: dict[str, Api],
) -> None:
    admin, ada, bob = world["admin"], world["ada"], world["bob"]
    _create(ada)
    _create(bob)
    _create(admin, name="bot", availability="global")
    _create(admin, name="payroll-bot", server="payroll", availability="global")
    names = [i["name"] for i in ada.get("/identities").json()["items"]]
    assert names == ["ada@example.com/github", "bot"]
    everything = [i["name"] for i in admin.get("/identities").json()["items"]]
    assert everything == ["ada@example.com/github", "bob@example.com/github", "bot", "payroll-bot"]
    assert [
        i["name"] for i in admin.get("/identities", params={"owner": "bob@example.com"}).json()["items"]
    ] == ["bob@example.com/github"]
    by_server = admin.get("/identities", params={"server": "payroll", "availability": "global"}).json()
    assert [i["name"] for i in by_server["items"]] == ["payroll-bot"]
    first = admin.get("/identities", params={"limit": 3}).json()
    rest = admin.get("/identities", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [i["name"] for i in first["items"] + rest["items"]] == everything and rest["next_cursor"] is None


def test_another_members_private_identity_answers_the_same_404_as_a_nonexistent_one(
    world: dict[str, Api],
) -> None:
    _create(world["bob"])
    ada = world["ada"]
    for name in ("bob@example.com/github", "carol@example.com/github"):  # Bob's, and nobody's
        answers = [
            ada.get(path(name)),
            ada.post(path(name) + "/disable"),
            ada.patch(path(name), json={"headers": {"X-Api-Key": "stolen"}}),
            ada.delete(path(name)),
        ]
        for answer in answers:
            error = answer.json()["error"]
            assert (answer.status_code, error["code"], error["message"]) == (
                404,
                "not_found",
                f"no identity named {name!r}",
            )
            assert "capability" not in error
    assert world["admin"].get(path("bob@example.com/github")).json()["enabled"] is True


def test_a_global_identity_is_visible_to_members_but_only_identity_management_toggles_it(
    world: dict[str, Api],
) -> None:
    _create(world["admin"], name="bot", availability="global")
    assert world["ada"].get("/identities/bot").json()["owner"] == "admin@example.com"
    refused = world["ada"].post("/identities/bot/disable")
    assert (refused.status_code, refused.json()["error"]["capability"]) == (403, "identityManagement")
    disabled = world["admin"].post("/identities/bot/disable")
    assert (disabled.status_code, disabled.json()["enabled"], disabled.json()["version"]) == (200, False, 2)
    assert world["admin"].get("/identities", params={"enabled": False}).json()["items"][0]["name"] == "bot"
    assert world["admin"].post("/identities/bot/enable").json()["enabled"] is True


def test_an_owner_renames_replaces_headers_and_toggles_with_versions_checked(world: dict[str, Api]) -> None:
    ada = world["ada"]
    _create(ada, name="mine")
    replaced = ada.patch("/identities/mine", json={"headers": {"X-Other": "v2"}}, headers={"If-Match": '"1"'})
    assert (replaced.status_code, replaced.json()["header_names"], replaced.headers["etag"]) == (
        200,
        ["X-Other"],
        '"2"',
    )
    stale = ada.patch("/identities/mine", json={"name": "lost"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    renamed = ada.patch("/identities/mine", json={"name": "ada/github"}, headers={"If-Match": '"2"'})
    assert renamed.json()["name"] == "ada/github"
    assert ada.get(path("ada/github")).json()["version"] == 3
    assert ada.post(path("ada/github") + "/disable").json()["enabled"] is False
    assert ada.post(path("ada/github") + "/enable", headers={"If-Match": '"1"'}).status_code == 412
    empty = ada.patch(path("ada/github"), json={"headers": {}})
    assert (empty.status_code, empty.json()["error"]["field"]) == (400, "headers")
    global_ = ada.patch(path("ada/github"), json={"availability": "global"})
    assert (global_.status_code, global_.json()["error"]["capability"]) == (403, "basicServerManagement")
    ada.post("/identities", json={"server": "github", "kind": "none", "name": "plain"})
    assert ada.patch("/identities/plain", json={"headers": {"X": "y"}}).status_code == 400


def test_deleting_an_identity_is_refused_while_a_gateway_shares_it(world: dict[str, Api]) -> None:
    admin = world["admin"]
    _create(admin, name="bot", availability="global")
    admin.post(
        "/gateways/eng/assignments",
        json={"server": "github", "name": "gh-bot", "identity_scheme": "shared", "identity": "bot"},
    )
    in_use = admin.delete("/identities/bot")
    assert (in_use.status_code, in_use.json()["error"]["code"]) == (409, "conflict")
    assert "eng/gh-bot" in in_use.json()["error"]["message"]
    private = admin.patch("/identities/bot", json={"availability": "private"})
    assert private.status_code == 409
    admin.post("/gateways/eng/assignments/gh-bot/identity-scheme", json={"scheme": "per_user"})
    assert admin.delete("/identities/bot", headers={"If-Match": '"1"'}).status_code == 204
    assert admin.get("/identities/bot").status_code == 404
    _create(world["ada"], name="mine")
    assert world["ada"].delete("/identities/mine").status_code == 204


def test_no_answer_and_no_admin_event_ever_holds_a_header_value(
    world: dict[str, Api], lockgate: RunningGateway
) -> None:
    admin, ada = world["admin"], world["ada"]
    answers = [
        _create(ada, name="mine"),
        _create(admin, name="bot", availability="global"),
        ada.patch("/identities/mine", json={"headers": {"X-Api-Key": SECRET + "-2"}}),
        ada.get("/identities/mine"),
        ada.get("/identities"),
        admin.get("/identities"),
        admin.post("/identities/bot/disable"),
        admin.post(
            "/gateways/eng/assignments",
            json={"server": "github", "name": "b", "identity_scheme": "shared", "identity": "bot"},
        ),
        admin.get("/gateways/eng"),
        admin.get("/declaration"),
        admin.get("/events", params={"limit": 500}),
        ada.delete("/identities/mine"),
    ]
    assert all(a.status_code < 300 for a in answers), [a.text for a in answers if a.status_code >= 300]
    for answer in answers:
        assert SECRET not in answer.text
    with lockgate.engine.connect() as conn:
        events = conn.execute(select(admin_events.c.before, admin_events.c.after)).all()
    assert events and SECRET not in str([tuple(e) for e in events])


def test_an_identity_named_with_a_slash_is_reached_with_the_slash_encoded(world: dict[str, Api]) -> None:
    _create(world["ada"])
    encoded = world["ada"].get("/identities/ada%40example.com%2Fgithub")
    assert encoded.status_code == 200 and encoded.json()["name"] == "ada@example.com/github"
    assert world["ada"].get("/identities/ada@example.com/github").status_code == 404  # a path of its own


LOCAL = {"transport": "stdio", "command": "python", "identity_env": ["API_TOKEN"]}


@pytest.fixture
def local(world: dict[str, Api]) -> dict[str, Api]:
    """A stdio server ``local`` on ``eng`` whose identities fill ``API_TOKEN``, and nothing else."""
    assert world["admin"].post("/servers", json={"name": "local", **LOCAL}).status_code == 201
    world["admin"].post("/gateways/eng/assignments", json={"server": "local"})
    return world


@pytest.mark.parametrize(
    "name", ["LD_PRELOAD", "PYTHONWARNINGS", "NODE_OPTIONS", "BROWSER", "PATH", "HOME", "OTHER_TOKEN"]
)
def test_a_member_cannot_set_a_variable_a_stdio_server_does_not_declare_for_identities(
    local: dict[str, Api], name: str
) -> None:
    ada = local["ada"]
    refused = ada.post("/identities", json={"server": "local", "headers": {name: SECRET}})
    assert (refused.status_code, refused.json()["error"]["field"]) == (400, "headers"), refused.text
    assert name in refused.json()["error"]["message"] and SECRET not in refused.text
    made = ada.post("/identities", json={"server": "local", "name": "mine", "headers": {"API_TOKEN": SECRET}})
    assert made.status_code == 201, made.text
    changed = ada.patch(path("mine"), json={"headers": {name: SECRET}})
    assert (changed.status_code, changed.json()["error"]["field"]) == (400, "headers")
    assert ada.get(path("mine")).json()["header_names"] == ["API_TOKEN"]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Api-Key": f"{SECRET}\r\nHost: attacker.example"},
        {"X-Api-Key": f"{SECRET}\nX-Other: 1"},
        {"X-Api-Key": f"{SECRET}\x00"},
        {"Host": "attacker.example"},
        {"Transfer-Encoding": "chunked"},
        {"Proxy-Authorization": "Basic x"},
        {"Mcp-Session-Id": "s"},
        {"X Api Key": SECRET},
        {"X-Api-Key": ""},
    ],
)
def test_identity_headers_that_would_inject_or_override_framing_are_refused(
    world: dict[str, Api], headers: dict[str, str]
) -> None:
    ada = world["ada"]
    refused = _create(ada, headers=headers)
    assert (refused.status_code, refused.json()["error"]["field"]) == (400, "headers"), refused.text
    assert SECRET not in refused.text
    assert _create(ada, name="mine").status_code == 201
    changed = ada.patch(path("mine"), json={"headers": headers})
    assert (changed.status_code, changed.json()["error"]["field"]) == (400, "headers")


def test_a_server_declares_the_variables_its_identities_fill_and_never_a_denied_one(admin: Api) -> None:
    made = admin.post("/servers", json={"name": "local", **LOCAL})
    assert (made.status_code, made.json()["identity_env"]) == (201, ["API_TOKEN"])
    for identity_env in (["LD_PRELOAD"], ["NODE_OPTIONS"], ["lower"]):
        refused = admin.patch("/servers/local", json={"identity_env": identity_env})
        assert refused.status_code == 400 and identity_env[0] in refused.json()["error"]["message"]
    overlap = admin.patch("/servers/local", json={"env": {"API_TOKEN": "x"}})
    assert (
        overlap.status_code == 400 and "both 'env' and 'identity_env'" in overlap.json()["error"]["message"]
    )
    remote = admin.post("/servers", json={"name": "r", **REMOTE, "identity_env": ["API_TOKEN"]})
    assert remote.status_code == 400


@pytest.mark.parametrize(
    "config",
    [
        {**REMOTE, "headers": {"X-Static": "a\r\nHost: attacker.example"}},
        {**REMOTE, "headers": {"Host": "attacker.example"}},
        {"transport": "stdio", "command": "python", "env": {"API_KEY": "a\nb"}},
        {"transport": "stdio", "command": "python", "env": {"A=B": "x"}},
    ],
)
def test_a_servers_own_headers_and_env_go_through_the_same_validator(
    admin: Api, config: dict[str, Any]
) -> None:
    refused = admin.post("/servers", json={"name": "s", **config})
    assert refused.status_code == 400, refused.text
