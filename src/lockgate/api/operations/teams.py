"""Teams: create, rename, delete, add and remove members.

A team's members may use the gateways it is granted (granting is ``gateways grant``). Everyone
sees the teams they belong to; "Manage people" sees every team.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from lockgate.api.errors import NotFound
from lockgate.api.operation import Context, Input, Operation, Versioned
from lockgate.api.operations.common import Act, ListInput, Name, Page, save_change
from lockgate.api.operations.users import Email
from lockgate.domain.capabilities import Capability
from lockgate.policy.access_control import EVERYONE
from lockgate.store import teams as store
from lockgate.store.people import fetch_user
from lockgate.store.records import fetch_named, insert_row
from lockgate.store.schema import teams


class Team(BaseModel):
    name: str
    members: list[str] = Field(description="Members' emails.")
    gateways: list[str] = Field(description="Gateways granted to the team: its members may use them.")
    version: int = Field(description="Bumped by every change; send it back as If-Match.")
    created_at: float


class TeamList(ListInput):
    name_contains: str | None = Field(None, max_length=128)


class TeamRef(Input):
    team: Name


class TeamCreate(Input):
    name: Name


class TeamUpdate(Versioned):
    team: Name
    name: Name | None = Field(None, description="A new name.")


class TeamChange(Versioned):
    team: Name


class Membership(Versioned):
    team: Name
    email: Email


def _manages_people(ctx: Context) -> bool:
    return Capability.MANAGE_PEOPLE in ctx.actor.capabilities


def list_teams(ctx: Context, args: TeamList) -> Page[Team]:
    """The teams the caller belongs to; every team with "Manage people"."""
    with ctx.transaction() as conn:
        items, cursor = store.list_teams(
            conn,
            member=None if _manages_people(ctx) else ctx.actor.user_id,
            name_contains=args.name_contains,
            cursor=args.cursor,
            limit=args.limit,
        )
    return Page[Team](items=[Team.model_validate(i) for i in items], next_cursor=cursor)


def get_team(ctx: Context, args: TeamRef) -> Team:
    """A team the caller belongs to, or any team with "Manage people".

    Raises:
        NotFound: no such team, or one the caller is not a member of: the same answer, so that
            team names cannot be probed.
    """
    with ctx.transaction() as conn:
        row = fetch_named(conn, teams, args.team, "team")
        if not (_manages_people(ctx) or store.is_member(conn, row.id, ctx.actor.user_id)):
            raise NotFound(f"no team named {row.name!r}")  # as for a team that does not exist
        return Team.model_validate(store.describe_team(conn, row))


def create_team(ctx: Context, args: TeamCreate) -> Team:
    with ctx.transaction() as conn:
        after = store.describe_team(conn, insert_row(conn, teams, "team", {"name": args.name}))
        ctx.record(conn, "team", args.name, None, after)
    return Team.model_validate(after)


def _change(
    ctx: Context, team: str, expected: int | None, values: dict[str, Any], act: Act | None = None
) -> Team:
    after = save_change(
        ctx,
        teams,
        "team",
        lambda conn: fetch_named(conn, teams, team, "team"),
        store.describe_team,
        values,
        expected,
        act,
    )
    return Team.model_validate(after)


def update_team(ctx: Context, args: TeamUpdate) -> Team:
    """Rename a team. Its members and granted gateways stay."""
    return _change(ctx, args.team, args.if_match, {"name": args.name} if args.name is not None else {})


def delete_team(ctx: Context, args: TeamChange) -> None:
    """Delete a team: its members lose the gateways it was granted (unless another team grants them)."""
    with ctx.transaction() as conn:
        row = fetch_named(conn, teams, args.team, "team")
        before = store.describe_team(conn, row)
        store.delete_team(conn, row, args.if_match)
        ctx.record(conn, "team", row.name, before, None)


def add_member(ctx: Context, args: Membership) -> Team:
    """Make a user a member: they may use the team's gateways from their next request on.

    Raises:
        NotFound: no such team or user. Conflict: already a member.
    """
    return _change(
        ctx,
        args.team,
        args.if_match,
        {},
        lambda conn, row: store.add_member(conn, row, fetch_user(conn, args.email)),
    )


def remove_member(ctx: Context, args: Membership) -> Team:
    """Take a user out of the team: they lose its gateways from their next request on.

    Raises:
        NotFound: no such team or user, or not a member.
    """
    return _change(
        ctx,
        args.team,
        args.if_match,
        {},
        lambda conn, row: store.remove_member(conn, row, fetch_user(conn, args.email)),
    )


_T = "/teams/{team}"
_COLUMNS = ("name", "members", "gateways", "version")
OPERATIONS = [
    Operation("teams", "list", "GET", "/teams", "List teams", EVERYONE, list_teams, TeamList, Page[Team],
              columns=_COLUMNS),
    Operation("teams", "get", "GET", _T, "Get a team", EVERYONE, get_team, TeamRef, Team),
    Operation("teams", "create", "POST", "/teams", "Create a team", Capability.MANAGE_PEOPLE, create_team,
              TeamCreate, Team, status=201),
    Operation("teams", "update", "PATCH", _T, "Rename a team", Capability.MANAGE_PEOPLE, update_team,
              TeamUpdate, Team),
    Operation("teams", "delete", "DELETE", _T, "Delete a team", Capability.MANAGE_PEOPLE, delete_team,
              TeamChange, None, status=204),
    Operation("teams", "add-member", "POST", _T + "/members", "Add a member to a team",
              Capability.MANAGE_PEOPLE, add_member, Membership, Team, status=201),
    Operation("teams", "remove-member", "DELETE", _T + "/members/{email}", "Remove a member from a team",
              Capability.MANAGE_PEOPLE, remove_member, Membership, Team),
]  # fmt: skip
