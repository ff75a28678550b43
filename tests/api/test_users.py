"""Users through the JSON API: invitation, listing, role changes, deactivation, and the three
security rules (no privilege escalation, an active Super admin always remains, deactivation is
immediate)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from lockgate.domain.capabilities import BUILTIN_GRANTS, BuiltinRole, Capability
from tests.conftest import DEADLINE, Api, People


def test_inviting_a_user_answers_201_with_the_member_role_by_default_and_their_teams(admin: Api) -> None:
    for team in ("eng", "ops"):
        admin.post("/teams", json={"name": team})
    invited = admin.post("/users", json={"email": "ada@example.com", "teams": ["ops", "eng"]})
    assert invited.status_code == 201, invited.text
    assert invited.headers["etag"] == '"1"'
    body = invited.json()
    assert {k: body[k] for k in ("email", "role", "active", "teams", "version")} == {
        "email": "ada@example.com",
        "role": "Member",
        "active": True,
        "teams": ["eng", "ops"],
        "version": 1,
    }
    assert admin.get("/users/ada@example.com").json() == body


def test_a_user_may_be_invited_without_a_team_and_then_uses_no_gateway(admin: Api, people: People) -> None:
    admin.post("/gateways", json={"name": "engineering"})
    invited = admin.post("/users", json={"email": "ada@example.com", "role": "Member"})
    assert invited.status_code == 201
    assert invited.json()["teams"] == []
    ada = people.user("ada@example.com", "Member")
    assert ada.get("/me").json()["gateways"] == []


def test_inviting_a_known_email_is_a_409_and_an_unknown_team_or_role_a_404_that_creates_nobody(
    admin: Api,
) -> None:
    admin.post("/users", json={"email": "ada@example.com"})
    taken = admin.post("/users", json={"email": "ada@example.com"})
    assert taken.status_code == 409
    no_team = admin.post("/users", json={"email": "bob@example.com", "teams": ["nowhere"]})
    assert no_team.status_code == 404
    assert "nowhere" in no_team.json()["error"]["message"]
    no_role = admin.post("/users", json={"email": "bob@example.com", "role": "Wizard"})
    assert no_role.status_code == 404
    assert admin.get("/users/bob@example.com").status_code == 404


def test_a_malformed_email_or_an_unknown_field_is_a_400_naming_the_field(admin: Api) -> None:
    bad = admin.post("/users", json={"email": "not-an-email"})
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "email"
    typo = admin.post("/users", json={"email": "ada@example.com", "rol": "Member"})
    assert typo.json()["error"]["field"] == "rol"


def test_the_list_filters_by_email_role_and_active_and_pages(admin: Api, people: People) -> None:
    for name in ("ada", "bob", "cy"):
        admin.post("/users", json={"email": f"{name}@example.com"})
    admin.patch("/users/bob@example.com", json={"role": "Administrator"})
    admin.patch("/users/cy@example.com", json={"active": False})

    def emails(**params: object) -> list[str]:
        answer = admin.get("/users", params=params)
        assert answer.status_code == 200, answer.text
        return [u["email"] for u in answer.json()["items"]]

    assert emails() == ["ada@example.com", "admin@example.com", "bob@example.com", "cy@example.com"]
    assert emails(email_contains="ad") == ["ada@example.com", "admin@example.com"]
    assert emails(role="Administrator") == ["bob@example.com"]
    assert emails(active="false") == ["cy@example.com"]
    first = admin.get("/users", params={"limit": 3}).json()
    rest = admin.get("/users", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [u["email"] for u in rest["items"]] == ["cy@example.com"]
    assert rest["next_cursor"] is None


def test_a_member_cannot_list_invite_or_change_users_and_the_403_names_manage_people(
    admin: Api, people: People
) -> None:
    ada = people.user("ada@example.com", "Member")
    for answer in (
        ada.get("/users"),
        ada.get("/users/ada@example.com"),
        ada.post("/users", json={"email": "bob@example.com"}),
        ada.patch("/users/ada@example.com", json={"role": "Super admin"}),
    ):
        assert answer.status_code == 403
        assert answer.json()["error"]["capability"] == "managePeople"


def test_a_people_manager_cannot_give_a_role_holding_a_capability_they_lack(
    admin: Api, people: People
) -> None:
    people.role("People", [Capability.MANAGE_PEOPLE])
    pat = people.user("pat@example.com", "People")
    admin.post("/users", json={"email": "ada@example.com"})

    invited = pat.post("/users", json={"email": "bob@example.com", "role": "Administrator"})
    assert invited.status_code == 403
    lacking = invited.json()["error"]["capability"]
    assert Capability(lacking) in BUILTIN_GRANTS[BuiltinRole.ADMINISTRATOR]
    assert Capability(lacking).label in invited.json()["error"]["message"]
    assert admin.get("/users/bob@example.com").status_code == 404

    promoted = pat.patch("/users/ada@example.com", json={"role": "Super admin"})
    assert promoted.status_code == 403
    assert pat.patch("/users/pat@example.com", json={"role": "Super admin"}).status_code == 403
    assert admin.get("/users/ada@example.com").json()["role"] == "Member"

    within = pat.patch("/users/ada@example.com", json={"role": "People"})
    assert within.status_code == 200
    assert within.json()["role"] == "People"


def test_a_people_manager_cannot_demote_or_deactivate_someone_holding_more_than_they_do(
    admin: Api, people: People
) -> None:
    people.role("People", [Capability.MANAGE_PEOPLE])
    pat = people.user("pat@example.com", "People")
    people.user("root@example.com", "Super admin")
    for change in ({"role": "Member"}, {"active": False}):
        refused = pat.patch("/users/root@example.com", json=change)
        assert refused.status_code == 403
        assert Capability(refused.json()["error"]["capability"]) != Capability.MANAGE_PEOPLE
    stored = admin.get("/users/root@example.com").json()
    assert (stored["role"], stored["active"]) == ("Super admin", True)


def test_the_last_active_super_admin_cannot_be_demoted_or_deactivated(admin: Api, people: People) -> None:
    for change in ({"role": "Administrator"}, {"active": False}):
        refused = admin.patch("/users/admin@example.com", json=change)
        assert refused.status_code == 409, refused.text
        assert "last active Super admin" in refused.json()["error"]["message"]
    people.user("eve@example.com", "Super admin")
    admin.patch("/users/eve@example.com", json={"active": False})  # an inactive one does not count
    assert admin.patch("/users/admin@example.com", json={"active": False}).status_code == 409

    admin.patch("/users/eve@example.com", json={"active": True})
    demoted = admin.patch("/users/admin@example.com", json={"role": "Member"})
    assert demoted.status_code == 200
    assert demoted.json()["role"] == "Member"


def test_two_super_admins_demoting_each_other_at_once_leave_exactly_one(admin: Api, people: People) -> None:
    eve = people.user("eve@example.com", "Super admin")
    barrier = threading.Barrier(2)

    def demote(api: Api, email: str) -> httpx.Response:
        barrier.wait(DEADLINE)
        return api.patch(f"/users/{email}", json={"role": "Member"})

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(demote, [admin, eve], ["eve@example.com", "admin@example.com"]))
    # the loser is refused as the last Super admin (409), or already a Member (403)
    assert sorted(a.status_code for a in answers) in ([200, 403], [200, 409])
    winner = admin if answers[0].status_code == 200 else eve
    left = winner.get("/users", params={"role": "Super admin", "active": "true"}).json()["items"]
    assert [u["email"] for u in left] == ["admin@example.com" if winner is admin else "eve@example.com"]


def test_a_deactivated_users_tokens_are_refused_on_their_next_request_and_work_again_once_reactivated(
    admin: Api, people: People
) -> None:
    ada = people.user("ada@example.com", "Member")
    assert ada.get("/me").status_code == 200
    deactivated = admin.patch("/users/ada@example.com", json={"active": False})
    assert deactivated.json()["active"] is False
    refused = ada.get("/me")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthenticated"
    admin.patch("/users/ada@example.com", json={"active": True})
    assert ada.get("/me").status_code == 200


def test_an_update_from_a_stale_version_gets_412_and_changes_nothing(admin: Api) -> None:
    admin.post("/users", json={"email": "ada@example.com"})
    first = admin.patch("/users/ada@example.com", json={"role": "Administrator"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200
    assert first.headers["etag"] == '"2"'
    stale = admin.patch("/users/ada@example.com", json={"active": False}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert admin.get("/users/ada@example.com").json()["active"] is True


def test_an_unknown_user_is_a_404(admin: Api) -> None:
    assert admin.get("/users/nobody@example.com").status_code == 404
    assert admin.patch("/users/nobody@example.com", json={"active": False}).status_code == 404
