"""Servers through the JSON API: validation as a declaration's, versions, scoping, secrets kept
secret, and the live preview of a server's features."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from lockgate.domain.capabilities import Capability
from lockgate.settings import Settings
from lockgate.store.people import bootstrap_super_admin
from lockgate.store.schema import admin_events, servers
from lockgate.store.servers import SECRETS_PLACE, load_config
from tests.conftest import TEST_VAULT, Api, People, RunningGateway, free_port, in_process

FIXTURE = {
    "transport": "stdio",
    "command": sys.executable,
    "args": ["-m", "tests.fixtures.sdk_server", "--stdio"],
}
REMOTE = {"transport": "http", "url": "https://mcp.example.com/mcp"}


def add(admin: Api, name: str, **fields: Any) -> dict[str, Any]:
    created = admin.post("/servers", json={"name": name, **(fields or REMOTE)})
    assert created.status_code == 201, created.text
    return dict(created.json())


def events_of(lockgate: RunningGateway, kind: str) -> list[Any]:
    with lockgate.engine.connect() as conn:
        return list(conn.execute(select(admin_events).where(admin_events.c.kind == kind)))


def test_adding_a_server_answers_201_with_its_etag_and_records_an_admin_event(
    admin: Api, lockgate: RunningGateway
) -> None:
    created = admin.post("/servers", json={"name": "local", **FIXTURE, "cwd": "/srv"})
    assert created.status_code == 201
    assert created.headers["etag"] == '"1"'
    server = created.json()
    assert server["transport"] == "stdio"
    assert server["args"] == FIXTURE["args"]
    assert server["cwd"] == "/srv"
    assert server["enabled"] is True
    assert len(server["revision"]) == 16
    [event] = events_of(lockgate, "server")
    assert (event.operation, event.name, event.before, event.after) == (
        "servers_create",
        "local",
        None,
        server,
    )


def test_a_server_is_validated_as_a_declared_one(admin: Api) -> None:
    no_command = admin.post("/servers", json={"name": "local", "transport": "stdio"})
    assert no_command.status_code == 400
    assert "needs 'command'" in no_command.json()["error"]["message"]
    not_http = admin.post("/servers", json={"name": "remote", "transport": "http", "url": "ftp://x"})
    assert not_http.status_code == 400
    mixed = admin.post("/servers", json={"name": "remote", **REMOTE, "command": "node"})
    assert mixed.status_code == 400
    bad_name = admin.post("/servers", json={"name": "no spaces", **REMOTE})
    assert bad_name.json()["error"]["field"] == "name"


def test_a_taken_name_is_a_409_on_create_and_on_rename(admin: Api) -> None:
    add(admin, "remote")
    add(admin, "other")
    assert admin.post("/servers", json={"name": "remote", **REMOTE}).status_code == 409
    assert admin.patch("/servers/other", json={"name": "remote"}).status_code == 409


def test_an_unknown_server_is_a_404_everywhere(admin: Api) -> None:
    assert admin.get("/servers/ghost").status_code == 404
    assert admin.patch("/servers/ghost", json={"url": "https://x"}).status_code == 404
    assert admin.delete("/servers/ghost").status_code == 404
    assert admin.post("/servers/ghost/disable").status_code == 404
    assert admin.get("/servers/ghost/features").status_code == 404


def test_an_update_merges_with_the_stored_server_and_the_revision_follows_the_config(admin: Api) -> None:
    created = add(admin, "remote", **REMOTE, headers={"X-Team": "eng"})
    renamed = admin.patch("/servers/remote", json={"name": "docs"}, headers={"If-Match": '"1"'}).json()
    assert (renamed["name"], renamed["url"], renamed["header_names"]) == ("docs", REMOTE["url"], ["X-Team"])
    assert renamed["revision"] == created["revision"]
    moved = admin.patch("/servers/docs", json={"url": "https://docs.example.com/mcp"}).json()
    assert moved["revision"] != created["revision"]
    assert (moved["header_names"], moved["dropped_secrets"]) == (
        [],
        ["headers.X-Team"],
    )  # see the moves below
    assert moved["version"] == 3


def test_switching_transport_needs_the_new_transports_fields_and_drops_the_old_ones(admin: Api) -> None:
    add(admin, "local", **FIXTURE, env={"TOKEN": "t"})
    incomplete = admin.patch("/servers/local", json={"transport": "http"})
    assert incomplete.status_code == 400
    assert "needs an http(s) 'url'" in incomplete.json()["error"]["message"]
    switched = admin.patch("/servers/local", json={"transport": "http", "url": "https://x.example/mcp"})
    assert switched.status_code == 200
    server = switched.json()
    assert (server["command"], server["args"], server["env_names"]) == (None, [], [])
    assert admin.get("/servers/local").json()["version"] == 2


def test_a_stale_if_match_is_a_412_and_changes_nothing(admin: Api) -> None:
    add(admin, "remote")
    admin.post("/servers/remote/disable")
    stale = {"If-Match": '"1"'}
    assert admin.patch("/servers/remote", json={"name": "lost"}, headers=stale).status_code == 412
    assert admin.post("/servers/remote/enable", headers=stale).status_code == 412
    assert admin.delete("/servers/remote", headers=stale).status_code == 412
    server = admin.get("/servers/remote").json()
    assert (server["enabled"], server["version"]) == (False, 2)


def test_disable_enable_and_delete_are_recorded_before_and_after(
    admin: Api, lockgate: RunningGateway
) -> None:
    add(admin, "remote")
    assert admin.post("/servers/remote/disable").json()["enabled"] is False
    assert admin.post("/servers/remote/enable").json()["enabled"] is True
    assert admin.delete("/servers/remote", headers={"If-Match": '"3"'}).status_code == 204
    assert admin.get("/servers/remote").status_code == 404
    events = events_of(lockgate, "server")
    assert [e.operation for e in events] == [
        "servers_create",
        "servers_disable",
        "servers_enable",
        "servers_delete",
    ]
    assert (events[1].before["enabled"], events[1].after["enabled"]) == (True, False)
    assert events[3].after is None


def test_the_list_filters_and_pages(admin: Api) -> None:
    for name in ("alpha", "beta", "gamma"):
        add(admin, name)
    add(admin, "local", **FIXTURE)
    admin.post("/servers/beta/disable")
    first = admin.get("/servers", params={"limit": 2}).json()
    second = admin.get("/servers", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [s["name"] for s in first["items"] + second["items"]] == ["alpha", "beta", "gamma", "local"]
    assert second["next_cursor"] is None
    stdio = admin.get("/servers", params={"transport": "stdio"}).json()["items"]
    assert [s["name"] for s in stdio] == ["local"]
    disabled = admin.get("/servers", params={"enabled": "false"}).json()["items"]
    assert [s["name"] for s in disabled] == ["beta"]
    named = admin.get("/servers", params={"name_contains": "mm"}).json()["items"]
    assert [s["name"] for s in named] == ["gamma"]


def test_a_member_sees_only_servers_on_the_gateways_their_teams_are_granted(
    admin: Api, people: People
) -> None:
    for server in ("wiki", "payroll", "unassigned"):
        add(admin, server)
    for gateway, server in (("engineering", "wiki"), ("finance", "payroll")):
        admin.post("/gateways", json={"name": gateway})
        admin.post(f"/gateways/{gateway}/assignments", json={"server": server})
    ada = people.user("ada@example.com", "Member", ["eng"], ["engineering"])
    assert [s["name"] for s in ada.get("/servers").json()["items"]] == ["wiki"]
    assert ada.get("/servers/wiki").status_code == 200
    refused = ada.get("/servers/payroll")
    assert (refused.status_code, refused.json()["error"]["message"]) == (404, "no server named 'payroll'")
    people.role("Gateway user", [Capability.VIEW_AND_USE_ALL_GATEWAYS])
    gus = people.user("gus@example.com", "Gateway user")
    assert [s["name"] for s in gus.get("/servers").json()["items"]] == ["payroll", "wiki"]
    people.role("Auditor", [Capability.VIEW_ALL_SERVERS])
    ida = people.user("ida@example.com", "Auditor")
    assert [s["name"] for s in ida.get("/servers").json()["items"]] == ["payroll", "unassigned", "wiki"]


def test_a_server_outside_ones_teams_gateways_answers_the_same_404_as_a_nonexistent_one(
    admin: Api, people: People
) -> None:
    add(admin, "payroll")
    admin.post("/gateways", json={"name": "finance"})
    admin.post("/gateways/finance/assignments", json={"server": "payroll"})
    people.role("Server manager", [Capability.BASIC_SERVER_MANAGEMENT, Capability.DISABLE_AND_ENABLE_SERVERS])
    sam = people.user("sam@example.com", "Server manager", ["eng"])
    for refused in (
        sam.patch("/servers/payroll", json={"url": "https://evil.example/mcp"}),
        sam.post("/servers/payroll/disable"),
        sam.delete("/servers/payroll"),
        sam.get("/servers/payroll/features"),
    ):
        ghost = admin.get("/servers/ghost").json()["error"]
        assert refused.status_code == 404
        assert refused.json()["error"] | {"correlation_id": ""} == ghost | {
            "message": "no server named 'payroll'",
            "correlation_id": "",
        }
    assert admin.get("/servers/payroll").json()["version"] == 1


def test_a_member_cannot_add_or_disable_a_server_and_the_403_names_the_capability(
    admin: Api, people: People
) -> None:
    add(admin, "remote")
    ada = people.user("ada@example.com", "Member")
    refused = ada.post("/servers", json={"name": "mine", **REMOTE})
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Capability 'Basic server management' is required."
    toggled = ada.post("/servers/remote/disable")
    assert toggled.json()["error"]["capability"] == "disableAndEnableServers"


def test_setting_enabled_by_create_or_update_needs_the_break_glass_capability(
    admin: Api, people: People
) -> None:
    people.role("Server editor", [Capability.BASIC_SERVER_MANAGEMENT, Capability.VIEW_ALL_SERVERS])
    eve = people.user("eve@example.com", "Server editor")
    created_off = eve.post("/servers", json={"name": "off", **REMOTE, "enabled": False})
    assert created_off.json()["error"]["capability"] == "disableAndEnableServers"
    assert eve.post("/servers", json={"name": "on", **REMOTE}).status_code == 201
    switched_off = eve.patch("/servers/on", json={"enabled": False})
    assert switched_off.json()["error"]["capability"] == "disableAndEnableServers"
    assert admin.get("/servers/on").json()["enabled"] is True


def test_env_and_header_values_appear_in_no_answer_and_no_admin_event(
    admin: Api, lockgate: RunningGateway
) -> None:
    secrets = ("planted-env-secret", "planted-header-secret", "rotated-env-secret")
    answers = [
        admin.post("/servers", json={"name": "local", **FIXTURE, "env": {"API_KEY": secrets[0]}}),
        admin.post("/servers", json={"name": "remote", **REMOTE, "headers": {"Authorization": secrets[1]}}),
        admin.patch("/servers/local", json={"env": {"API_KEY": secrets[2], "MODE": "x"}}),
        admin.get("/servers/local"),
        admin.get("/servers/remote"),
        admin.get("/servers"),
        admin.post("/servers/remote/disable"),
        admin.delete("/servers/remote"),
    ]
    assert all(a.status_code < 300 for a in answers)
    assert answers[2].json()["env_names"] == ["API_KEY", "MODE"]
    assert answers[4].json()["header_names"] == ["Authorization"]
    events = events_of(lockgate, "server")
    assert len(events) == 5
    for text in [a.text for a in answers] + [repr(e._mapping) for e in events]:
        assert not any(secret in text for secret in secrets)


@pytest.mark.e2e
def test_the_features_preview_lists_what_the_live_server_offers(admin: Api, lockgate: RunningGateway) -> None:
    add(admin, "local", **FIXTURE)
    answer = admin.get("/servers/local/features")
    assert answer.status_code == 200, answer.text
    features = answer.json()
    assert features["server"] == "local"
    assert {"echo", "fail", "hang", "pid"} <= {t["name"] for t in features["tools"]}
    echo = next(t for t in features["tools"] if t["name"] == "echo")
    assert echo["inputSchema"]["properties"]["text"]
    assert [p["name"] for p in features["prompts"]] == ["greet"]
    assert [r["uri"] for r in features["resources"]] == ["fixture://hello"]
    assert features["resource_templates"] == []


def test_an_unreachable_server_gives_a_502_naming_it_but_not_its_address(admin: Api) -> None:
    port = free_port()
    add(admin, "down", transport="http", url=f"http://127.0.0.1:{port}/mcp")
    answer = admin.get("/servers/down/features")
    assert answer.status_code == 502
    assert answer.json()["error"]["code"] == "upstream_unavailable"
    message = answer.json()["error"]["message"]
    assert "'down'" in message and "127.0.0.1" not in message and str(port) not in message


def test_a_disabled_server_is_not_contacted_for_a_preview(admin: Api) -> None:
    add(admin, "local", **FIXTURE)
    admin.post("/servers/local/disable")
    answer = admin.get("/servers/local/features")
    assert answer.status_code == 409
    assert "disabled" in answer.json()["error"]["message"]


def test_a_member_cannot_preview_features_and_the_403_names_the_capability(
    admin: Api, people: People
) -> None:
    add(admin, "local", **FIXTURE)
    refused = people.user("ada@example.com", "Member").get("/servers/local/features")
    assert refused.status_code == 403
    assert refused.json()["error"]["capability"] == "basicServerManagement"


def test_a_pre_registered_oauth_client_secret_is_write_only_and_sealed(
    admin: Api, lockgate: RunningGateway
) -> None:
    planted = "client-secret-planted-91c"
    oauth = {"oauth_client_id": "lockgate", "oauth_client_secret": planted, "oauth_scopes": "read write"}
    created = admin.post("/servers", json={"name": "asana", **REMOTE, **oauth})
    assert created.status_code == 201, created.text
    shown = created.json()
    assert (shown["oauth_client_id"], shown["oauth_scopes"], shown["oauth_client_secret_set"]) == (
        "lockgate",
        "read write",
        True,
    )
    assert planted not in created.text and planted not in admin.get("/servers/asana").text
    with lockgate.engine.connect() as conn:
        row = conn.execute(select(servers).where(servers.c.name == "asana")).one()
    assert planted not in str(tuple(row)) and load_config(row, TEST_VAULT)["oauth_client_secret"] == planted
    orphan = admin.patch("/servers/asana", json={"oauth_client_id": None})
    assert orphan.status_code == 400 and "needs 'oauth_client_id'" in orphan.json()["error"]["message"]
    removed = admin.patch("/servers/asana", json={"oauth_client_secret": None}).json()
    assert (removed["oauth_client_id"], removed["oauth_client_secret_set"]) == ("lockgate", False)
    assert admin.get("/declaration").json()["servers"][0]["oauth_client_secret"] is None
    stdio = admin.post("/servers", json={"name": "local", **FIXTURE, "oauth_client_id": "x"})
    assert stdio.status_code == 400
    assert planted not in str([tuple(e) for e in events_of(lockgate, "server")])


def test_a_server_stored_with_a_header_that_is_now_refused_can_be_fixed_by_an_update(
    admin: Api, lockgate: RunningGateway
) -> None:
    admin.post("/servers", json={"name": "docs", "transport": "http", "url": "https://docs.example.com/mcp"})
    with lockgate.engine.begin() as conn:  # as a row stored before headers were checked holds it
        sealed = TEST_VAULT.seal({"env": {}, "headers": {"X-Static": "a\r\nHost: evil"}}, SECRETS_PLACE)
        config = {"url": "https://docs.example.com/mcp", "env": [], "headers": ["X-Static"]}
        conn.execute(update(servers).where(servers.c.name == "docs").values(secrets=sealed, config=config))
    fixed = admin.patch("/servers/docs", json={"headers": {"X-Static": "fine"}})
    assert fixed.status_code == 200, fixed.text
    refused = admin.patch("/servers/docs", json={"headers": {"X-Static": "a\nb"}})
    assert refused.status_code == 400 and "X-Static" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://10.0.0.5:8080/mcp",
        "https://192.168.1.10/mcp",
        "http://[::ffff:169.254.169.254]/",
        "http://0.0.0.0:8080/mcp",
    ],
)
def test_a_server_url_at_a_link_local_or_private_address_is_a_422_naming_the_policy(
    admin: Api, url: str
) -> None:
    refused = admin.post("/servers", json={"name": "inside", "transport": "http", "url": url})
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["field"]) == ("unprocessable_content", "url")
    assert "LOCKGATE_SERVER_ALLOWED_NETWORKS" in error["message"]
    assert admin.get("/servers/inside").status_code == 404


def test_moving_a_server_to_a_refused_address_is_a_422_on_every_surface_and_changes_nothing(
    admin: Api,
) -> None:
    add(admin, "remote")
    moved = admin.patch("/servers/remote", json={"url": "http://169.254.169.254/"})
    assert moved.status_code == 422
    switched = admin.patch("/servers/remote", json={"transport": "sse", "url": "http://10.1.2.3/sse"})
    assert switched.status_code == 422
    declared = {"servers": [{"name": "remote", "transport": "http", "url": "http://172.16.0.1/mcp"}]}
    for step in ("plan", "apply"):
        answer = admin.post(f"/declaration/{step}", json={"declaration": declared})
        assert answer.status_code == 422, answer.text
        assert "'remote'" in answer.json()["error"]["message"]
    assert admin.get("/servers/remote").json()["version"] == 1


def test_loopback_servers_are_allowed_by_default_and_private_ones_once_their_network_is_listed(
    settings: Settings, engine: Engine
) -> None:
    listed = settings.model_copy(update={"server_allowed_networks": ["10.0.0.0/8"]})
    with in_process(listed, engine) as running:
        token = bootstrap_super_admin(engine, listed.key_bytes(), "admin@example.com")
        assert token is not None
        admin = Api(running.api_url, token, running.http)
        assert add(admin, "inside", transport="http", url="http://10.0.0.5/mcp")["url"]
        loopback = admin.post(
            "/servers", json={"name": "local", "transport": "http", "url": "http://[::1]:9/"}
        )
        assert loopback.status_code == 422  # the list replaces the default: loopback is no longer in it
        link_local = admin.post(
            "/servers", json={"name": "meta", "transport": "sse", "url": "http://169.254.169.254/"}
        )
        assert link_local.status_code == 422


def test_loopback_and_named_server_urls_are_saved_under_the_default_policy(admin: Api) -> None:
    for name, url in (
        ("loopback", "http://127.0.0.1:9/mcp"),
        ("six", "http://[::1]:9/mcp"),
        ("localhost", "http://localhost:9/mcp"),
        ("named", "https://mcp.example.com/mcp"),  # names are judged at connect time, after resolution
    ):
        assert add(admin, name, transport="http", url=url)["url"] == url


def moved_world(admin: Api) -> None:
    """Server ``remote`` with two secret headers and an OAuth client secret, and two identities."""
    oauth = {"oauth_client_id": "lockgate", "oauth_client_secret": "client-secret-planted"}
    headers = {"Authorization": "Bearer planted-header", "X-Tenant": "acme"}
    add(admin, "remote", **REMOTE, headers=headers, **oauth)
    for name in ("bot", "reader"):
        created = admin.post(
            "/identities", json={"server": "remote", "name": name, "headers": {"X-Key": "k"}}
        )
        assert created.status_code == 201, created.text


def stored_config(lockgate: RunningGateway, name: str) -> dict[str, Any]:
    with lockgate.engine.connect() as conn:
        row = conn.execute(select(servers).where(servers.c.name == name)).one()
    return load_config(row, TEST_VAULT)


def test_moving_a_server_to_another_url_drops_its_secrets_and_identities_and_says_so(
    admin: Api, lockgate: RunningGateway
) -> None:
    moved_world(admin)
    moved = admin.patch("/servers/remote", json={"url": "https://attacker.example/mcp"})
    assert moved.status_code == 200, moved.text
    answer = moved.json()
    assert answer["dropped_secrets"] == ["headers.Authorization", "headers.X-Tenant", "oauth_client_secret"]
    assert answer["dropped_identities"] == ["bot", "reader"]
    assert (answer["header_names"], answer["oauth_client_secret_set"]) == ([], False)
    config = stored_config(lockgate, "remote")
    assert config["headers"] == {} and "oauth_client_secret" not in config
    assert admin.get("/identities/bot").status_code == 404
    assert admin.get("/identities", params={"server": "remote"}).json()["items"] == []
    deleted = [(e.name, e.after) for e in events_of(lockgate, "identity") if e.before is not None]
    assert deleted == [("bot", None), ("reader", None)]


def test_a_move_keeps_the_secrets_given_again_with_it(admin: Api, lockgate: RunningGateway) -> None:
    moved_world(admin)
    headers = {"Authorization": "Bearer for-the-new-url"}
    moved = admin.patch("/servers/remote", json={"url": "https://new.example/mcp", "headers": headers})
    assert moved.json()["dropped_secrets"] == ["oauth_client_secret"]
    assert moved.json()["dropped_identities"] == ["bot", "reader"]
    assert stored_config(lockgate, "remote")["headers"] == headers


def test_an_edit_that_keeps_the_destination_keeps_the_secrets_and_identities(
    admin: Api, lockgate: RunningGateway
) -> None:
    moved_world(admin)
    renamed = admin.patch("/servers/remote", json={"name": "renamed", "oauth_scopes": "read"})
    assert (renamed.json()["dropped_secrets"], renamed.json()["dropped_identities"]) == ([], [])
    assert stored_config(lockgate, "renamed")["headers"]["Authorization"] == "Bearer planted-header"
    assert admin.get("/identities/bot").json()["server"] == "renamed"


def test_a_stdio_server_running_another_command_or_args_drops_its_env(
    admin: Api, lockgate: RunningGateway
) -> None:
    add(admin, "local", **FIXTURE, env={"API_KEY": "planted-env"})
    for change in ({"args": ["-c", "import os; print(os.environ)"]}, {"command": "/bin/sh"}):
        add_back = admin.patch("/servers/local", json={"env": {"API_KEY": "planted-env"}})
        assert add_back.json()["dropped_secrets"] == []
        moved = admin.patch("/servers/local", json=change)
        assert moved.json()["dropped_secrets"] == ["env.API_KEY"], change
        assert stored_config(lockgate, "local")["env"] == {}


def test_a_declaration_that_moves_a_server_needs_its_secrets_again_and_drops_its_identities(
    admin: Api, lockgate: RunningGateway
) -> None:
    moved_world(admin)
    declared: dict[str, Any] = {
        "name": "remote",
        "transport": "http",
        "url": "https://attacker.example/mcp",
        "headers": {"Authorization": None},  # null: keep the stored value
    }
    kept = admin.post("/declaration/apply", json={"declaration": {"servers": [declared]}})
    assert kept.status_code == 400, kept.text
    assert kept.json()["error"]["message"].startswith("servers.0.headers.Authorization:")
    assert stored_config(lockgate, "remote")["url"] == REMOTE["url"]
    declared["headers"] = {"Authorization": "Bearer for-the-new-url"}
    applied = admin.post("/declaration/apply", json={"declaration": {"servers": [declared]}})
    assert applied.status_code == 200, applied.text
    assert stored_config(lockgate, "remote")["headers"] == declared["headers"]
    assert admin.get("/identities/bot").status_code == 404
    deleted = [e.name for e in events_of(lockgate, "identity") if e.after is None]
    assert deleted == ["bot", "reader"]
