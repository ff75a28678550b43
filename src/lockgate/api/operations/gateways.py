"""Gateways: create, rename, delete; assign servers; grant teams; the break-glass toggle; archive."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from lockgate.api.offer import ask_server
from lockgate.api.operation import Context, Input, Operation, Versioned
from lockgate.api.operations.approvals import (
    Skipped,
    approvals_of,
    gateway_neighbours,
    record_decisions,
    screen_offer,
)
from lockgate.api.operations.common import (
    Act,
    AssignmentTarget,
    ListInput,
    Name,
    Page,
    fetch_visible_server,
    save_change,
)
from lockgate.api.operations.provisioning import KINDS, changed_modes, describe_provisioning
from lockgate.api.preview_identity import choose_preview_identity, open_preview_credential
from lockgate.domain.capabilities import Capability
from lockgate.domain.declaration import PREFIX, IdentityName
from lockgate.domain.features import FeatureKind
from lockgate.domain.model import Credential, IdentityScheme
from lockgate.domain.model import Server as LiveServer
from lockgate.domain.provisioning import ALL_PINS, CLOSED_MODES, Mode
from lockgate.policy.access_control import EVERYONE, resolve_visible_gateways
from lockgate.policy.screening import Neighbours
from lockgate.store import gateways as store
from lockgate.store.gateways import describe_gateway
from lockgate.store.records import delete_row, fetch_named, insert_row
from lockgate.store.schema import gateways, identities
from lockgate.store.servers import load_server
from lockgate.upstream.preview import Preview


class Assignment(BaseModel):
    """A server on a gateway under a name (unique on the gateway; by default the server's); its
    features are exposed as ``<prefix>__<name>`` when prefixed."""

    id: int
    name: str
    server: str
    prefix: str | None
    identity_scheme: IdentityScheme = Field(
        description="none: the server's own configuration only; shared: one identity for everyone; "
        "per_user: each user brings their own identity."
    )
    identity: str | None = Field(description="The shared scheme's identity (a global identity).")


class Gateway(BaseModel):
    name: str
    enabled: bool
    archived: bool
    servers: list[Assignment]
    teams: list[str] = Field(description="Teams whose members may use the gateway.")
    version: int = Field(description="Bumped by every change; send it back as If-Match.")
    created_at: float
    updated_at: float


_SCHEME = (
    "Whose credential goes upstream: none (the server's own configuration), shared (one identity "
    "for everyone), per_user (each user's own)."
)
_IDENTITY = "For the shared scheme: a global identity of the server."


class GatewayList(ListInput):
    name_contains: str | None = Field(None, max_length=128)
    enabled: bool | None = None
    archived: bool = Field(False, description="List archived gateways instead of live ones.")


class GatewayRef(Input):
    gateway: Name


class GatewayCreate(Input):
    name: Name


class GatewayUpdate(Versioned):
    gateway: Name
    name: Name | None = Field(None, description="A new name.")


class GatewayChange(Versioned):
    gateway: Name


class AssignmentCreate(Versioned):
    gateway: Name
    server: Name
    name: Name | None = Field(
        None,
        description="The assignment's name on the gateway (default: the server's); assign the "
        "same server twice under two names.",
    )
    prefix: str | None = Field(None, pattern=PREFIX, description="Namespaces the server's features.")
    identity_scheme: IdentityScheme = Field(IdentityScheme.NONE, description=_SCHEME)
    identity: IdentityName | None = Field(None, description=_IDENTITY)
    provisioning: Mode | None = Field(
        None,
        description="The mode of every feature kind: allow_all, allow_selected (only what is approved) or "
        "block_all. Default: allow_selected with nothing approved (fail-closed).",
    )
    modes: dict[str, Mode] = Field(
        {}, description=f"The mode of one feature kind ({KINDS}); wins over provisioning."
    )
    approve_current: bool = Field(
        False,
        description="Approve, and pin, every feature the server offers now (asked as the shared identity).",
    )
    include_flagged: bool = Field(
        False, description="With approve_current: approve too what screening withholds; default: skip it."
    )


class Assigned(Gateway):
    skipped: list[Skipped] = Field(
        [], description="What approve_current left unapproved because screening withholds it."
    )


class AssignmentRef(Versioned):
    gateway: Name
    assignment: Name = Field(description="The assignment's name (by default its server's).")


class IdentitySchemeChange(Versioned):
    gateway: Name
    assignment: Name = Field(description="The assignment's name (by default its server's).")
    scheme: IdentityScheme = Field(description=_SCHEME)
    identity: IdentityName | None = Field(None, description=_IDENTITY)


class TeamGrant(Versioned):
    gateway: Name
    team: Name


def _view(conn: Connection, row: Any) -> dict[str, Any]:
    return Gateway.model_validate(describe_gateway(conn, row)).model_dump()


def _target(ctx: Context, conn: Connection, name: str) -> Any:
    row = fetch_named(conn, gateways, name, "gateway")
    ctx.require_gateway(row.id, row.name)
    return row


def list_gateways(ctx: Context, args: GatewayList) -> Page[Gateway]:
    """The gateways the caller may use (all of them with "View and use all gateways")."""
    with ctx.transaction() as conn:
        items, cursor = store.list_gateways(
            conn,
            visible=resolve_visible_gateways(ctx.actor),
            name_contains=args.name_contains,
            enabled=args.enabled,
            archived=args.archived,
            cursor=args.cursor,
            limit=args.limit,
        )
    return Page[Gateway](items=[Gateway.model_validate(i) for i in items], next_cursor=cursor)


def get_gateway(ctx: Context, args: GatewayRef) -> Gateway:
    with ctx.transaction() as conn:
        return Gateway.model_validate(_view(conn, _target(ctx, conn, args.gateway)))


def create_gateway(ctx: Context, args: GatewayCreate) -> Gateway:
    with ctx.transaction() as conn:
        row = insert_row(conn, gateways, "gateway", {"name": args.name, "enabled": True, "archived": False})
        after = _view(conn, row)
        ctx.record(conn, "gateway", row.name, None, after)
    return Gateway.model_validate(after)


def _change(
    ctx: Context, gateway: str, expected: int | None, values: dict[str, Any], act: Act | None = None
) -> Gateway:
    after = save_change(
        ctx, gateways, "gateway", lambda conn: _target(ctx, conn, gateway), _view, values, expected, act
    )
    return Gateway.model_validate(after)


def update_gateway(ctx: Context, args: GatewayUpdate) -> Gateway:
    """Rename a gateway. Its URL changes with its name."""
    values = {"name": args.name} if args.name is not None else {}
    return _change(ctx, args.gateway, args.if_match, values)


def delete_gateway(ctx: Context, args: GatewayChange) -> None:
    """Delete a gateway with its assignments, connections and their API tokens."""
    with ctx.transaction() as conn:
        row = _target(ctx, conn, args.gateway)
        before = _view(conn, row)
        delete_row(conn, gateways, row, "gateway", args.if_match)
        ctx.record(conn, "gateway", row.name, before, None)


def disable_gateway(ctx: Context, args: GatewayChange) -> Gateway:
    """Refuse every call through the gateway from the next request on. Nothing is deleted."""
    return _change(ctx, args.gateway, args.if_match, {"enabled": False})


def enable_gateway(ctx: Context, args: GatewayChange) -> Gateway:
    """Restore traffic through the gateway from the next request on."""
    return _change(ctx, args.gateway, args.if_match, {"enabled": True})


def archive_gateway(ctx: Context, args: GatewayChange) -> Gateway:
    """Archive a gateway: it refuses traffic and leaves listings, and can be restored."""
    return _change(ctx, args.gateway, args.if_match, {"archived": True})


def restore_gateway(ctx: Context, args: GatewayChange) -> Gateway:
    return _change(ctx, args.gateway, args.if_match, {"archived": False})


async def assign_server(ctx: Context, args: AssignmentCreate) -> Assigned:
    """Assign a server to the gateway under a name (default the server's), optionally with a prefix for
    its features' names and an identity scheme (shared, per user, or none). The same server may be
    assigned twice under two names, e.g. shared for reads and per-user for writes. The assignment is
    fail-closed: every feature kind allow_selected with nothing approved, unless ``provisioning``
    (every kind) or ``modes`` (one kind) says otherwise, or ``approve_current`` approves and pins what
    the server offers now but what screening withholds (``skipped``; ``include_flagged``: that too).
    Raises 409 when the name or prefix is taken on the gateway, 400 when the identity does not fit the
    scheme (the shared scheme needs a global identity of this server; the others none), 422 for an
    unknown feature kind, 502 when approve_current cannot reach the server. Choosing the provisioning
    also needs "Manage feature provisioning settings". Besides the gateway's admin event, one of kind
    ``provisioning`` records what the assignment starts with."""
    if args.approve_current or args.provisioning is not None or args.modes:
        ctx.require(Capability.MANAGE_FEATURE_PROVISIONING)
    modes = changed_modes(CLOSED_MODES, args.provisioning, args.modes)
    found, skipped = await _offered_now(ctx, args) if args.approve_current else (None, [])

    def act(conn: Connection, row: Any) -> None:
        server = fetch_visible_server(ctx, conn, args.server)
        assignment_id = store.assign_server(
            conn,
            row.id,
            server.id,
            name=args.name or server.name,
            prefix=args.prefix,
            scheme=args.identity_scheme,
            identity=args.identity,
            modes=modes,
        )
        if found is not None:
            record_decisions(
                ctx, conn, assignment_id, approvals_of(found, FeatureKind, ALL_PINS, frozenset(), skipped)
            )
        target = AssignmentTarget(row, store.fetch_assignment(conn, row.id, args.name or server.name))
        ctx.record(
            conn,
            "provisioning",
            f"{row.name}/{target.assignment.name}",
            None,
            describe_provisioning(conn, target),
        )

    gateway = await anyio.to_thread.run_sync(_change, ctx, args.gateway, args.if_match, {}, act)
    return Assigned(**dict(gateway), skipped=skipped)


async def _offered_now(ctx: Context, args: AssignmentCreate) -> tuple[Preview, list[Skipped]]:
    """What the server to assign offers now, asked as the shared identity it is assigned with (else
    as the features preview chooses), and what of it screening withholds (none with
    ``include_flagged``)."""

    def load(ctx: Context) -> tuple[LiveServer, Credential | None, Neighbours]:
        with ctx.transaction() as conn:
            gateway = _target(
                ctx, conn, args.gateway
            )  # an unseen gateway is refused before the server is asked
            neighbours = gateway_neighbours(conn, gateway.id, None)
            row = fetch_visible_server(ctx, conn, args.server)
            identity_id = store.resolve_shared_identity(conn, row.id, args.identity_scheme, args.identity)
            identity = (
                conn.execute(select(identities).where(identities.c.id == identity_id)).one()
                if identity_id is not None
                else choose_preview_identity(conn, ctx.actor, row.id, row.name, None)
            )
            credential = None if identity is None else open_preview_credential(ctx.vault, identity)
            return load_server(row, ctx.vault), credential, neighbours

    server, credential, neighbours = await anyio.to_thread.run_sync(load, ctx)
    found = await ask_server(ctx, server, credential)
    return found, [] if args.include_flagged else screen_offer(found, FeatureKind, neighbours)


def unassign_server(ctx: Context, args: AssignmentRef) -> Gateway:
    """Remove one assignment (by its name, from the gateway's ``servers``), with the identities
    users chose for it."""
    return _change(
        ctx,
        args.gateway,
        args.if_match,
        {},
        lambda conn, row: store.unassign_server(conn, row.id, args.assignment),
    )


def set_identity_scheme(ctx: Context, args: IdentitySchemeChange) -> Gateway:
    """Set whose credential an assignment sends upstream: none, shared (``identity``: a global
    identity of the server, used for everyone) or per_user (each user brings their own). Raises
    400 when the identity does not fit the scheme, 404 when there is no such assignment or
    identity."""
    return _change(
        ctx,
        args.gateway,
        args.if_match,
        {},
        lambda conn, row: store.set_identity_scheme(
            conn, row.id, args.assignment, args.scheme, args.identity
        ),
    )


def grant_team(ctx: Context, args: TeamGrant) -> Gateway:
    """Provision the gateway to a team: its members may see and use it."""
    return _change(
        ctx, args.gateway, args.if_match, {}, lambda conn, row: store.grant_team(conn, row.id, args.team)
    )


def revoke_team(ctx: Context, args: TeamGrant) -> Gateway:
    """Take the gateway back from a team."""
    return _change(
        ctx, args.gateway, args.if_match, {}, lambda conn, row: store.revoke_team(conn, row.id, args.team)
    )


_G = "/gateways/{gateway}"
_COLUMNS = ("name", "enabled", "archived", "version")
OPERATIONS = [
    Operation("gateways", "list", "GET", "/gateways", "List gateways", EVERYONE, list_gateways,
              GatewayList, Page[Gateway], columns=_COLUMNS),
    Operation("gateways", "get", "GET", _G, "Get a gateway", EVERYONE, get_gateway, GatewayRef, Gateway),
    Operation("gateways", "create", "POST", "/gateways", "Create a gateway",
              Capability.BASIC_GATEWAY_MANAGEMENT, create_gateway, GatewayCreate, Gateway, status=201),
    Operation("gateways", "update", "PATCH", _G, "Rename a gateway", Capability.BASIC_GATEWAY_MANAGEMENT,
              update_gateway, GatewayUpdate, Gateway),
    Operation("gateways", "delete", "DELETE", _G, "Delete a gateway", Capability.BASIC_GATEWAY_MANAGEMENT,
              delete_gateway, GatewayChange, None, status=204),
    Operation("gateways", "disable", "POST", _G + "/disable", "Disable a gateway",
              Capability.DISABLE_AND_ENABLE_GATEWAYS, disable_gateway, GatewayChange, Gateway),
    Operation("gateways", "enable", "POST", _G + "/enable", "Enable a gateway",
              Capability.DISABLE_AND_ENABLE_GATEWAYS, enable_gateway, GatewayChange, Gateway),
    Operation("gateways", "archive", "POST", _G + "/archive", "Archive a gateway",
              Capability.ARCHIVE_AND_RESTORE_GATEWAYS, archive_gateway, GatewayChange, Gateway),
    Operation("gateways", "restore", "POST", _G + "/restore", "Restore an archived gateway",
              Capability.ARCHIVE_AND_RESTORE_GATEWAYS, restore_gateway, GatewayChange, Gateway),
    Operation("gateways", "assign", "POST", _G + "/assignments", "Assign a server to a gateway",
              Capability.BASIC_GATEWAY_MANAGEMENT, assign_server, AssignmentCreate, Assigned, status=201),
    Operation("gateways", "unassign", "DELETE", _G + "/assignments/{assignment}",
              "Unassign a server from a gateway", Capability.BASIC_GATEWAY_MANAGEMENT, unassign_server,
              AssignmentRef, Gateway),
    Operation("gateways", "set-identity-scheme", "POST", _G + "/assignments/{assignment}/identity-scheme",
              "Set an assignment's identity scheme", Capability.BASIC_GATEWAY_MANAGEMENT, set_identity_scheme,
              IdentitySchemeChange, Gateway),
    Operation("gateways", "grant", "POST", _G + "/teams", "Grant a gateway to a team",
              Capability.MANAGE_TEAM_GATEWAY_PROVISIONING, grant_team, TeamGrant, Gateway, status=201),
    Operation("gateways", "revoke", "DELETE", _G + "/teams/{team}", "Take a gateway back from a team",
              Capability.MANAGE_TEAM_GATEWAY_PROVISIONING, revoke_team, TeamGrant, Gateway),
]  # fmt: skip
