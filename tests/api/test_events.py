"""Admin events through the JSON API: every admin change is readable afterwards, naming its actor,
operation, resource, before and after, and the correlation id of the change's response."""

from __future__ import annotations

from typing import Any

import httpx

from lockgate.domain.capabilities import Capability
from tests.conftest import Api, People


def _made(changes: list[tuple[str, httpx.Response]]) -> list[tuple[str, str]]:
    for _actor, response in changes:
        assert response.status_code in (200, 201, 204), response.text
    return [(actor, response.headers["x-correlation-id"]) for actor, response in changes]


def test_every_admin_change_is_readable_afterwards_as_an_event_naming_its_actor(
    admin: Api, people: People
) -> None:
    people.role(
        "People", [Capability.MANAGE_PEOPLE, Capability.VIEW_AND_EXPORT_LOGS, Capability.VIEW_ALL_LOGS]
    )
    pat = people.user("pat@example.com", "People")
    changes = [
        ("admin@example.com", admin.post("/teams", json={"name": "eng"})),
        ("pat@example.com", pat.post("/users", json={"email": "ada@example.com", "teams": ["eng"]})),
        ("admin@example.com", admin.patch("/users/ada@example.com", json={"active": False})),
        ("pat@example.com", pat.delete("/teams/eng")),
    ]
    made = _made(changes)
    answer = pat.get("/events")
    assert answer.status_code == 200, answer.text
    events = answer.json()["items"]
    assert [(e["actor"], e["correlation_id"]) for e in events] == made[::-1]  # newest first
    shape = [(e["operation"], e["kind"], e["name"]) for e in events[::-1]]
    assert shape == [
        ("teams_create", "team", "eng"),
        ("users_create", "user", "ada@example.com"),
        ("users_update", "user", "ada@example.com"),
        ("teams_delete", "team", "eng"),
    ]
    created_team, invited, deactivated, deleted_team = events[::-1]
    assert created_team["before"] is None
    assert created_team["after"] == changes[0][1].json()
    assert invited["before"] is None
    assert invited["after"] == changes[1][1].json()
    assert deactivated["before"] == invited["after"]
    assert deactivated["after"] == changes[2][1].json()
    assert deactivated["after"]["active"] is False
    assert deleted_team["before"]["members"] == ["ada@example.com"]
    assert deleted_team["after"] is None
    assert events[0]["id"] > events[-1]["id"]
    assert events[0]["created_at"] >= events[-1]["created_at"]


def test_a_refused_or_failed_change_leaves_no_event(admin: Api, people: People) -> None:
    ada = people.user("ada@example.com", "Member")
    assert ada.post("/teams", json={"name": "mine"}).status_code == 403
    assert admin.post("/users", json={"email": "bob@example.com", "teams": ["nowhere"]}).status_code == 404
    assert admin.patch("/users/admin@example.com", json={"active": False}).status_code == 409
    assert admin.get("/events").json()["items"] == []


def test_events_filter_by_actor_kind_name_operation_correlation_id_and_time(
    admin: Api, people: People
) -> None:
    people.role("People", [Capability.MANAGE_PEOPLE])
    pat = people.user("pat@example.com", "People")
    admin.post("/teams", json={"name": "eng"})
    invited = pat.post("/users", json={"email": "ada@example.com"})
    pat.post("/teams", json={"name": "ops"})
    admin.patch("/teams/ops", json={"name": "sre"})

    def names(**params: Any) -> list[str]:
        answer = admin.get("/events", params=params)
        assert answer.status_code == 200, answer.text
        return [e["name"] for e in answer.json()["items"]]

    assert names(actor="pat@example.com") == ["ops", "ada@example.com"]
    assert names(kind="user") == ["ada@example.com"]
    assert names(name="eng") == ["eng"]
    assert names(operation="teams_update") == ["sre"]
    assert names(correlation_id=invited.headers["x-correlation-id"]) == ["ada@example.com"]
    assert names(actor="pat@example.com", kind="team") == ["ops"]
    at = admin.get("/events", params={"name": "ops"}).json()["items"][0]["created_at"]
    assert names(since=at) == ["sre", "ops"]
    assert names(actor="nobody@example.com") == []


def test_events_page_newest_first_and_a_foreign_cursor_is_a_400(admin: Api) -> None:
    for team in ("a", "b", "c"):
        admin.post("/teams", json={"name": team})
    first = admin.get("/events", params={"limit": 2}).json()
    assert [e["name"] for e in first["items"]] == ["c", "b"]
    admin.post("/teams", json={"name": "d"})  # appended meanwhile: the next page does not shift
    rest = admin.get("/events", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [e["name"] for e in rest["items"]] == ["a"]
    assert rest["next_cursor"] is None
    foreign = admin.get("/events", params={"cursor": "not-ours"})
    assert foreign.status_code == 400


def test_reading_events_needs_view_and_export_logs(admin: Api, people: People) -> None:
    ada = people.user("ada@example.com", "Member")
    refused = ada.get("/events")
    assert refused.status_code == 403
    assert refused.json()["error"]["capability"] == "viewAndExportLogs"


def test_a_reader_without_view_all_logs_reads_only_the_events_about_gateways_they_may_use(
    admin: Api, people: People
) -> None:
    for gateway in ("g", "finance"):
        admin.post("/gateways", json={"name": gateway}).raise_for_status()
    admin.post("/hosts", json={"name": "agent"}).raise_for_status()
    minted = {
        g: admin.post("/tokens", json={"host": "agent", "gateway": g}).json()["id"] for g in ("g", "finance")
    }
    admin.post(f"/tokens/{minted['finance']}/revoke").raise_for_status()
    admin.post("/teams", json={"name": "ops"}).raise_for_status()
    people.role("Auditor", [Capability.VIEW_AND_EXPORT_LOGS])
    kim = people.user("kim@example.com", "Auditor", ["eng"], ["g"])
    people.role("Every gateway", [Capability.VIEW_AND_EXPORT_LOGS, Capability.VIEW_AND_USE_ALL_GATEWAYS])
    lee = people.user("lee@example.com", "Every gateway")

    def seen(api: Api, **params: str) -> list[tuple[str, str]]:
        answer = api.get("/events", params=params)
        assert answer.status_code == 200, answer.text
        return [(e["kind"], e["name"]) for e in answer.json()["items"][::-1]]

    assert seen(kim) == [("gateway", "g"), ("api_token", minted["g"])]
    assert seen(kim, name="finance") == []
    assert seen(kim, name=minted["finance"]) == []
    assert seen(lee) == [
        ("gateway", "g"),
        ("gateway", "finance"),
        ("api_token", minted["g"]),
        ("api_token", minted["finance"]),
        ("api_token", minted["finance"]),
    ]
    assert seen(admin)[-1] == ("team", "ops")  # Super admin holds "View all logs"
    assert ("host", "agent") in seen(admin)
