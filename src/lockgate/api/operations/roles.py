"""Roles: named sets of capabilities. List, get, create, edit, delete.

Super admin is locked: it always holds every capability and nothing about it changes. Administrator
and Member keep their names but their capabilities are editable. No one shapes a role to hold a
capability their own role lacks, so managing people never escalates anyone's privileges.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from pydantic import BaseModel, Field

from lockgate.api.errors import Conflict, Forbidden
from lockgate.api.operation import Context, Input, Operation, Versioned
from lockgate.api.operations.common import ListInput, Name, Page
from lockgate.domain.capabilities import BuiltinRole, Capability
from lockgate.policy.access_control import EVERYONE, resolve_refusal
from lockgate.store import roles as store
from lockgate.store.people import role_capabilities
from lockgate.store.records import delete_row, fetch_named, insert_row, update_row
from lockgate.store.schema import roles

RoleName = Annotated[str, Field(min_length=1, max_length=128, description="A role's name, e.g. 'Member'.")]


class Role(BaseModel):
    name: str
    builtin: bool = Field(
        description="One of Super admin, Administrator, Member: it cannot be renamed or deleted."
    )
    locked: bool = Field(description="Super admin: holds every capability; nothing about it changes.")
    capabilities: list[Capability] = Field(description="What the role holds, as sorted keys.")
    version: int = Field(description="Bumped by every change; send it back as If-Match.")


class RoleList(ListInput):
    name_contains: str | None = Field(None, max_length=128)


class RoleRef(Input):
    role: RoleName


class RoleCreate(Input):
    name: Name
    capabilities: list[Capability] = Field(default_factory=list, description="Capability keys.")


class RoleUpdate(Versioned):
    role: RoleName
    name: Name | None = Field(None, description="A new name (custom roles only).")
    capabilities: list[Capability] | None = Field(None, description="Every capability the role will hold.")


class RoleChange(Versioned):
    role: RoleName


def require_grantable(ctx: Context, capabilities: Iterable[Capability], what: str) -> None:
    """No privilege escalation: the actor may hand out (in a role they shape or give) only the
    capabilities their own role holds.

    Raises:
        Forbidden: naming the first capability of ``capabilities`` the actor lacks.
    """
    for capability in sorted(capabilities):
        refusal = resolve_refusal(ctx.actor, capability)
        if refusal is not None:
            raise Forbidden(f"{what}: {refusal.message}", capability=capability.value)


def list_roles(ctx: Context, args: RoleList) -> Page[Role]:
    with ctx.transaction() as conn:
        items, cursor = store.list_roles(
            conn, name_contains=args.name_contains, cursor=args.cursor, limit=args.limit
        )
    return Page[Role](items=[Role.model_validate(i) for i in items], next_cursor=cursor)


def get_role(ctx: Context, args: RoleRef) -> Role:
    with ctx.transaction() as conn:
        return Role.model_validate(store.describe_role(fetch_named(conn, roles, args.role, "role")))


def create_role(ctx: Context, args: RoleCreate) -> Role:
    """Create a custom role.

    Raises:
        Forbidden: it would hold a capability the actor's role lacks.
        Conflict: the name is taken.
    """
    require_grantable(ctx, args.capabilities, f"Creating role {args.name!r}")
    with ctx.transaction() as conn:
        values = {"name": args.name, "builtin": False, "capabilities": sorted(set(args.capabilities))}
        after = store.describe_role(insert_row(conn, roles, "role", values))
        ctx.record(conn, "role", args.name, None, after)
    return Role.model_validate(after)


def update_role(ctx: Context, args: RoleUpdate) -> Role:
    """Rename a custom role and/or set what any role but Super admin holds. Its holders have the
    new capabilities from their next request on.

    Raises:
        Conflict: the role is Super admin, or a built-in role is renamed, or the name is taken.
        Forbidden: the role would hold a capability the actor's role lacks.
    """
    with ctx.transaction() as conn:
        row = fetch_named(conn, roles, args.role, "role")
        _refuse_super_admin(row.name)
        if row.builtin and args.name not in (None, row.name):
            raise Conflict(f"built-in role {row.name!r} cannot be renamed")
        held = role_capabilities(row.name, row.capabilities)
        capabilities = set(args.capabilities) if args.capabilities is not None else held
        require_grantable(ctx, capabilities, f"Changing role {row.name!r}")
        values: dict[str, object] = {}
        if args.capabilities is not None:
            values["capabilities"] = sorted(capabilities)
        if args.name is not None:
            values["name"] = args.name
        before = store.describe_role(row)
        row = update_row(conn, roles, row, "role", values, args.if_match)
        after = store.describe_role(row)
        ctx.record(conn, "role", row.name, before, after)
    return Role.model_validate(after)


def delete_role(ctx: Context, args: RoleChange) -> None:
    """Delete a custom role that no user holds.

    Raises:
        Conflict: the role is built in, or users (active or not) still hold it.
    """
    with ctx.transaction() as conn:
        row = fetch_named(conn, roles, args.role, "role")
        _refuse_super_admin(row.name)
        if row.builtin:
            raise Conflict(f"built-in role {row.name!r} cannot be deleted")
        holders = store.count_holders(conn, row.id)
        if holders:
            raise Conflict(f"role {row.name!r} is held by {holders} user(s); give them another role first")
        before = store.describe_role(row)
        delete_row(conn, roles, row, "role", args.if_match)
        ctx.record(conn, "role", row.name, before, None)


def _refuse_super_admin(name: str) -> None:
    if name == BuiltinRole.SUPER_ADMIN:
        raise Conflict("Super admin always holds every capability; it cannot be changed or deleted")


_R = "/roles/{role}"
_COLUMNS = ("name", "builtin", "capabilities", "version")
OPERATIONS = [
    Operation("roles", "list", "GET", "/roles", "List roles", EVERYONE, list_roles, RoleList, Page[Role],
              columns=_COLUMNS),
    Operation("roles", "get", "GET", _R, "Get a role", EVERYONE, get_role, RoleRef, Role),
    Operation("roles", "create", "POST", "/roles", "Create a custom role", Capability.MANAGE_PEOPLE,
              create_role, RoleCreate, Role, status=201),
    Operation("roles", "update", "PATCH", _R, "Rename a role or set its capabilities",
              Capability.MANAGE_PEOPLE, update_role, RoleUpdate, Role),
    Operation("roles", "delete", "DELETE", _R, "Delete a custom role", Capability.MANAGE_PEOPLE, delete_role,
              RoleChange, None, status=204),
]  # fmt: skip
