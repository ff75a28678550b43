"""Users: invite, list, get, set their role, deactivate and reactivate.

Security rules, each held by a test in ``tests/api/test_users.py``:

- No privilege escalation: an actor may give (at invitation or later) only a role whose
  capabilities their own role holds; otherwise 403 naming a capability they lack. Only a Super
  admin makes Super admins.
- No one changes a user who holds more than they do: changing a user's role or deactivating them
  needs every capability that user's current role holds (403 naming one the actor lacks).
- The workspace always keeps an active Super admin: demoting or deactivating the last one is a 409.
- A deactivated user's personal access tokens are refused (401) from their very next request:
  every request reads the user's ``active`` flag afresh (``store.people.load_actor``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Row, select

from lockgate.api.errors import Conflict
from lockgate.api.operation import Context, Input, Operation, Versioned
from lockgate.api.operations.common import ListInput, Name, Page
from lockgate.api.operations.roles import RoleName, require_grantable
from lockgate.domain.capabilities import BuiltinRole, Capability
from lockgate.store import people as store
from lockgate.store.people import role_capabilities
from lockgate.store.records import fetch_named, insert_row, update_row
from lockgate.store.schema import roles, teams, users
from lockgate.store.teams import add_member

Email = Annotated[
    str, Field(pattern=r"^[^@\s/]+@[^@\s/]+$", max_length=320, description="A user's email address.")
]


class User(BaseModel):
    email: str
    role: str
    active: bool = Field(description="False: deactivated; their personal access tokens are refused.")
    teams: list[str]
    version: int = Field(description="Bumped by every change; send it back as If-Match.")
    created_at: float


class UserList(ListInput):
    email_contains: str | None = Field(None, max_length=320)
    role: RoleName | None = None
    active: bool | None = None


class UserRef(Input):
    email: Email


class UserInvite(Input):
    email: Email
    role: RoleName = Field(BuiltinRole.MEMBER.value, description="The role the user holds.")
    teams: list[Name] = Field(
        default_factory=list, description="Teams the user joins; may be empty (they then use no gateway)."
    )


class UserUpdate(Versioned):
    email: Email
    role: RoleName | None = Field(None, description="A new role; only one within the actor's own.")
    active: bool | None = Field(None, description="False deactivates the user, true reactivates them.")


def list_users(ctx: Context, args: UserList) -> Page[User]:
    with ctx.transaction() as conn:
        items, cursor = store.list_users(
            conn,
            email_contains=args.email_contains,
            role=args.role,
            active=args.active,
            cursor=args.cursor,
            limit=args.limit,
        )
    return Page[User](items=[User.model_validate(i) for i in items], next_cursor=cursor)


def get_user(ctx: Context, args: UserRef) -> User:
    with ctx.transaction() as conn:
        return User.model_validate(store.describe_user(conn, store.fetch_user(conn, args.email)))


def invite_user(ctx: Context, args: UserInvite) -> User:
    """Add a user with a role (Member unless given) and their teams.

    ``teams`` may be empty: a user holds any number of teams and may lose them all later anyway.
    Without a team the user uses no gateway unless their role may use them all: an empty list
    grants nothing.

    Raises:
        Forbidden: the role holds a capability the actor's role lacks.
        NotFound: no such role or team. Conflict: a user with that email exists.
    """
    with ctx.transaction() as conn:
        role = _grantable_role(ctx, conn, args.role)
        row = insert_row(conn, users, "user", {"email": args.email, "role_id": role.id, "active": True})
        for team in sorted(set(args.teams)):
            add_member(conn, fetch_named(conn, teams, team, "team"), row)
        after = store.describe_user(conn, row)
        ctx.record(conn, "user", row.email, None, after)
    return User.model_validate(after)


def update_user(ctx: Context, args: UserUpdate) -> User:
    """Set a user's role, deactivate or reactivate them. A deactivated user's personal access
    tokens are refused from their next request on; reactivating them makes the tokens work again.

    Raises:
        Forbidden: the new or the current role holds a capability the actor's role lacks.
        Conflict: the user is the last active Super admin and would stop being one.
        NotFound: no such user or role. PreconditionFailed: If-Match is stale.
    """
    with ctx.transaction() as conn:
        row = store.fetch_user(conn, args.email)
        before = store.describe_user(conn, row)
        values: dict[str, Any] = {}
        current = conn.execute(select(roles).where(roles.c.id == row.role_id)).one()
        held = role_capabilities(current.name, current.capabilities)
        require_grantable(ctx, held, f"Changing {row.email!r}, who holds role {current.name!r}")
        if args.role is not None:
            values["role_id"] = _grantable_role(ctx, conn, args.role).id
        if args.active is not None:
            values["active"] = args.active
        keep_a_super_admin(conn, row, values)
        row = update_row(conn, users, row, "user", values, args.if_match)
        after = store.describe_user(conn, row)
        ctx.record(conn, "user", row.email, before, after)
    return User.model_validate(after)


def _grantable_role(ctx: Context, conn: Connection, name: str) -> Row[Any]:
    role = fetch_named(conn, roles, name, "role")
    require_grantable(ctx, role_capabilities(role.name, role.capabilities), f"Giving role {role.name!r}")
    return role


def keep_a_super_admin(conn: Connection, row: Row[Any], values: dict[str, Any]) -> None:
    """Raises Conflict when ``values`` would leave the workspace without an active Super admin."""
    if store.lock_active_super_admins(conn) != [row.id]:
        return
    still = values.get("role_id", row.role_id) == store.role_id(conn, BuiltinRole.SUPER_ADMIN)
    if not (still and values.get("active", row.active)):
        raise Conflict(f"{row.email!r} is the last active Super admin; make someone else Super admin first")


_U = "/users/{email}"
_COLUMNS = ("email", "role", "active", "teams", "version")
OPERATIONS = [
    Operation("users", "list", "GET", "/users", "List users", Capability.MANAGE_PEOPLE, list_users, UserList,
              Page[User], columns=_COLUMNS),
    Operation("users", "get", "GET", _U, "Get a user", Capability.MANAGE_PEOPLE, get_user, UserRef, User),
    Operation("users", "create", "POST", "/users", "Invite a user", Capability.MANAGE_PEOPLE, invite_user,
              UserInvite, User, status=201),
    Operation("users", "update", "PATCH", _U, "Set a user's role, deactivate or reactivate them",
              Capability.MANAGE_PEOPLE, update_user, UserUpdate, User),
]  # fmt: skip
