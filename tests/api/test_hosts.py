"""Hosts through the JSON API: create, rename, delete, the break-glass toggle."""

from __future__ import annotations

from sqlalchemy import select

from lockgate.store.schema import admin_events, api_tokens, connections
from tests.conftest import Api, People, RunningGateway


def test_adding_a_host_answers_201_with_its_etag_and_records_an_admin_event(
    admin: Api, lockgate: RunningGateway
) -> None:
    created = admin.post("/hosts", json={"name": "claude"})
    assert created.status_code == 201
    assert created.headers["etag"] == '"1"'
    host = created.json()
    assert (host["name"], host["kind"], host["enabled"]) == ("claude", "token", True)
    with lockgate.engine.connect() as conn:
        [event] = conn.execute(select(admin_events).where(admin_events.c.kind == "host"))
    assert (event.operation, event.name, event.before, event.after) == ("hosts_create", "claude", None, host)


def test_a_taken_name_is_a_409_and_an_unknown_kind_a_400(admin: Api) -> None:
    admin.post("/hosts", json={"name": "claude"})
    admin.post("/hosts", json={"name": "cursor"})
    assert admin.post("/hosts", json={"name": "claude"}).status_code == 409
    assert admin.patch("/hosts/cursor", json={"name": "claude"}).status_code == 409
    unknown = admin.post("/hosts", json={"name": "vscode", "kind": "oauth"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["field"] == "kind"


def test_an_unknown_host_is_a_404_everywhere(admin: Api) -> None:
    assert admin.get("/hosts/ghost").status_code == 404
    assert admin.patch("/hosts/ghost", json={"name": "x"}).status_code == 404
    assert admin.delete("/hosts/ghost").status_code == 404
    assert admin.post("/hosts/ghost/enable").status_code == 404


def test_a_rename_from_a_stale_version_gets_412_and_changes_nothing(admin: Api) -> None:
    admin.post("/hosts", json={"name": "claude"})
    renamed = admin.patch("/hosts/claude", json={"name": "claude-code"}, headers={"If-Match": '"1"'})
    assert renamed.status_code == 200
    stale = admin.patch("/hosts/claude-code", json={"name": "lost"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert admin.post("/hosts/claude-code/disable", headers={"If-Match": '"1"'}).status_code == 412
    assert admin.delete("/hosts/claude-code", headers={"If-Match": '"1"'}).status_code == 412
    host = admin.get("/hosts/claude-code").json()
    assert (host["version"], host["enabled"]) == (2, True)


def test_disabling_and_enabling_flip_the_toggle(admin: Api) -> None:
    admin.post("/hosts", json={"name": "claude"})
    assert admin.post("/hosts/claude/disable").json()["enabled"] is False
    assert [h["name"] for h in admin.get("/hosts", params={"enabled": "false"}).json()["items"]] == ["claude"]
    enabled = admin.post("/hosts/claude/enable")
    assert (enabled.json()["enabled"], enabled.headers["etag"]) == (True, '"3"')


def test_deleting_a_host_deletes_its_connections_and_api_tokens(admin: Api, lockgate: RunningGateway) -> None:
    lockgate.declare({"gateways": [{"name": "g"}], "hosts": [{"name": "claude"}]})
    lockgate.token("claude", "g")
    assert admin.delete("/hosts/claude").status_code == 204
    assert admin.get("/hosts/claude").status_code == 404
    with lockgate.engine.connect() as conn:
        assert conn.execute(select(connections)).first() is None
        assert conn.execute(select(api_tokens)).first() is None


def test_the_list_filters_by_name_and_pages(admin: Api) -> None:
    for name in ("claude", "cursor", "codex"):
        admin.post("/hosts", json={"name": name})
    first = admin.get("/hosts", params={"limit": 2}).json()
    second = admin.get("/hosts", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [h["name"] for h in first["items"] + second["items"]] == ["claude", "codex", "cursor"]
    assert [h["name"] for h in admin.get("/hosts", params={"name_contains": "ur"}).json()["items"]] == [
        "cursor"
    ]


def test_a_member_sees_hosts_but_cannot_change_them_and_the_403_names_the_capability(
    admin: Api, people: People
) -> None:
    admin.post("/hosts", json={"name": "claude"})
    ada = people.user("ada@example.com", "Member")
    assert [h["name"] for h in ada.get("/hosts").json()["items"]] == ["claude"]
    assert ada.get("/hosts/claude").status_code == 200
    refused = ada.post("/hosts", json={"name": "mine"})
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Capability 'Create and manage API tokens' is required."
    assert ada.patch("/hosts/claude", json={"name": "x"}).json()["error"]["capability"] == (
        "createAndManageApiTokens"
    )
    assert ada.post("/hosts/claude/disable").json()["error"]["capability"] == "disableAndEnableHosts"
    assert admin.get("/hosts/claude").json()["version"] == 1
