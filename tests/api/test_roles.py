"""Roles and capabilities through the JSON API: the locked Super admin, the editable built-in
roles, custom roles, and no privilege escalation through a role."""

from __future__ import annotations

from lockgate.domain.capabilities import CAPABILITIES, Capability
from tests.conftest import Api, People

EVERY_KEY = sorted(c.value for c in Capability)


def test_everyone_lists_the_roles_and_super_admin_is_locked_holding_every_capability(
    admin: Api, people: People
) -> None:
    ada = people.user("ada@example.com", "Member")
    listed = ada.get("/roles")
    assert listed.status_code == 200
    by_name = {r["name"]: r for r in listed.json()["items"]}
    assert list(by_name) == ["Administrator", "Member", "Super admin"]
    assert by_name["Super admin"] == {
        "name": "Super admin",
        "builtin": True,
        "locked": True,
        "capabilities": EVERY_KEY,
        "version": 1,
    }
    assert by_name["Member"]["capabilities"] == []
    assert "managePeople" not in by_name["Administrator"]["capabilities"]
    fetched = ada.get("/roles/Super admin")
    assert fetched.status_code == 200
    assert fetched.headers["etag"] == '"1"'


def test_creating_a_custom_role_answers_201_with_its_capabilities_sorted(admin: Api) -> None:
    created = admin.post(
        "/roles", json={"name": "Auditor", "capabilities": ["viewAndExportLogs", "viewAllServers"]}
    )
    assert created.status_code == 201, created.text
    assert created.json() == {
        "name": "Auditor",
        "builtin": False,
        "locked": False,
        "capabilities": ["viewAllServers", "viewAndExportLogs"],
        "version": 1,
    }
    assert admin.post("/roles", json={"name": "Auditor"}).status_code == 409
    assert admin.post("/roles", json={"name": "Member"}).status_code == 409


def test_an_unknown_capability_key_is_a_400_naming_the_field(admin: Api) -> None:
    refused = admin.post("/roles", json={"name": "Odd", "capabilities": ["viewAllServers", "flyToTheMoon"]})
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "capabilities.1"
    update = admin.patch("/roles/Member", json={"capabilities": ["flyToTheMoon"]})
    assert update.json()["error"]["field"] == "capabilities.0"
    assert admin.get("/roles/Odd").status_code == 404


def test_super_admin_cannot_be_changed_or_deleted(admin: Api) -> None:
    for answer in (
        admin.patch("/roles/Super admin", json={"capabilities": []}),
        admin.patch("/roles/Super admin", json={"name": "Root"}),
        admin.delete("/roles/Super admin"),
    ):
        assert answer.status_code == 409
        assert answer.json()["error"]["message"].startswith("Super admin always holds every capability")
    assert admin.get("/roles/Super admin").json()["capabilities"] == EVERY_KEY


def test_built_in_roles_keep_their_names_but_member_capabilities_are_editable_and_apply_at_once(
    admin: Api, people: People
) -> None:
    ada = people.user("ada@example.com", "Member")
    assert ada.get("/events").status_code == 403
    assert admin.patch("/roles/Member", json={"name": "Guest"}).status_code == 409
    assert admin.delete("/roles/Administrator").status_code == 409
    edited = admin.patch(
        "/roles/Member", json={"capabilities": ["viewAndExportLogs"]}, headers={"If-Match": '"1"'}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["capabilities"] == ["viewAndExportLogs"]
    assert edited.json()["version"] == 2
    assert ada.get("/events").status_code == 200
    assert ada.get("/me").json()["capabilities"] == ["viewAndExportLogs"]


def test_a_custom_role_can_be_renamed_and_a_stale_version_gets_412(admin: Api) -> None:
    admin.post("/roles", json={"name": "Auditor"})
    renamed = admin.patch("/roles/Auditor", json={"name": "Reviewer"}, headers={"If-Match": '"1"'})
    assert renamed.json()["name"] == "Reviewer"
    stale = admin.patch(
        "/roles/Reviewer", json={"capabilities": ["viewAllServers"]}, headers={"If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert admin.get("/roles/Reviewer").json()["capabilities"] == []


def test_a_role_held_by_a_user_cannot_be_deleted_until_nobody_holds_it(admin: Api, people: People) -> None:
    admin.post("/roles", json={"name": "Auditor"})
    admin.post("/users", json={"email": "ada@example.com", "role": "Auditor"})
    held = admin.delete("/roles/Auditor")
    assert held.status_code == 409
    assert "held by 1 user" in held.json()["error"]["message"]
    admin.patch("/users/ada@example.com", json={"role": "Member"})
    assert admin.delete("/roles/Auditor").status_code == 204
    assert admin.get("/roles/Auditor").status_code == 404


def test_a_people_manager_cannot_create_or_edit_a_role_to_hold_a_capability_they_lack(
    admin: Api, people: People
) -> None:
    people.role("People", [Capability.MANAGE_PEOPLE])
    pat = people.user("pat@example.com", "People")
    created = pat.post("/roles", json={"name": "Logs", "capabilities": ["viewAndExportLogs"]})
    assert created.status_code == 403
    assert created.json()["error"]["capability"] == "viewAndExportLogs"
    own = pat.patch("/roles/People", json={"capabilities": ["managePeople", "viewAllServers"]})
    assert own.status_code == 403
    assert own.json()["error"]["capability"] == "viewAllServers"
    assert admin.get("/roles/People").json()["capabilities"] == ["managePeople"]
    within = pat.post("/roles", json={"name": "Helper", "capabilities": ["managePeople"]})
    assert within.status_code == 201


def test_a_member_cannot_create_edit_or_delete_a_role_and_the_403_names_manage_people(
    admin: Api, people: People
) -> None:
    ada = people.user("ada@example.com", "Member")
    for answer in (
        ada.post("/roles", json={"name": "Mine"}),
        ada.patch("/roles/Member", json={"capabilities": []}),
        ada.delete("/roles/Member"),
    ):
        assert answer.status_code == 403
        assert answer.json()["error"]["capability"] == "managePeople"


def test_everyone_lists_every_capability_with_its_label_area_and_whether_lockgate_named_it(
    admin: Api, people: People
) -> None:
    ada = people.user("ada@example.com", "Member")
    listed = ada.get("/capabilities")
    assert listed.status_code == 200
    page = listed.json()
    assert page["next_cursor"] is None
    assert [c["key"] for c in page["items"]] == [c.value for c in CAPABILITIES]
    by_key = {c["key"]: c for c in page["items"]}
    assert by_key["managePeople"] == {
        "key": "managePeople",
        "label": "Manage people",
        "area": "People",
        "description": CAPABILITIES[Capability.MANAGE_PEOPLE].description,
        "lockgate_name": False,
        "runs_commands": False,
        "reaches_networks": None,
    }
    assert by_key["disableAndEnableServers"]["lockgate_name"] is True


def test_the_capability_list_says_which_capabilities_run_commands_or_reach_internal_networks(
    admin: Api,
) -> None:
    by_key = {c["key"]: c for c in admin.get("/capabilities").json()["items"]}
    servers = by_key["basicServerManagement"]
    assert (servers["runs_commands"], servers["reaches_networks"]) == (
        True,
        "LOCKGATE_SERVER_ALLOWED_NETWORKS",
    )
    assert by_key["createAndManageApiTokens"]["reaches_networks"] == "LOCKGATE_EGRESS_ALLOWED_NETWORKS"
    assert [k for k, c in by_key.items() if c["runs_commands"]] == ["basicServerManagement"]
