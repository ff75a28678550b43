"""Identities: credentials scoped to one server, private to their owner or global.

Everyone manages their own identities; other people's need "Identity management" (availability,
enable and disable, delete). Creating one needs only to see its server; creating or making one
global (a gateway's shared service account) needs "Basic server management". Header values are
secrets: write-only, never in an answer or an admin event; only their names are shown. OAuth
identities are created by authorizing (the connection flow), not here.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Row

from lockgate.api.errors import BadRequest
from lockgate.api.operation import Context, Input, Operation, Versioned
from lockgate.api.operations.common import ListInput, Name, Page, save_change
from lockgate.api.operations.users import Email
from lockgate.domain.actor import Actor
from lockgate.domain.capabilities import Capability
from lockgate.domain.declaration import IdentityName
from lockgate.domain.model import Availability, IdentityKind, IdentityStatus
from lockgate.domain.upstream_values import UpstreamValueError
from lockgate.policy.access_control import EVERYONE, can_see_server, resolve_visible_gateways
from lockgate.store import identities as store
from lockgate.store.errors import ConflictError, NotFoundError
from lockgate.store.gateways import server_gateway_ids
from lockgate.store.people import fetch_user
from lockgate.store.records import delete_row, fetch_named
from lockgate.store.schema import identities, servers
from lockgate.store.servers import ANY_GATEWAY

_VALUES = (
    "Header name → value, sent upstream on every request (for a stdio server: environment "
    "variables, only those its identity_env declares). Names the gateway sets itself (Host, "
    "Content-Length, Mcp-Session-Id ...) and values with control characters are refused. "
    "Write-only: answers show only the names."
)


class Identity(BaseModel):
    name: str
    server: str
    owner: str | None = Field(description="The owner's email; null for one the instance operator made.")
    kind: IdentityKind = Field(description="none, headers, or oauth (obtained by authorizing).")
    availability: Availability = Field(
        description="private: usable by its owner only; global: selectable as a gateway's shared identity "
        "and usable by everyone."
    )
    enabled: bool
    status: IdentityStatus
    header_names: list[str] = Field(description="The headers it sends. Only the names: values are secret.")
    expires_at: float | None = Field(description="When an OAuth access token expires (unix seconds).")
    scope: str | None = Field(description="The scope an OAuth token was granted.")
    version: int = Field(description="Bumped by every change; send it back as If-Match.")
    created_at: float
    updated_at: float


class IdentityList(ListInput):
    server: Name | None = None
    owner: Email | None = Field(None, description="The owner's email.")
    availability: Availability | None = None
    enabled: bool | None = None


class IdentityRef(Input):
    identity: IdentityName


class IdentityCreate(Input):
    server: Name
    name: IdentityName | None = Field(
        None, description="Default: <owner's email>/<server>, numbered if taken."
    )
    kind: Literal["none", "headers"] = Field(
        "headers", description="none (the server needs no credential) or headers."
    )
    headers: dict[str, str] | None = Field(None, description=_VALUES)
    availability: Availability = Field(
        Availability.PRIVATE, description='"global" also needs "Basic server management".'
    )
    owner: Email | None = Field(
        None,
        description='Whose it is (an email); another person\'s needs "Identity management". Default: yours.',
    )


class IdentityUpdate(Versioned):
    identity: IdentityName
    name: IdentityName | None = Field(None, description="A new name.")
    availability: Availability | None = Field(
        None, description='Making it global also needs "Basic server management".'
    )
    headers: dict[str, str] | None = Field(None, description="Replaces every header value. " + _VALUES)


class IdentityChange(Versioned):
    identity: IdentityName


def _view(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    return Identity.model_validate(store.describe_identity(conn, row)).model_dump(mode="json")


def _own(actor: Actor, row: Row[Any]) -> bool:
    return actor.user_id is not None and row.owner_id == actor.user_id


def _sees_all(actor: Actor) -> bool:
    return bool({Capability.VIEW_ALL_IDENTITIES, Capability.IDENTITY_MANAGEMENT} & actor.capabilities)


def _visible(ctx: Context, conn: Connection, name: str) -> Row[Any]:
    """The identity, when the actor may see it: their own, a global one of a server they see, or
    any with "View all identities" (or "Identity management").

    Raises:
        NotFoundError: no such identity, or one the actor may not see: the same answer, so that
            names cannot be probed.
    """
    row = store.fetch_identity(conn, name)
    if _own(ctx.actor, row) or _sees_all(ctx.actor):
        return row
    if row.availability == Availability.GLOBAL.value and can_see_server(
        ctx.actor, server_gateway_ids(conn, row.server_id)
    ):
        return row
    raise NotFoundError(f"no identity named {name!r}")


def _managed(ctx: Context, conn: Connection, name: str) -> Row[Any]:
    """The identity, when the actor may change it: their own, or any with "Identity management".

    Raises:
        NotFoundError: as ``_visible``. Forbidden: one the actor sees but may not change.
    """
    row = _visible(ctx, conn, name)
    if not _own(ctx.actor, row):
        ctx.require(Capability.IDENTITY_MANAGEMENT)
    return row


def _scope(actor: Actor) -> store.IdentityScope | None:
    if _sees_all(actor):
        return None
    if can_see_server(actor, ()):  # "View all servers": the global identities of every server
        gateways: Collection[int] | Literal["any"] | None = None
    else:
        visible = resolve_visible_gateways(actor)
        gateways = ANY_GATEWAY if visible is None else visible
    return store.IdentityScope(actor.user_id, gateways)


def _check_headers(kind: str, headers: dict[str, str] | None) -> None:
    """Raises BadRequest unless ``headers`` fit an identity of ``kind``."""
    if kind == IdentityKind.HEADERS and not headers:
        raise BadRequest("an identity of kind headers needs at least one header", field="headers")
    if kind != IdentityKind.HEADERS and headers is not None:
        raise BadRequest(f"an identity of kind {kind} holds no header values", field="headers")


def _check_values(conn: Connection, server_id: int, headers: dict[str, str]) -> None:
    """Raises BadRequest (field ``headers``) unless ``headers`` may go to the server."""
    try:
        store.check_identity_headers(conn, server_id, headers)
    except UpstreamValueError as exc:
        raise BadRequest(str(exc), field="headers") from None


def list_identities(ctx: Context, args: IdentityList) -> Page[Identity]:
    """The identities the caller may see, by name: their own and the global ones of the servers
    they see (every identity with "View all identities" or "Identity management")."""
    with ctx.transaction() as conn:
        items, cursor = store.list_identities(
            conn,
            scope=_scope(ctx.actor),
            server=args.server,
            owner=args.owner,
            availability=args.availability,
            enabled=args.enabled,
            cursor=args.cursor,
            limit=args.limit,
        )
    return Page[Identity](items=[Identity.model_validate(i) for i in items], next_cursor=cursor)


def get_identity(ctx: Context, args: IdentityRef) -> Identity:
    with ctx.transaction() as conn:
        return Identity.model_validate(_view(conn, _visible(ctx, conn, args.identity)))


def create_identity(ctx: Context, args: IdentityCreate) -> Identity:
    """Add an identity for a server the caller sees: headers (an API key, a bearer token ...) or
    none. Raises 400 when ``headers`` do not fit ``kind`` or may not go to the server (a header
    the gateway sets itself, a control character, or for a stdio server a variable outside its
    ``identity_env``), 403 for a global identity without "Basic server management" or another
    person's without "Identity management", 404 when the server or owner does not exist, 409 when
    the name is taken."""
    _check_headers(args.kind, args.headers)
    if args.availability is Availability.GLOBAL:
        ctx.require(Capability.BASIC_SERVER_MANAGEMENT)
    with ctx.transaction() as conn:
        server = fetch_named(conn, servers, args.server, "server")
        ctx.require_server(server_gateway_ids(conn, server.id), server.name)
        owner_id = ctx.actor.user_id
        if args.owner is not None:
            if args.owner != ctx.actor.email:  # before the lookup: a 404 would confirm who exists
                ctx.require(Capability.IDENTITY_MANAGEMENT)
            owner_id = fetch_user(conn, args.owner).id
        if args.headers is not None:
            _check_values(conn, server.id, args.headers)
        row = store.create_identity(
            conn,
            ctx.vault,
            name=args.name,
            server_id=server.id,
            owner_id=owner_id,
            kind=IdentityKind(args.kind),
            availability=args.availability,
            headers=args.headers,
        )
        after = _view(conn, row)
        ctx.record(conn, "identity", row.name, None, after)
    return Identity.model_validate(after)


def _refuse_if_shared(conn: Connection, row: Row[Any], doing: str) -> None:
    uses = store.shared_uses(conn, row.id)
    if uses:
        raise ConflictError(
            f"identity {row.name!r} is the shared identity of {', '.join(uses)}; "
            f"choose another there before you {doing} it"
        )


def _change(ctx: Context, name: str, expected: int | None, values: dict[str, Any]) -> Identity:
    after = save_change(
        ctx, identities, "identity", lambda conn: _managed(ctx, conn, name), _view, values, expected
    )
    return Identity.model_validate(after)


def update_identity(ctx: Context, args: IdentityUpdate) -> Identity:
    """Rename an identity, change its availability, or replace its header values (all of them).
    Raises 400 for headers on an identity not of kind headers or that may not go to its server,
    409 when it is made private while a gateway shares it, or the new name is taken."""
    if args.availability is Availability.GLOBAL:
        ctx.require(Capability.BASIC_SERVER_MANAGEMENT)

    def act(conn: Connection, row: Row[Any]) -> None:
        if args.headers is not None:
            _check_headers(row.kind, args.headers)
            _check_values(conn, row.server_id, args.headers)
        if args.availability is Availability.PRIVATE and row.availability != Availability.PRIVATE.value:
            _refuse_if_shared(conn, row, "make private")

    def values(row: Row[Any]) -> dict[str, Any]:
        changed: dict[str, Any] = {}
        if args.name is not None:
            changed["name"] = args.name
        if args.availability is not None:
            changed["availability"] = args.availability.value
        if args.headers is not None:
            changed |= store.identity_header_values(ctx.vault, row.id, args.headers)
        return changed

    after = save_change(
        ctx,
        identities,
        "identity",
        lambda conn: _managed(ctx, conn, args.identity),
        _view,
        values,
        args.if_match,
        act,
    )
    return Identity.model_validate(after)


def disable_identity(ctx: Context, args: IdentityChange) -> Identity:
    """Refuse every call that needs this identity from the next request on (break-glass). Nothing
    is deleted."""
    return _change(ctx, args.identity, args.if_match, {"enabled": False})


def enable_identity(ctx: Context, args: IdentityChange) -> Identity:
    return _change(ctx, args.identity, args.if_match, {"enabled": True})


def delete_identity(ctx: Context, args: IdentityChange) -> None:
    """Delete an identity and its secret; users who chose it for a gateway choose again. Raises 409
    while a gateway uses it as its shared identity."""
    with ctx.transaction() as conn:
        row = _managed(ctx, conn, args.identity)
        before = _view(conn, row)
        _refuse_if_shared(conn, row, "delete")
        delete_row(conn, identities, row, "identity", args.if_match)
        ctx.record(conn, "identity", row.name, before, None)


_I = "/identities/{identity}"
OPERATIONS = [
    Operation("identities", "list", "GET", "/identities", "List identities", EVERYONE, list_identities,
              IdentityList, Page[Identity],
              columns=("name", "server", "owner", "kind", "availability", "enabled", "status")),
    Operation("identities", "get", "GET", _I, "Get an identity", EVERYONE, get_identity, IdentityRef,
              Identity),
    Operation("identities", "create", "POST", "/identities", "Add an identity", EVERYONE, create_identity,
              IdentityCreate, Identity, status=201),
    Operation("identities", "update", "PATCH", _I, "Edit an identity", EVERYONE, update_identity,
              IdentityUpdate, Identity),
    Operation("identities", "delete", "DELETE", _I, "Delete an identity", EVERYONE, delete_identity,
              IdentityChange, None, status=204),
    Operation("identities", "disable", "POST", _I + "/disable", "Disable an identity", EVERYONE,
              disable_identity, IdentityChange, Identity),
    Operation("identities", "enable", "POST", _I + "/enable", "Enable an identity", EVERYONE,
              enable_identity, IdentityChange, Identity),
]  # fmt: skip
