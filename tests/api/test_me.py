"""The caller themself: who they are, what their role holds, their teams and their gateways."""

from __future__ import annotations

from lockgate.domain.capabilities import BUILTIN_GRANTS, BuiltinRole
from tests.conftest import Api, People


def test_a_member_sees_their_role_teams_and_only_the_gateways_their_teams_are_granted(
    admin: Api, people: People
) -> None:
    for name in ("engineering", "finance"):
        admin.post("/gateways", json={"name": name})
    ada = people.user("ada@example.com", "Member", ["eng"], ["engineering"])
    answer = ada.get("/me")
    assert answer.status_code == 200
    assert answer.json() == {
        "email": "ada@example.com",
        "role": "Member",
        "capabilities": [],
        "teams": ["eng"],
        "gateways": ["engineering"],
    }


def test_an_administrator_may_use_every_live_gateway_but_not_an_archived_one(
    admin: Api, people: People
) -> None:
    for name in ("engineering", "finance", "old"):
        admin.post("/gateways", json={"name": name})
    admin.post("/gateways/old/archive")
    bob = people.user("bob@example.com", "Administrator")
    me = bob.get("/me").json()
    assert me["gateways"] == ["engineering", "finance"]
    assert me["teams"] == []
    assert me["capabilities"] == sorted(c.value for c in BUILTIN_GRANTS[BuiltinRole.ADMINISTRATOR])
