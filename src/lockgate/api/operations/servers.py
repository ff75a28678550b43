"""Servers: add, edit, delete; the break-glass toggle; a live preview of their features.

Env and header values and the OAuth client secret are secrets: no output (and so no admin event)
ever carries them, only env and header names and whether a client secret is set.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Literal

import anyio.to_thread
import orjson
from pydantic import BaseModel, Field
from sqlalchemy import Connection, Row

from lockgate.api.errors import UnprocessableContent
from lockgate.api.offer import ask_server
from lockgate.api.operation import Context, Input, Operation, Versioned, validate_model
from lockgate.api.operations.common import (
    ListInput,
    Name,
    Page,
    fetch_assignment_target,
    fetch_visible_server,
    save_change,
)
from lockgate.api.preview_identity import (
    choose_preview_identity,
    describe_preview_identity,
    open_preview_credential,
)
from lockgate.domain.actor import Actor
from lockgate.domain.capabilities import Capability
from lockgate.domain.declaration import ServerSpec
from lockgate.domain.features import FeatureKind
from lockgate.domain.model import Availability, Credential, IdentityKind, Transport
from lockgate.domain.model import Server as LiveServer
from lockgate.domain.plan import SECRET_FIELDS
from lockgate.domain.provisioning import MetadataFilter
from lockgate.policy.access_control import EVERYONE, can_see_server, resolve_visible_gateways
from lockgate.policy.provisioning import filter_definition
from lockgate.store import servers as store
from lockgate.store.identities import delete_server_credentials
from lockgate.store.provisioning import load_filter
from lockgate.store.records import delete_row, insert_row, update_row
from lockgate.store.schema import servers
from lockgate.upstream.preview import Preview

_SECRET = "Only the names: the values are secrets and are never shown."


class Server(BaseModel):
    name: str
    transport: Transport
    enabled: bool
    command: str | None
    args: list[str]
    cwd: str | None
    url: str | None
    env_names: list[str] = Field(description="The environment variables set for it. " + _SECRET)
    identity_env: list[str] = Field(
        [], description="stdio servers: the environment variables its identities may set, and no other."
    )
    header_names: list[str] = Field(description="The headers sent on every request. " + _SECRET)
    oauth_client_id: str | None = Field(
        None,
        description="A pre-registered OAuth client's id, for servers without dynamic registration.",
    )
    oauth_client_secret_set: bool = Field(
        False, description="Whether the pre-registered client has a secret; the secret itself is never shown."
    )
    oauth_scopes: str | None = Field(
        None, description="The scopes to ask for when authorizing (space-separated)."
    )
    revision: str = Field(
        description="A digest of the configuration; it changes when the configuration does."
    )
    version: int = Field(description="Bumped by every change; send it back as If-Match.")
    created_at: float
    updated_at: float


class EditedServer(Server):
    """A server after an edit, with what did not follow it to a new destination."""

    dropped_secrets: list[str] = Field(
        default_factory=list,
        description="The stored secrets a move to another destination dropped because the change did "
        "not give them again: 'env.NAME', 'headers.NAME', 'oauth_client_secret'.",
    )
    dropped_identities: list[str] = Field(
        default_factory=list,
        description="The identities a move to another destination deleted: their credentials were "
        "given for the old one.",
    )


class PreviewIdentity(BaseModel):
    """An identity as a preview names it; never its secret."""

    name: str
    kind: IdentityKind
    availability: Availability
    owner: str | None = Field(description="The owner's email; None for an identity without one.")


class FeatureSizes(BaseModel):
    """The size in bytes of every definition's JSON, summed over every kind."""

    before: int = Field(description="As the server offers them.")
    after: int = Field(description="As the assignment's metadata filter shows them to agents.")


class Features(BaseModel):
    """What the server lists right now, as it describes each feature (MCP server/* list results)."""

    server: str
    tools: list[dict[str, Any]]
    prompts: list[dict[str, Any]]
    resources: list[dict[str, Any]]
    resource_templates: list[dict[str, Any]]
    identity: PreviewIdentity | None = Field(
        None, description="The identity the preview ran as (None: the server's own configuration only)."
    )
    sizes: FeatureSizes | None = Field(
        None, description="With an assignment: the definitions' size before and after its metadata filter."
    )


class ServerList(ListInput):
    name_contains: str | None = Field(None, max_length=128)
    transport: Transport | None = None
    enabled: bool | None = None


class ServerRef(Input):
    server: Name


class FeaturesPreview(ServerRef):
    identity: str | None = Field(
        None,
        max_length=160,
        description="Whose identity the preview runs as: 'mine' (your own for this server), 'global' "
        "(the server's global identity), 'none' (the server's own configuration only) or an identity's "
        "name. Default: your own ready identity, else a global one you may use, else none.",
    )
    gateway: Name | None = Field(None, description="With assignment: report sizes under its metadata filter.")
    assignment: Name | None = Field(None, description="An assignment of this server on the gateway.")


class ServerCreate(ServerSpec, Input):
    """A server as a declaration file holds it; stdio servers take ``command``, ``args``, ``env``
    and ``cwd``, http and sse servers ``url`` and ``headers``."""


class ServerUpdate(Versioned):
    """Any field of a server; the result must be a whole valid server. Switching ``transport``
    drops the old transport's fields. ``env`` and ``headers`` replace the stored ones entirely; an
    ``oauth_client_secret`` of null removes the stored one."""

    server: Name
    name: Name | None = Field(None, description="A new name.")
    transport: Transport | None = None
    enabled: bool | None = None
    command: str | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    identity_env: list[str] | None = Field(
        None, description="Replaces the environment variables its identities may set (stdio servers)."
    )
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] | None = None
    oauth_client_id: str | None = Field(None, max_length=512)
    oauth_client_secret: str | None = Field(None, max_length=4096, description="Write-only; null removes it.")
    oauth_scopes: str | None = Field(None, max_length=2048)


class ServerChange(Versioned):
    server: Name


def _view(row: Row[Any]) -> Server:
    config = dict(row.config)  # env and header names only: their values are sealed apart
    env_names, header_names = config.pop("env", None) or [], config.pop("headers", None) or []
    secret_set = bool(config.pop(store.OAUTH_CLIENT_SECRET_SET, False))
    spec = ServerSpec(name=row.name, transport=row.transport, enabled=row.enabled, **config)
    return Server(
        **spec.model_dump(exclude={"env", "headers", "oauth_client_secret"}),
        env_names=sorted(env_names),
        header_names=sorted(header_names),
        oauth_client_secret_set=secret_set,
        revision=row.revision,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _scope(actor: Actor) -> Collection[int] | Literal["any"] | None:
    """The servers ``actor`` sees, as ``store.list_servers`` takes it (as ``can_see_server`` judges)."""
    if can_see_server(actor, ()):  # only "View all servers" sees a server on no gateway
        return None
    visible = resolve_visible_gateways(actor)
    return store.ANY_GATEWAY if visible is None else visible


def list_servers(ctx: Context, args: ServerList) -> Page[Server]:
    """The servers the caller sees: all of them with "View all servers", else those on the
    gateways they may use."""
    with ctx.transaction() as conn:
        rows, cursor = store.list_servers(
            conn,
            on_gateways=_scope(ctx.actor),
            name_contains=args.name_contains,
            transport=args.transport,
            enabled=args.enabled,
            cursor=args.cursor,
            limit=args.limit,
        )
    return Page[Server](items=[_view(r) for r in rows], next_cursor=cursor)


def get_server(ctx: Context, args: ServerRef) -> Server:
    with ctx.transaction() as conn:
        return _view(fetch_visible_server(ctx, conn, args.server))


def create_server(ctx: Context, args: ServerCreate) -> Server:
    """Add a server. Creating it disabled also needs "Disable and enable servers". Raises 422 when
    its URL is an address outside the networks servers may reach (``server_allowed_networks``)."""
    if not args.enabled:
        ctx.require(Capability.DISABLE_AND_ENABLE_SERVERS)
    ctx.require_reachable(args)
    with ctx.transaction() as conn:
        row = insert_row(conn, servers, "server", {"name": args.name, **store.server_values(args, ctx.vault)})
        after = _view(row)
        ctx.record(conn, "server", row.name, None, after.model_dump(mode="json"))
    return after


def _change(
    ctx: Context, server: str, expected: int | None, values: Callable[[Row[Any]], dict[str, Any]]
) -> Server:
    after = save_change(
        ctx,
        servers,
        "server",
        lambda conn: fetch_visible_server(ctx, conn, server),
        lambda _conn, row: _view(row).model_dump(mode="json"),
        values,
        expected,
    )
    return Server.model_validate(after)


def update_server(ctx: Context, args: ServerUpdate) -> EditedServer:
    """Change any of a server's fields (or rename it); its revision follows its configuration, so
    pooled connections to it are replaced. Changing ``enabled`` also needs "Disable and enable
    servers". Moving the server to another destination (transport and url, or a stdio server's
    command, args and cwd) drops the stored env and header values and OAuth client secret not given
    again in the same change, and deletes the server's identities and OAuth client registrations:
    they were given for the old destination only. The answer names what was dropped. Raises 400
    when the result is not a valid server, 422 when its URL is an address outside the networks
    servers may reach."""
    given = args.model_dump(include=args.model_fields_set - {"server", "if_match"})
    if "enabled" in given:
        ctx.require(Capability.DISABLE_AND_ENABLE_SERVERS)
    with ctx.transaction() as conn:
        row = fetch_visible_server(ctx, conn, args.server)
        before = _view(row)
        # unvalidated: a server stored before one of today's checks existed is fixed by this update
        config = store.load_config(row, ctx.vault)
        stored = ServerSpec.model_construct(
            name=row.name, transport=Transport(row.transport), enabled=row.enabled, **config
        )
        spec, dropped = _edited(stored, given)
        ctx.require_reachable(spec)
        values = {"name": spec.name, **store.server_values(spec, ctx.vault, row)}
        row = update_row(conn, servers, row, "server", values, args.if_match)
        after = _view(row)
        ctx.record(conn, "server", row.name, before.model_dump(mode="json"), after.model_dump(mode="json"))
        deleted = []
        if spec.destination() != stored.destination():
            deleted = delete_server_credentials(conn, row.id)
            record_deleted_identities(ctx, conn, deleted)
    return EditedServer(
        **after.model_dump(), dropped_secrets=dropped, dropped_identities=[i["name"] for i in deleted]
    )


def _edited(stored: ServerSpec, given: dict[str, Any]) -> tuple[ServerSpec, list[str]]:
    """The server ``stored`` becomes with the ``given`` fields, and the secrets it drops
    (``env.NAME``, ``headers.NAME``, ``oauth_client_secret``): on a move to another destination,
    every stored one not given again.

    Raises:
        BadRequest: the result is not a valid server.
    """
    merged = stored.model_dump()
    if given.get("transport", stored.transport) != stored.transport:
        merged = {"name": stored.name, "enabled": stored.enabled}
    spec = validate_model(ServerSpec, merged | given)
    if spec.destination() == stored.destination():
        return spec, []
    dropped = [f"{f}.{key}" for f in SECRET_FIELDS if f not in given for key in sorted(getattr(stored, f))]
    update: dict[str, Any] = {f: {} for f in SECRET_FIELDS if f not in given}
    if "oauth_client_secret" not in given and stored.oauth_client_secret is not None:
        dropped.append("oauth_client_secret")
        update["oauth_client_secret"] = None
    return spec.model_copy(update=update), dropped


def record_deleted_identities(ctx: Context, conn: Connection, deleted: list[dict[str, Any]]) -> None:
    """One admin event per identity a server's move deleted (as ``delete_server_credentials``
    describes them)."""
    for identity in deleted:
        ctx.record(conn, "identity", identity["name"], identity, None)


def delete_server(ctx: Context, args: ServerChange) -> None:
    """Delete a server; the gateways it was assigned to no longer offer its features."""
    with ctx.transaction() as conn:
        row = fetch_visible_server(ctx, conn, args.server)
        before = _view(row)
        delete_row(conn, servers, row, "server", args.if_match)
        ctx.record(conn, "server", row.name, before.model_dump(mode="json"), None)


def disable_server(ctx: Context, args: ServerChange) -> Server:
    """Refuse every call to the server, through every gateway, from the next request on."""
    return _change(ctx, args.server, args.if_match, lambda _row: {"enabled": False})


def enable_server(ctx: Context, args: ServerChange) -> Server:
    return _change(ctx, args.server, args.if_match, lambda _row: {"enabled": True})


def _load_preview(
    ctx: Context, args: FeaturesPreview
) -> tuple[LiveServer, Credential | None, dict[str, Any] | None, MetadataFilter | None]:
    if (args.gateway is None) != (args.assignment is None):
        raise UnprocessableContent("name both the gateway and the assignment, or neither", field="assignment")
    with ctx.transaction() as conn:
        row = fetch_visible_server(ctx, conn, args.server)
        server = store.load_server(row, ctx.vault)
        rules = None
        if args.gateway is not None and args.assignment is not None:
            target = fetch_assignment_target(ctx, conn, args.gateway, args.assignment)
            if target.assignment.server_id != row.id:
                raise UnprocessableContent(
                    f"assignment {args.assignment!r} is not of server {row.name!r}", field="assignment"
                )
            rules = load_filter(target.assignment.metadata_filter)
        identity = choose_preview_identity(conn, ctx.actor, row.id, row.name, args.identity)
        if identity is None:
            return server, None, None, rules
        described = describe_preview_identity(conn, identity)
        return server, open_preview_credential(ctx.vault, identity), described, rules


async def preview_features(ctx: Context, args: FeaturesPreview) -> Features:
    """Ask the server now for its tools, prompts, resources and resource templates, as the chosen
    identity (``identity``; its OAuth token refreshed first when due). With ``gateway`` and
    ``assignment`` (one of this server's), ``sizes`` gives the definitions' size in bytes before and
    after that assignment's metadata filter. Raises 403 for an identity the caller may not use, 404
    for one they do not have (or an unknown gateway or assignment), 409 when the server or the
    identity is disabled or the identity must be authorized again, 422 for an assignment of another
    server, 502 when the server cannot be reached."""
    server, credential, identity, rules = await anyio.to_thread.run_sync(_load_preview, ctx, args)
    found = await ask_server(ctx, server, credential)
    return Features(
        server=server.name,
        tools=found[FeatureKind.TOOL],
        prompts=found[FeatureKind.PROMPT],
        resources=found[FeatureKind.RESOURCE],
        resource_templates=found[FeatureKind.RESOURCE_TEMPLATE],
        identity=None if identity is None else PreviewIdentity.model_validate(identity),
        sizes=None if rules is None else _sizes(found, rules),
    )


def _sizes(found: Preview, rules: MetadataFilter) -> FeatureSizes:
    """The size of every definition's JSON, as the server offers it and as the filter shows it."""
    before = after = 0
    for kind, definitions in found.items():
        for definition in definitions:
            before += len(orjson.dumps(definition))
            after += len(orjson.dumps(filter_definition(rules, kind, definition)))
    return FeatureSizes(before=before, after=after)


_S = "/servers/{server}"
_BASIC = Capability.BASIC_SERVER_MANAGEMENT
_TOGGLE = Capability.DISABLE_AND_ENABLE_SERVERS
OPERATIONS = [
    Operation("servers", "list", "GET", "/servers", "List servers", EVERYONE, list_servers, ServerList,
              Page[Server], columns=("name", "transport", "enabled", "version")),
    Operation("servers", "get", "GET", _S, "Get a server", EVERYONE, get_server, ServerRef, Server),
    Operation("servers", "create", "POST", "/servers", "Add a server", _BASIC, create_server, ServerCreate,
              Server, status=201),
    Operation("servers", "update", "PATCH", _S, "Edit a server", _BASIC, update_server, ServerUpdate,
              EditedServer),
    Operation("servers", "delete", "DELETE", _S, "Delete a server", _BASIC, delete_server, ServerChange, None,
              status=204),
    Operation("servers", "disable", "POST", _S + "/disable", "Disable a server", _TOGGLE, disable_server,
              ServerChange, Server),
    Operation("servers", "enable", "POST", _S + "/enable", "Enable a server", _TOGGLE, enable_server,
              ServerChange, Server),
    Operation("servers", "features", "GET", _S + "/features", "Preview a server's features", _BASIC,
              preview_features, FeaturesPreview, Features),
]  # fmt: skip
