"""Provisioning in the declaration: modes per kind, approvals with pins and teams, rejections and
the metadata filter are planned, applied and exported (issue 11, item 8)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import insert, select

from lockgate.domain.capabilities import Capability
from lockgate.domain.provisioning import Mode, definition_digest
from lockgate.store.provisioning import load_modes
from lockgate.store.schema import admin_events, feature_approvals, feature_reviews, gateway_servers, teams
from tests.conftest import Api, People, RunningGateway

CLOCK = {"name": "clock", "description": "What time it is", "inputSchema": {"type": "object"}}
WIPE = {"name": "wipe", "description": "Deletes everything", "inputSchema": {"type": "object"}}
GREETING = {"name": "greeting", "arguments": [{"name": "who"}]}
README = {"uri": "file:///readme", "name": "README"}


def _declaration(**assignment: Any) -> dict[str, Any]:
    return {
        "servers": [{"name": "time", "transport": "http", "url": "https://time.example.com/mcp"}],
        "teams": [{"name": "eng"}, {"name": "ops"}],
        "gateways": [{"name": "g", "servers": [{"server": "time", **assignment}]}],
    }


CURATED = {
    "provisioning": {"tools": "allow_selected", "prompts": "allow_all", "resources": "block_all"},
    "approvals": [
        {"kind": "tools", "name": "clock", "definition": CLOCK, "pinned": ["description", "title"]},
        {"kind": "tools", "name": "wipe", "decision": "rejected", "definition": WIPE},
        {"kind": "prompts", "name": "greeting", "teams": ["ops", "eng"], "definition": GREETING},
        {"kind": "resources", "name": "file:///readme", "definition": README, "pinned": []},
    ],
    "metadata_filter": {
        "drop": ["outputSchema", "_meta"],
        "max_description": 200,
        "overrides": [{"kind": "tools", "name": "clock", "description": "The time, now"}],
    },
}


def _assignment(exported: dict[str, Any]) -> dict[str, Any]:
    return exported["gateways"][0]["servers"][0]


def test_an_export_gives_provisioning_approvals_and_filter_and_round_trips_through_an_empty_store(
    admin: Api,
) -> None:
    assert admin.post("/declaration/apply", json={"declaration": _declaration(**CURATED)}).status_code == 200
    exported = admin.get("/declaration").json()
    assignment = _assignment(exported)
    assert assignment["provisioning"] == {
        "tools": "allow_selected",
        "prompts": "allow_all",
        "resources": "block_all",
        "resourceTemplates": "allow_selected",  # a kind left out is fail-closed
    }
    assert [(a["kind"], a["name"], a["decision"], a["teams"]) for a in assignment["approvals"]] == [
        ("tools", "clock", "approved", []),
        ("tools", "wipe", "rejected", []),
        ("prompts", "greeting", "approved", ["eng", "ops"]),
        ("resources", "file:///readme", "approved", []),
    ]
    pins = {a["name"]: a["pinned"] for a in assignment["approvals"]}
    assert pins["clock"] == ["title", "description"] and pins["file:///readme"] == []
    assert pins["wipe"] == ["title", "description", "input_schema", "output_schema", "annotations"]
    assert assignment["metadata_filter"]["drop"] == ["outputSchema", "_meta"]
    assert admin.post("/declaration/apply", json={"declaration": {}, "prune": True}).status_code == 200
    assert admin.get("/declaration").json()["gateways"] == []
    again = admin.post("/declaration/apply", json={"declaration": exported})
    assert again.status_code == 200, again.text
    assert admin.get("/declaration").json() == exported
    assert admin.post("/declaration/plan", json={"declaration": exported}).json()["changes"] == []


def test_applied_approvals_store_the_computed_digest_and_team_ids(
    admin: Api, lockgate: RunningGateway
) -> None:
    admin.post("/declaration/apply", json={"declaration": _declaration(**CURATED)})
    with lockgate.engine.connect() as conn:
        team_ids = {r.name: r.id for r in conn.execute(select(teams))}
        rows = {r.name: r for r in conn.execute(select(feature_approvals))}
    assert rows["clock"].digest == definition_digest(CLOCK)
    assert sorted(rows["greeting"].teams) == sorted([team_ids["eng"], team_ids["ops"]])
    assert rows["clock"].decided_by == "admin@example.com"


def test_a_declared_digest_is_refused_rather_than_trusted(admin: Api) -> None:
    forged = {"kind": "tools", "name": "clock", "definition": CLOCK, "digest": definition_digest(WIPE)}
    refused = admin.post("/declaration/apply", json={"declaration": _declaration(approvals=[forged])})
    assert refused.status_code == 400
    assert "gateways.0.servers.0.approvals.0.digest" in str(refused.json()["error"])


def test_an_assignment_created_without_provisioning_is_fail_closed(
    admin: Api, lockgate: RunningGateway
) -> None:
    applied = admin.post("/declaration/apply", json={"declaration": _declaration()})
    assert applied.status_code == 200
    assignment = _assignment(admin.get("/declaration").json())
    assert (assignment["provisioning"], assignment["approvals"]) == ("allow_selected", [])
    assert assignment["metadata_filter"] == {"drop": [], "max_description": None, "overrides": []}
    with lockgate.engine.connect() as conn:
        stored = conn.execute(select(gateway_servers.c.provisioning)).scalar_one()
    assert set(load_modes(stored).values()) == {Mode.ALLOW_SELECTED}


def test_an_existing_assignment_keeps_its_provisioning_when_the_file_leaves_the_keys_out(admin: Api) -> None:
    admin.post("/declaration/apply", json={"declaration": _declaration(**CURATED)})
    before = _assignment(admin.get("/declaration").json())
    plan = admin.post("/declaration/plan", json={"declaration": _declaration()}).json()
    assert plan["changes"] == []
    prefixed = admin.post("/declaration/apply", json={"declaration": _declaration(prefix="t")}).json()
    assert [f["field"] for c in prefixed["changes"] for f in c["fields"]] == ["servers"]
    after = _assignment(admin.get("/declaration").json())
    assert after == before | {"prefix": "t"}


def test_an_assignment_made_by_hand_keeps_allowing_all_under_a_declaration_without_the_keys(
    admin: Api,
) -> None:
    declaration = _declaration()
    declaration["gateways"][0]["servers"] = []
    admin.post("/declaration/apply", json={"declaration": declaration})
    admin.post("/gateways/g/assignments", json={"server": "time"})
    made = _assignment(admin.get("/declaration").json())["provisioning"]
    admin.post("/declaration/apply", json={"declaration": _declaration(prefix="t")})
    assert _assignment(admin.get("/declaration").json())["provisioning"] == made


def test_another_server_under_the_same_assignment_name_starts_fail_closed(admin: Api) -> None:
    admin.post("/declaration/apply", json={"declaration": _declaration(provisioning="allow_all")})
    declaration = _declaration()
    declaration["servers"].append({"name": "other", "transport": "http", "url": "https://o.example.com/mcp"})
    declaration["gateways"][0]["servers"] = [{"server": "other", "name": "time"}]
    assert admin.post("/declaration/apply", json={"declaration": declaration}).status_code == 200
    assignment = _assignment(admin.get("/declaration").json())
    assert (assignment["server"], assignment["provisioning"]) == ("other", "allow_selected")


def test_a_plan_names_each_provisioning_change_per_assignment(admin: Api) -> None:
    admin.post("/declaration/apply", json={"declaration": _declaration(**CURATED)})
    edited = _declaration(**CURATED)
    curated = edited["gateways"][0]["servers"][0]
    curated["provisioning"] = "allow_all"
    curated["approvals"] = [a for a in curated["approvals"] if a["name"] != "wipe"]
    curated["metadata_filter"] = {}
    changes = admin.post("/declaration/plan", json={"declaration": edited}).json()["changes"]
    assert [(c["kind"], c["name"]) for c in changes] == [("gateway", "g")]
    fields = {f["field"]: f for f in changes[0]["fields"]}
    assert set(fields) == {
        "servers.time.provisioning",
        "servers.time.approvals",
        "servers.time.metadata_filter",
    }
    assert fields["servers.time.provisioning"]["after"] == "allow_all"
    assert fields["servers.time.metadata_filter"]["after"] == {}
    shown = fields["servers.time.approvals"]["before"]
    wipe = {"kind": "tools", "name": "wipe", "decision": "rejected", "digest": definition_digest(WIPE)}
    assert wipe in shown


def test_a_new_fail_closed_assignment_plans_no_provisioning_change_and_an_open_one_does(admin: Api) -> None:
    admin.post("/declaration/apply", json={"declaration": _declaration(provisioning="allow_all")})
    declaration = _declaration(provisioning="allow_all")
    declaration["gateways"][0]["servers"].append({"server": "time", "name": "again", "prefix": "a"})
    declaration["gateways"][0]["servers"].append(
        {"server": "time", "name": "open", "prefix": "o", "provisioning": "allow_all"}
    )
    changes = admin.post("/declaration/plan", json={"declaration": declaration}).json()["changes"]
    fields = {f["field"]: (f["before"], f["after"]) for f in changes[0]["fields"]}
    assert not [f for f in fields if f.startswith("servers.again.")]  # fail-closed, as by hand
    assert fields["servers.open.provisioning"] == ("allow_selected", "allow_all")


def test_an_unchanged_approval_keeps_who_decided_it(admin: Api, lockgate: RunningGateway) -> None:
    admin.post("/declaration/apply", json={"declaration": _declaration(**CURATED)})
    with lockgate.engine.connect() as conn:
        before = {r.name: (r.id, r.decided_at) for r in conn.execute(select(feature_approvals))}
    edited = _declaration(**CURATED)
    edited["gateways"][0]["servers"][0]["approvals"][0]["pinned"] = []  # clock: re-decided
    assert admin.post("/declaration/apply", json={"declaration": edited}).status_code == 200
    with lockgate.engine.connect() as conn:
        after = {r.name: (r.id, r.decided_at) for r in conn.execute(select(feature_approvals))}
    assert after["wipe"] == before["wipe"] and after["greeting"] == before["greeting"]
    assert after["clock"] != before["clock"]


def test_malformed_provisioning_is_a_400_naming_the_path(admin: Api) -> None:
    approval = {"kind": "tools", "name": "clock", "definition": CLOCK}
    big = {"name": "clock", "description": "x" * 70_000}
    here = "gateways.0.servers.0"
    for assignment, where in (
        ({"provisioning": "allow_some"}, f"{here}.provisioning"),
        ({"provisioning": {"tools": "allow_all", "widgets": "allow_all"}}, f"{here}.provisioning"),
        ({"approvals": [approval | {"kind": "widgets"}]}, f"{here}.approvals.0.kind"),
        ({"approvals": [approval | {"pinned": ["colour"]}]}, f"{here}.approvals.0.pinned.0"),
        ({"approvals": [approval | {"decision": "maybe"}]}, f"{here}.approvals.0.decision"),
        ({"approvals": [approval | {"name": "wipe"}]}, f"{here}.approvals.0"),
        ({"approvals": [approval | {"definition": big}]}, f"{here}.approvals.0"),
        ({"approvals": [approval, approval]}, f"{here}.approvals"),
        ({"metadata_filter": {"drop": ["inputSchema"]}}, f"{here}.metadata_filter.drop.0"),
        ({"metadata_filter": {"max_description": -1}}, f"{here}.metadata_filter.max_description"),
        (
            {"metadata_filter": {"overrides": [{"kind": "tools", "name": "clock"}]}},
            f"{here}.metadata_filter.overrides.0",
        ),
    ):
        refused = admin.post("/declaration/plan", json={"declaration": _declaration(**assignment)})
        assert refused.status_code == 400, (assignment, refused.text)
        assert where in str(refused.json()["error"]), (where, refused.text)


def test_an_approval_for_an_unknown_team_is_a_400_naming_the_path_and_applies_nothing(admin: Api) -> None:
    approval = {"kind": "tools", "name": "clock", "definition": CLOCK, "teams": ["eng", "nobody"]}
    refused = admin.post("/declaration/apply", json={"declaration": _declaration(approvals=[approval])})
    assert refused.status_code == 400
    message = refused.json()["error"]["message"]
    assert "gateways.0.servers.0.approvals.0.teams" in message and "'nobody'" in message
    assert admin.get("/declaration").json()["servers"] == []


def _gateway_manager(admin: Api, people: People) -> Api:
    """Servers time and other and teams eng and ops exist; dana manages gateways and servers, not
    provisioning."""
    declaration = _declaration() | {"gateways": []}
    declaration["servers"].append({"name": "other", "transport": "http", "url": "https://o.example.com/mcp"})
    admin.post("/declaration/apply", json={"declaration": declaration}).raise_for_status()
    people.role(
        "GatewayManager",
        [
            Capability.EXPORT_AND_APPLY_CONFIGURATION,
            Capability.BASIC_SERVER_MANAGEMENT,
            Capability.BASIC_GATEWAY_MANAGEMENT,
            Capability.VIEW_ALL_SERVERS,
        ],
    )
    return people.user("dana@example.com", "GatewayManager")


def test_a_new_gateway_with_an_open_assignment_is_planned_and_needs_the_provisioning_capability(
    admin: Api, people: People
) -> None:
    dana = _gateway_manager(admin, people)
    opened = _declaration(provisioning="allow_all")
    planned = admin.post("/declaration/plan", json={"declaration": opened})
    assert planned.status_code == 200, planned.text
    changes = planned.json()["changes"]
    created = [c for c in changes if c["kind"] == "gateway"]
    assert created[0]["action"] == "create"
    assert [(f["field"], f["before"], f["after"]) for f in created[0]["fields"]] == [
        ("servers.time.provisioning", "allow_selected", "allow_all")
    ]
    refused = dana.post("/declaration/apply", json={"declaration": opened})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["capability"] == Capability.MANAGE_FEATURE_PROVISIONING.value
    assert admin.get("/declaration").json()["gateways"] == []
    fail_closed = dana.post("/declaration/apply", json={"declaration": _declaration()})
    assert fail_closed.status_code == 200, fail_closed.text


def test_another_server_under_an_open_assignment_name_is_a_provisioning_change(
    admin: Api, people: People
) -> None:
    dana = _gateway_manager(admin, people)
    admin.post("/declaration/apply", json={"declaration": _declaration(provisioning="allow_all")})
    swapped = _declaration(provisioning="allow_all")
    swapped["servers"].append({"name": "other", "transport": "http", "url": "https://o.example.com/mcp"})
    swapped["gateways"][0]["servers"] = [{"server": "other", "name": "time", "provisioning": "allow_all"}]
    changes = admin.post("/declaration/plan", json={"declaration": swapped}).json()["changes"]
    fields = {f["field"]: (f["before"], f["after"]) for c in changes for f in c["fields"]}
    assert fields["servers.time.provisioning"] == ("allow_selected", "allow_all")
    refused = dana.post("/declaration/apply", json={"declaration": swapped})
    assert refused.status_code == 403, refused.text
    assert _assignment(admin.get("/declaration").json())["server"] == "time"


def test_a_team_pruned_by_a_declaration_leaves_no_approval_to_the_next_team(admin: Api) -> None:
    approval = {"kind": "tools", "name": "clock", "definition": CLOCK, "teams": ["ops"]}
    admin.post("/declaration/apply", json={"declaration": _declaration(approvals=[approval])})
    pruned = _declaration()
    pruned["teams"] = [{"name": "eng"}]
    assert admin.post("/declaration/apply", json={"declaration": pruned, "prune": True}).status_code == 200
    assert admin.post("/teams", json={"name": "newcomers"}).status_code == 201  # may reuse ops's id
    shown = admin.get("/gateways/g/assignments/time/provisioning").json()
    assert shown["approvals"] == []


def test_a_declared_approval_or_rejection_closes_the_open_reviews_of_its_definition(
    admin: Api, lockgate: RunningGateway
) -> None:
    admin.post("/declaration/apply", json={"declaration": _declaration()}).raise_for_status()
    with lockgate.engine.begin() as conn:
        assignment = conn.execute(select(gateway_servers.c.id)).scalar_one()
        for definition in (CLOCK, WIPE):
            conn.execute(
                insert(feature_reviews).values(
                    assignment_id=assignment,
                    kind="tools",
                    name=definition["name"],
                    digest=definition_digest(definition),
                    reason="not_approved",
                    definition=definition,
                    findings=[],
                    status="open",
                    first_seen=time.time(),
                    last_seen=time.time(),
                )
            )
    decided = [
        {"kind": "tools", "name": "clock", "definition": CLOCK},
        {"kind": "tools", "name": "wipe", "decision": "rejected", "definition": WIPE},
    ]
    admin.post("/declaration/apply", json={"declaration": _declaration(approvals=decided)}).raise_for_status()
    with lockgate.engine.connect() as conn:
        closed = {r.name: (r.status, r.decided_by) for r in conn.execute(select(feature_reviews))}
    assert closed == {"clock": ("approved", "admin@example.com"), "wipe": ("rejected", "admin@example.com")}


def test_a_declarations_admin_event_holds_approvals_by_summary(admin: Api, lockgate: RunningGateway) -> None:
    admin.post("/declaration/apply", json={"declaration": _declaration(**CURATED)}).raise_for_status()
    with lockgate.engine.connect() as conn:
        query = select(admin_events.c.after).where(admin_events.c.kind == "gateway")
        after = conn.execute(query).scalar_one()
    approvals = after["servers"][0]["approvals"]
    assert [a["name"] for a in approvals] == ["clock", "wipe", "greeting", "file:///readme"]
    assert all("definition" not in a and a["digest"] for a in approvals)
