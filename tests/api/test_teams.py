"""Teams through the JSON API: membership scoping, members and the gateways they bring, versions."""

from __future__ import annotations

from tests.conftest import Api, People


def test_creating_a_team_answers_201_and_it_shows_its_members_and_granted_gateways(admin: Api) -> None:
    created = admin.post("/teams", json={"name": "eng"})
    assert created.status_code == 201, created.text
    assert created.headers["etag"] == '"1"'
    admin.post("/users", json={"email": "ada@example.com", "teams": ["eng"]})
    admin.post("/gateways", json={"name": "engineering"})
    admin.post("/gateways/engineering/teams", json={"team": "eng"})
    team = admin.get("/teams/eng").json()
    assert {k: team[k] for k in ("name", "members", "gateways")} == {
        "name": "eng",
        "members": ["ada@example.com"],
        "gateways": ["engineering"],
    }
    assert admin.post("/teams", json={"name": "eng"}).status_code == 409
    assert admin.post("/teams", json={"name": "no spaces"}).json()["error"]["field"] == "name"


def test_a_member_lists_only_their_own_teams_and_a_people_manager_every_team(
    admin: Api, people: People
) -> None:
    for team in ("eng", "ops", "sales"):
        admin.post("/teams", json={"name": team})
    ada = people.user("ada@example.com", "Member", ["eng", "ops"])
    assert [t["name"] for t in ada.get("/teams").json()["items"]] == ["eng", "ops"]
    assert [t["name"] for t in admin.get("/teams").json()["items"]] == ["eng", "ops", "sales"]
    assert [t["name"] for t in admin.get("/teams", params={"name_contains": "s"}).json()["items"]] == [
        "ops",
        "sales",
    ]
    first = admin.get("/teams", params={"limit": 2}).json()
    rest = admin.get("/teams", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [t["name"] for t in rest["items"]] == ["sales"]
    assert rest["next_cursor"] is None


def test_a_team_one_is_not_in_answers_the_same_404_as_a_nonexistent_one(admin: Api, people: People) -> None:
    admin.post("/teams", json={"name": "sales"})
    ada = people.user("ada@example.com", "Member", ["eng"])
    assert ada.get("/teams/eng").json()["members"] == ["ada@example.com"]
    for name in ("sales", "nowhere"):
        refused = ada.get(f"/teams/{name}")
        assert (refused.status_code, refused.json()["error"]) == (
            404,
            refused.json()["error"] | {"code": "not_found", "message": f"no team named {name!r}"},
        )
        assert "capability" not in refused.json()["error"]


def test_adding_a_member_gives_them_the_teams_gateways_on_their_next_request_and_removing_takes_them(
    admin: Api, people: People
) -> None:
    admin.post("/gateways", json={"name": "engineering"})
    admin.post("/teams", json={"name": "eng"})
    admin.post("/gateways/engineering/teams", json={"team": "eng"})
    ada = people.user("ada@example.com", "Member")
    assert ada.get("/gateways/engineering").status_code == 404

    added = admin.post("/teams/eng/members", json={"email": "ada@example.com"}, headers={"If-Match": '"1"'})
    assert added.status_code == 201, added.text
    assert added.json()["members"] == ["ada@example.com"]
    assert added.json()["version"] == 2
    assert ada.get("/gateways/engineering").status_code == 200

    removed = admin.delete("/teams/eng/members/ada@example.com")
    assert removed.status_code == 200
    assert removed.json()["members"] == []
    assert ada.get("/gateways/engineering").status_code == 404


def test_adding_a_member_twice_is_a_409_and_removing_a_non_member_or_unknown_user_a_404(
    admin: Api, people: People
) -> None:
    admin.post("/teams", json={"name": "eng"})
    people.user("ada@example.com", "Member", ["eng"])
    people.user("bob@example.com", "Member")
    again = admin.post("/teams/eng/members", json={"email": "ada@example.com"})
    assert again.status_code == 409
    assert admin.delete("/teams/eng/members/bob@example.com").status_code == 404
    assert admin.delete("/teams/eng/members/nobody@example.com").status_code == 404
    assert admin.get("/teams/eng").json()["version"] == 1


def test_renaming_keeps_members_a_stale_version_gets_412_and_deleting_takes_the_gateways_away(
    admin: Api, people: People
) -> None:
    admin.post("/gateways", json={"name": "engineering"})
    ada = people.user("ada@example.com", "Member", ["eng"], ["engineering"])
    renamed = admin.patch("/teams/eng", json={"name": "platform"}, headers={"If-Match": '"1"'})
    assert renamed.status_code == 200
    assert renamed.json()["members"] == ["ada@example.com"]
    assert admin.patch("/teams/platform", json={"name": "x"}, headers={"If-Match": '"1"'}).status_code == 412
    assert ada.get("/me").json()["teams"] == ["platform"]
    assert admin.delete("/teams/platform").status_code == 204
    assert admin.get("/teams/platform").status_code == 404
    assert ada.get("/me").json()["gateways"] == []


def test_a_member_cannot_create_rename_delete_or_staff_a_team_and_the_403_names_manage_people(
    admin: Api, people: People
) -> None:
    ada = people.user("ada@example.com", "Member", ["eng"])
    for answer in (
        ada.post("/teams", json={"name": "mine"}),
        ada.patch("/teams/eng", json={"name": "mine"}),
        ada.delete("/teams/eng"),
        ada.post("/teams/eng/members", json={"email": "ada@example.com"}),
        ada.delete("/teams/eng/members/ada@example.com"),
    ):
        assert answer.status_code == 403
        assert answer.json()["error"]["capability"] == "managePeople"
