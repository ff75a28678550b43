"""Connections through the JSON API: listed by gateway scope, and their break-glass toggle.

Connections have no name and no version, so there is no 409 on a taken name nor 412 here.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lockgate.domain.capabilities import Capability
from lockgate.domain.tokens import hash_token
from lockgate.store.access import load_access
from lockgate.store.schema import admin_events
from tests.conftest import TEST_VAULT, Api, People, RunningGateway


@pytest.fixture
def tokens(lockgate: RunningGateway) -> dict[str, str]:
    """Three connections: claude on engineering (as the agent and as ada), cursor on finance."""
    lockgate.declare(
        {
            "gateways": [{"name": "engineering"}, {"name": "finance"}],
            "hosts": [{"name": "claude"}, {"name": "cursor"}],
        }
    )
    return {
        "agent": lockgate.token("claude", "engineering"),
        "ada": lockgate.token("claude", "engineering", "ada@example.com"),
        "finance": lockgate.token("cursor", "finance"),
    }


def test_the_list_names_each_connections_host_gateway_and_user(admin: Api, tokens: dict[str, str]) -> None:
    listed = admin.get("/connections").json()["items"]
    assert [(c["id"], c["host"], c["gateway"], c["user"], c["enabled"]) for c in listed] == [
        (1, "claude", "engineering", "claude@agents.lockgate.invalid", True),
        (2, "claude", "engineering", "ada@example.com", True),
        (3, "cursor", "finance", "cursor@agents.lockgate.invalid", True),
    ]
    assert admin.get("/connections/2").json() == listed[1]


def test_the_list_filters_by_host_gateway_and_user_and_pages(admin: Api, tokens: dict[str, str]) -> None:
    def ids(**params: str | int) -> list[int]:
        return [c["id"] for c in admin.get("/connections", params=params).json()["items"]]

    assert ids(host="cursor") == [3]
    assert ids(gateway="engineering") == [1, 2]
    assert ids(user="ada@example.com") == [2]
    assert ids(host="claude", user="nobody@example.com") == []
    first = admin.get("/connections", params={"limit": 2}).json()
    assert ids(limit=2, cursor=first["next_cursor"]) == [3]


def test_an_unknown_connection_is_a_404_and_a_malformed_id_a_400(admin: Api, tokens: dict[str, str]) -> None:
    assert admin.get("/connections/99").status_code == 404
    assert admin.post("/connections/99/disable").status_code == 404
    malformed = admin.get("/connections/abc")
    assert (malformed.status_code, malformed.json()["error"]["field"]) == (400, "connection")


def test_a_disabled_connection_is_refused_and_the_change_is_an_admin_event(
    admin: Api, lockgate: RunningGateway, tokens: dict[str, str]
) -> None:
    disabled = admin.post("/connections/2/disable")
    assert disabled.status_code == 200
    assert disabled.json()["enabled"] is False

    def connection_enabled(token: str) -> bool:
        access = load_access(lockgate.engine, TEST_VAULT, hash_token(lockgate.settings.key_bytes(), token))
        assert access is not None
        return access.connection_enabled

    assert not connection_enabled(tokens["ada"])
    assert connection_enabled(tokens["agent"])
    assert admin.post("/connections/2/enable").json()["enabled"] is True
    assert connection_enabled(tokens["ada"])
    with lockgate.engine.connect() as conn:
        events = list(conn.execute(select(admin_events).where(admin_events.c.kind == "connection")))
    assert [(e.operation, e.name, e.before["enabled"], e.after["enabled"]) for e in events] == [
        ("connections_disable", "2", True, False),
        ("connections_enable", "2", False, True),
    ]


def test_a_member_sees_only_connections_to_the_gateways_their_teams_are_granted(
    admin: Api, people: People, tokens: dict[str, str]
) -> None:
    ada = people.user("ada@example.com", "Member", ["eng"], ["engineering"])
    assert [c["id"] for c in ada.get("/connections").json()["items"]] == [1, 2]
    assert ada.get("/connections/1").status_code == 200
    refused = ada.get("/connections/3")
    assert (refused.status_code, refused.json()["error"]["message"]) == (404, "no connection 3")
    assert ada.get("/connections/99").json()["error"]["message"] == "no connection 99"


def test_a_member_cannot_disable_a_connection_and_the_403_names_the_capability(
    admin: Api, people: People, tokens: dict[str, str]
) -> None:
    ada = people.user("ada@example.com", "Member", ["eng"], ["engineering"])
    refused = ada.post("/connections/2/disable")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Capability 'Disable and enable connections' is required."


def test_the_toggle_stays_within_the_gateways_ones_teams_are_granted(
    admin: Api, people: People, tokens: dict[str, str]
) -> None:
    people.role("Connection keeper", [Capability.DISABLE_AND_ENABLE_CONNECTIONS])
    kim = people.user("kim@example.com", "Connection keeper", ["eng"], ["engineering"])
    assert kim.post("/connections/1/disable").status_code == 200
    refused = kim.post("/connections/3/disable")
    assert (refused.status_code, refused.json()["error"]["message"]) == (404, "no connection 3")
    assert admin.get("/connections/3").json()["enabled"] is True
