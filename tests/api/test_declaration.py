"""Configuration as code through the JSON API: export, plan and apply, with secrets kept out."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from lockgate.domain.capabilities import Capability
from lockgate.store.schema import admin_events, hosts
from tests.conftest import Api, People, RunningGateway

SECRET = "sk-live-do-not-show"


def _declaration() -> dict[str, Any]:
    return {
        "servers": [
            {
                "name": "docs",
                "transport": "http",
                "url": "https://docs.example.com/mcp",
                "headers": {"Authorization": f"Bearer {SECRET}"},
            },
            {"name": "time", "transport": "stdio", "command": "mcp-server-time", "env": {"API_KEY": SECRET}},
        ],
        "teams": [{"name": "eng"}],
        "roles": [{"name": "Auditor", "capabilities": ["viewAndExportLogs"]}],
        "hosts": [{"name": "bot"}],
        "gateways": [
            {
                "name": "engineering",
                "servers": [{"server": "time", "prefix": "t"}, {"server": "docs"}],
                "teams": ["eng"],
            }
        ],
    }


def test_applying_creates_everything_and_a_second_apply_changes_nothing(admin: Api) -> None:
    first = admin.post("/declaration/apply", json={"declaration": _declaration()})
    assert first.status_code == 200, first.text
    created = {(c["kind"], c["name"]) for c in first.json()["changes"] if c["action"] == "create"}
    assert created == {
        ("server", "docs"),
        ("server", "time"),
        ("team", "eng"),
        ("role", "Auditor"),
        ("host", "bot"),
        ("gateway", "engineering"),
    }
    again = admin.post("/declaration/apply", json={"declaration": _declaration()})
    assert again.json() == {"changes": [], "applied": True}


def test_an_export_carries_no_secret_and_planning_it_back_changes_nothing(admin: Api) -> None:
    admin.post("/declaration/apply", json={"declaration": _declaration()})
    exported = admin.get("/declaration")
    assert SECRET not in exported.text
    servers = {s["name"]: s for s in exported.json()["servers"]}
    assert servers["time"]["env"] == {"API_KEY": None}
    assert servers["docs"]["headers"] == {"Authorization": None}
    plan = admin.post("/declaration/plan", json={"declaration": exported.json()})
    assert plan.json() == {"changes": [], "applied": False}


def test_a_plan_names_exactly_the_edited_fields_and_hides_secret_values(admin: Api) -> None:
    admin.post("/declaration/apply", json={"declaration": _declaration()})
    edited = _declaration()
    edited["servers"][1]["env"]["API_KEY"] = "sk-rotated"
    edited["gateways"][0]["enabled"] = False
    changes = admin.post("/declaration/plan", json={"declaration": edited}).json()["changes"]
    assert [(c["action"], c["kind"], c["name"], c["fields"]) for c in changes] == [
        ("update", "server", "time", [{"field": "env.API_KEY", "before": "(secret)", "after": "(secret)"}]),
        ("update", "gateway", "engineering", [{"field": "enabled", "before": True, "after": False}]),
    ]


def test_prune_deletes_what_the_file_no_longer_names_but_never_a_builtin_role(admin: Api) -> None:
    admin.post("/declaration/apply", json={"declaration": _declaration()})
    smaller = {"servers": [_declaration()["servers"][1]], "roles": [{"name": "Member"}]}
    without = admin.post("/declaration/plan", json={"declaration": smaller}).json()["changes"]
    assert all(c["action"] != "delete" for c in without)
    pruned = admin.post("/declaration/apply", json={"declaration": smaller, "prune": True}).json()["changes"]
    deleted = [(c["kind"], c["name"]) for c in pruned if c["action"] == "delete"]
    assert deleted == [
        ("gateway", "engineering"),
        ("host", "bot"),
        ("server", "docs"),
        ("team", "eng"),
        ("role", "Auditor"),
    ]
    roles = {r["name"] for r in admin.get("/declaration").json()["roles"]}
    assert roles == {"Administrator", "Member"}


def test_a_null_secret_with_nothing_stored_is_a_400_naming_the_key(admin: Api) -> None:
    declaration = {
        "servers": [{"name": "time", "transport": "stdio", "command": "x", "env": {"API_KEY": None}}]
    }
    refused = admin.post("/declaration/apply", json={"declaration": declaration})
    assert refused.status_code == 400
    assert "servers.0.env.API_KEY" in refused.json()["error"]["message"]
    assert admin.get("/declaration").json()["servers"] == []


def test_a_reference_to_a_missing_server_applies_nothing(admin: Api) -> None:
    declaration = {"gateways": [{"name": "g", "servers": [{"server": "nowhere"}]}], "hosts": [{"name": "h"}]}
    refused = admin.post("/declaration/apply", json={"declaration": declaration})
    assert refused.status_code == 404
    assert admin.get("/declaration").json()["hosts"] == []


def test_each_applied_change_is_an_admin_event_without_secrets(admin: Api, lockgate: RunningGateway) -> None:
    answer = admin.post("/declaration/apply", json={"declaration": _declaration()})
    with lockgate.engine.connect() as conn:
        events = conn.execute(
            select(admin_events).where(admin_events.c.correlation_id == answer.headers["x-correlation-id"])
        ).all()
    assert len(events) == len(answer.json()["changes"])
    assert {e.actor for e in events} == {"admin@example.com"}
    assert all(SECRET not in str(e.before) + str(e.after) for e in events)


def test_apply_needs_the_capability_of_each_change_it_makes(admin: Api, people: People) -> None:
    people.role(
        "Configurator", [Capability.EXPORT_AND_APPLY_CONFIGURATION, Capability.BASIC_SERVER_MANAGEMENT]
    )
    carol = people.user("carol@example.com", "Configurator")
    servers_only = {"servers": _declaration()["servers"]}
    assert carol.post("/declaration/apply", json={"declaration": servers_only}).status_code == 200
    refused = carol.post("/declaration/apply", json={"declaration": {"teams": [{"name": "eng"}]}})
    assert refused.status_code == 403
    assert refused.json()["error"]["capability"] == "managePeople"
    member = people.user("mo@example.com", "Member")
    assert member.get("/declaration").json()["error"]["capability"] == "exportAndApplyConfiguration"


# -- users and host webhooks ------------------------------------------------------------------------
HOOK = "https://agent.example/hook"


def _people() -> dict[str, Any]:
    return {
        **_declaration(),
        "hosts": [{"name": "bot", "webhook_url": HOOK}],
        "users": [
            {"email": "ada@example.com", "role": "Auditor", "teams": ["eng"]},
            {"email": "bob@example.com"},
        ],
    }


def test_users_with_their_role_and_teams_and_a_hosts_webhook_url_apply_and_round_trip(
    admin: Api, lockgate: RunningGateway
) -> None:
    applied = admin.post("/declaration/apply", json={"declaration": _people()})
    assert applied.status_code == 200, applied.text
    created = [(c["kind"], c["name"]) for c in applied.json()["changes"] if c["kind"] in ("user", "host")]
    assert created == [("user", "ada@example.com"), ("user", "bob@example.com"), ("host", "bot")]
    assert "whsec_" not in applied.text
    ada = admin.get("/users/ada@example.com").json()
    assert (ada["role"], ada["teams"], ada["active"]) == ("Auditor", ["eng"], True)
    assert admin.get("/users/bob@example.com").json()["role"] == "Member"
    assert admin.get("/hosts/bot").json()["webhook_url"] == HOOK
    with lockgate.engine.connect() as conn:  # a signing secret was made, sealed; rotation shows it
        assert conn.execute(select(hosts.c.webhook_secret).where(hosts.c.name == "bot")).scalar()

    exported = admin.get("/declaration").json()
    assert {"email": "ada@example.com", "role": "Auditor", "teams": ["eng"]} in exported["users"]
    assert exported["hosts"] == [{"name": "bot", "kind": "token", "enabled": True, "webhook_url": HOOK}]
    assert "webhook_secret" not in str(exported)
    assert admin.post("/declaration/plan", json={"declaration": exported}).json()["changes"] == []
    pruned = admin.post("/declaration/plan", json={"declaration": {}, "prune": True}).json()["changes"]
    assert all(c["kind"] != "user" for c in pruned)  # users are never deleted by a declaration


def test_a_declared_users_role_and_teams_change_in_place(admin: Api) -> None:
    admin.post("/declaration/apply", json={"declaration": _people()}).raise_for_status()
    edited = _people()
    edited["users"][0] = {"email": "ada@example.com", "role": "Member", "teams": []}
    [change] = admin.post("/declaration/apply", json={"declaration": edited}).json()["changes"]
    assert (change["kind"], change["name"], [f["field"] for f in change["fields"]]) == (
        "user",
        "ada@example.com",
        ["role", "teams"],
    )
    ada = admin.get("/users/ada@example.com").json()
    assert (ada["role"], ada["teams"], ada["version"]) == ("Member", [], 2)


def test_declaring_users_needs_manage_people_and_no_role_beyond_the_appliers_own(
    admin: Api, people: People
) -> None:
    people.role("Configurator", [Capability.EXPORT_AND_APPLY_CONFIGURATION, Capability.MANAGE_PEOPLE])
    carol = people.user("carol@example.com", "Configurator")
    people.role("Applier", [Capability.EXPORT_AND_APPLY_CONFIGURATION])
    dave = people.user("dave@example.com", "Applier")
    member = {"users": [{"email": "bob@example.com"}]}
    refused = dave.post("/declaration/apply", json={"declaration": member})
    assert (refused.status_code, refused.json()["error"]["capability"]) == (403, "managePeople")
    escalation = {"users": [{"email": "eve@example.com", "role": "Super admin"}]}
    refused = carol.post("/declaration/apply", json={"declaration": escalation})
    assert refused.status_code == 403 and "giving role 'Super admin'" in refused.json()["error"]["message"]
    demotion = {"users": [{"email": "admin@example.com", "role": "Member"}]}
    refused = carol.post("/declaration/apply", json={"declaration": demotion})
    assert refused.status_code == 403 and "who holds role 'Super admin'" in refused.json()["error"]["message"]
    last = admin.post("/declaration/apply", json={"declaration": demotion})
    assert last.status_code == 409 and "last active Super admin" in last.json()["error"]["message"]
    assert carol.post("/declaration/apply", json={"declaration": member}).status_code == 200
    emails = [u["email"] for u in admin.get("/users").json()["items"]]
    assert "eve@example.com" not in emails and "bob@example.com" in emails


def test_a_declared_user_with_an_unknown_role_or_team_applies_nothing(admin: Api) -> None:
    for user in (
        {"email": "bob@example.com", "role": "Ghost"},
        {"email": "bob@example.com", "teams": ["ghost"]},
    ):
        refused = admin.post("/declaration/apply", json={"declaration": {"users": [user]}})
        assert refused.status_code == 404
    assert [u["email"] for u in admin.get("/users").json()["items"]] == ["admin@example.com"]


def test_moving_a_webhook_by_declaration_needs_every_gateway_the_host_serves(
    admin: Api, people: People, lockgate: RunningGateway
) -> None:
    lockgate.declare(
        {"gateways": [{"name": "engineering"}, {"name": "finance"}], "hosts": [{"name": "claude"}]}
    )
    admin.post("/tokens", json={"host": "claude", "gateway": "finance"}).raise_for_status()
    people.role(
        "Configurator", [Capability.EXPORT_AND_APPLY_CONFIGURATION, Capability.CREATE_AND_MANAGE_API_TOKENS]
    )
    carol = people.user("carol@example.com", "Configurator", ["eng"], ["engineering"])
    steal = {"hosts": [{"name": "claude", "webhook_url": "https://carol.example/steal"}]}
    refused = carol.post("/declaration/apply", json={"declaration": steal})
    assert refused.status_code == 403
    assert refused.json()["error"]["capability"] == "viewAndUseAllGateways"
    assert "outside your teams" in refused.json()["error"]["message"]
    assert "finance" not in refused.json()["error"]["message"]
    assert admin.get("/hosts/claude").json()["webhook_url"] is None
    assert admin.post("/declaration/apply", json={"declaration": steal}).status_code == 200


def test_a_malformed_declared_webhook_url_or_email_is_a_400_naming_the_field(admin: Api) -> None:
    for declaration, field in (
        ({"hosts": [{"name": "bot", "webhook_url": "http://agent.example/hook"}]}, "hosts.0.webhook_url"),
        ({"users": [{"email": "not an email"}]}, "users.0.email"),
    ):
        refused = admin.post("/declaration/apply", json={"declaration": declaration})
        assert refused.status_code == 400 and field in refused.json()["error"]["message"] + str(
            refused.json()["error"].get("field")
        )


def _servers_on_two_gateways(admin: Api, people: People) -> Api:
    """Servers ``ours`` on gateway g, ``theirs`` on gateway finance; carol configures, in team eng
    granted g only."""
    declaration = {
        "servers": [
            {"name": "ours", "transport": "http", "url": "https://ours.example.com/mcp"},
            {"name": "theirs", "transport": "http", "url": "https://theirs.example.com/mcp"},
        ],
        "gateways": [
            {"name": "g", "servers": [{"server": "ours"}]},
            {"name": "finance", "servers": [{"server": "theirs"}]},
        ],
    }
    admin.post("/declaration/apply", json={"declaration": declaration}).raise_for_status()
    people.role(
        "Configurator",
        [
            Capability.EXPORT_AND_APPLY_CONFIGURATION,
            Capability.BASIC_SERVER_MANAGEMENT,
            Capability.BASIC_GATEWAY_MANAGEMENT,
        ],
    )
    return people.user("carol@example.com", "Configurator", ["eng"], ["g"])


def test_a_declaration_may_not_edit_a_server_the_actor_does_not_see(admin: Api, people: People) -> None:
    carol = _servers_on_two_gateways(admin, people)
    hijack = {"servers": [{"name": "theirs", "transport": "http", "url": "https://attacker.example/mcp"}]}

    refused = carol.post("/declaration/apply", json={"declaration": hijack})
    by_hand = carol.patch("/servers/theirs", json={"url": "https://attacker.example/mcp"})

    assert refused.status_code == by_hand.status_code == 404, refused.text  # as for no such server
    assert refused.json()["error"] == by_hand.json()["error"] | {
        "correlation_id": refused.json()["error"]["correlation_id"]
    }
    assert carol.post("/declaration/plan", json={"declaration": hijack}).status_code == 404
    assert admin.get("/servers/theirs").json()["url"] == "https://theirs.example.com/mcp"
    own = {"servers": [{"name": "ours", "transport": "http", "url": "https://ours.example.com/v2/mcp"}]}
    assert carol.post("/declaration/apply", json={"declaration": own}).status_code == 200


def test_a_declaration_may_assign_only_servers_the_actor_sees(admin: Api, people: People) -> None:
    carol = _servers_on_two_gateways(admin, people)
    both = {
        "gateways": [{"name": "g", "servers": [{"server": "ours"}, {"server": "theirs"}], "teams": ["eng"]}]
    }

    refused = carol.post("/declaration/apply", json={"declaration": both})
    by_hand = carol.post("/gateways/g/assignments", json={"server": "theirs"})

    assert refused.status_code == by_hand.status_code == 404, refused.text
    assert (
        refused.json()["error"]["message"] == by_hand.json()["error"]["message"] == "no server named 'theirs'"
    )
    assert [a["server"] for a in admin.get("/gateways/g").json()["servers"]] == ["ours"]
    renamed = {"gateways": [{"name": "g", "servers": [{"server": "ours", "name": "mine"}], "teams": ["eng"]}]}
    assert carol.post("/declaration/apply", json={"declaration": renamed}).status_code == 200


def test_a_server_created_and_assigned_in_one_declaration_needs_view_all_servers_as_by_hand(
    admin: Api, people: People
) -> None:
    carol = _servers_on_two_gateways(admin, people)
    new = {"name": "fresh", "transport": "http", "url": "https://fresh.example.com/mcp"}
    declaration = {
        "servers": [new],
        "gateways": [{"name": "g", "servers": [{"server": "ours"}, {"server": "fresh"}], "teams": ["eng"]}],
    }

    refused = carol.post("/declaration/apply", json={"declaration": declaration})

    assert refused.status_code == 404  # a server on no gateway is seen only with "View all servers"
    assert admin.get("/servers/fresh").status_code == 404  # nothing applied
    assert carol.post("/servers", json=new).status_code == 201
    assert carol.post("/gateways/g/assignments", json={"server": "fresh"}).status_code == 404
