"""Hosts: the MCP clients that reach gateways. Create, rename, delete; the break-glass toggle; the
connection link each user enrols through; the webhook that receives each newly minted user token
(signed with a secret Lockgate makes and shows once) and its deliveries.

A webhook receives the tokens of every gateway its host serves, so changing where they go (the
webhook URL, or the signing secret a receiver trusts) needs the right to use each of those gateways
(``policy.access_control.resolve_webhook_refusal``), not only *Create and manage API tokens*. The
signing secret is shown only in the answer that creates a host with a webhook, and in
``rotate-webhook-secret``'s."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Row

from lockgate.api.errors import Forbidden
from lockgate.api.operation import Context, Input, Operation, Versioned
from lockgate.api.operations.common import ListInput, Name, Page, save_change
from lockgate.domain.capabilities import Capability
from lockgate.domain.model import HostKind
from lockgate.domain.webhook_url import WebhookUrl
from lockgate.policy.access_control import EVERYONE, resolve_webhook_refusal
from lockgate.store import webhooks as outbox
from lockgate.store.errors import ConflictError
from lockgate.store.hosts import list_hosts as load_hosts
from lockgate.store.hosts import list_served_gateways, new_link_id
from lockgate.store.records import delete_row, fetch_named, insert_row
from lockgate.store.schema import hosts
from lockgate.store.webhooks import DeliveryStatus


class Host(BaseModel):
    name: str
    kind: HostKind = Field(description="How it authenticates: 'token', with API tokens.")
    enabled: bool
    link: str = Field(
        description="The connection link: each user opens it to enrol and get their own API token."
    )
    webhook_url: str | None = Field(description="Where newly minted API tokens are delivered (null: none).")
    version: int = Field(description="Bumped by every change; send it back as If-Match.")
    created_at: float


class ConfiguredHost(Host):
    webhook_secret: str | None = Field(
        None,
        description="The webhook signing secret (whsec_...), when the host is created with a webhook "
        "URL. Shown this once: store it now.",
    )


class WebhookSecret(BaseModel):
    host: str
    webhook_secret: str = Field(
        description="The new signing secret (whsec_...). Shown this once: store it now."
    )


class WebhookDelivery(BaseModel):
    """One newly minted token's delivery to the host's webhook; its body is never shown."""

    message_id: str = Field(description="The webhook-id header: the same on every attempt.")
    event: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float | None = Field(description="When it is tried again (pending only).")
    last_status: int | None = Field(description="The HTTP status of the last attempt (null: no answer).")
    last_error: str | None
    created_at: float
    delivered_at: float | None


class DeliveryList(ListInput):
    host: Name
    status: DeliveryStatus | None = None


class HostList(ListInput):
    name_contains: str | None = Field(None, max_length=128)
    enabled: bool | None = None


class HostRef(Input):
    host: Name


class HostCreate(Input):
    name: Name
    kind: HostKind = HostKind.TOKEN
    webhook_url: WebhookUrl | None = Field(
        None,
        description="Where Lockgate POSTs each API token it mints for this host (Standard Webhooks, event "
        "api_token.created); https unless loopback. The answer carries its signing secret.",
    )


class HostUpdate(Versioned):
    host: Name
    name: Name | None = Field(None, description="A new name.")
    webhook_url: WebhookUrl | None = Field(
        None,
        description="A new webhook URL (its signing secret is kept; a host without one gets one, shown by "
        'rotate-webhook-secret); null or "" removes the webhook. Needs the right to use every gateway '
        "the host serves.",
    )


class HostChange(Versioned):
    host: Name


def _view(ctx: Context, row: Row[Any]) -> Host:
    return Host.model_validate({**row._mapping, "link": f"{ctx.public_url}/connect/{row.link_id}"})


def list_hosts(ctx: Context, args: HostList) -> Page[Host]:
    with ctx.transaction() as conn:
        rows, cursor = load_hosts(
            conn, name_contains=args.name_contains, enabled=args.enabled, cursor=args.cursor, limit=args.limit
        )
    return Page[Host](items=[_view(ctx, r) for r in rows], next_cursor=cursor)


def get_host(ctx: Context, args: HostRef) -> Host:
    with ctx.transaction() as conn:
        return _view(ctx, fetch_named(conn, hosts, args.host, "host"))


def create_host(ctx: Context, args: HostCreate) -> ConfiguredHost:
    """Add a host, with its connection link; mint API tokens for it to reach gateways. With a
    webhook URL, the answer carries the webhook's signing secret this once."""
    with ctx.transaction() as conn:
        values = {"name": args.name, "kind": args.kind.value, "enabled": True, "link_id": new_link_id()}
        row = insert_row(conn, hosts, "host", values)
        secret = None
        if args.webhook_url:
            secret = outbox.save_webhook(conn, ctx.vault, row, args.webhook_url, ctx.actor.user_id)
            row = fetch_named(conn, hosts, args.name, "host")
        after = _view(ctx, row)
        ctx.record(conn, "host", row.name, None, after.model_dump(mode="json"))
    return ConfiguredHost(**after.model_dump(), webhook_secret=secret)


def require_webhook_change(ctx: Context, conn: Connection, host: Row[Any]) -> None:
    """Raises Forbidden unless the actor may change where the host's minted tokens are delivered:
    they may use every gateway the host serves (``resolve_webhook_refusal``). Every surface that
    sets a webhook URL or a signing secret calls this."""
    refusal = resolve_webhook_refusal(ctx.actor, host.name, list_served_gateways(conn, host.id))
    if refusal is not None:
        raise Forbidden(refusal.message, capability=refusal.capability.value)


def _change(
    ctx: Context,
    host: str,
    expected: int | None,
    values: dict[str, Any] | Callable[[Row[Any]], dict[str, Any]],
    act: Callable[[Connection, Row[Any]], None] | None = None,
) -> Host:
    after = save_change(
        ctx,
        hosts,
        "host",
        lambda conn: fetch_named(conn, hosts, host, "host"),
        lambda _conn, row: _view(ctx, row).model_dump(mode="json"),
        values,
        expected,
        act,
    )
    return Host.model_validate(after)


def update_host(ctx: Context, args: HostUpdate) -> Host:
    """Rename a host, or set or remove its webhook. Its connections and API tokens keep working.
    Changing the webhook URL keeps the signing secret; setting one on a host without a secret makes
    one, which ``rotate-webhook-secret`` replaces and shows (never this answer).

    Raises:
        Forbidden: the webhook URL changes and the actor may not use every gateway the host serves.
    """
    moves = "webhook_url" in args.model_fields_set

    def check(conn: Connection, row: Row[Any]) -> None:
        if moves and (args.webhook_url or None) != row.webhook_url:
            require_webhook_change(ctx, conn, row)

    def values(row: Row[Any]) -> dict[str, Any]:
        changed: dict[str, Any] = {} if args.name is None else {"name": args.name}
        if moves and (args.webhook_url or None) != row.webhook_url:
            url = args.webhook_url or None
            changed.update(outbox.webhook_values(ctx.vault, row, url, ctx.actor.user_id)[0])
        return changed

    return _change(ctx, args.host, args.if_match, values, check)


def delete_host(ctx: Context, args: HostChange) -> None:
    """Delete a host with its connections and their API tokens."""
    with ctx.transaction() as conn:
        row = fetch_named(conn, hosts, args.host, "host")
        delete_row(conn, hosts, row, "host", args.if_match)
        ctx.record(conn, "host", row.name, _view(ctx, row).model_dump(mode="json"), None)


def rotate_webhook_secret(ctx: Context, args: HostChange) -> WebhookSecret:
    """Replace the host's webhook signing secret; the answer carries the new one this once.
    Deliveries still pending are signed with it.

    Raises:
        Conflict: the host has no webhook URL. Forbidden: the actor may not use every gateway the
            host serves."""
    made: list[str] = []

    def values(row: Row[Any]) -> dict[str, Any]:
        if row.webhook_url is None:
            raise ConflictError(f"host {row.name!r} has no webhook URL: set one first")
        changed, secret = outbox.webhook_secret_values(ctx.vault, row.id)
        made.append(secret)
        return changed

    after = _change(
        ctx, args.host, args.if_match, values, lambda conn, row: require_webhook_change(ctx, conn, row)
    )
    return WebhookSecret(host=after.name, webhook_secret=made[0])


def list_deliveries(ctx: Context, args: DeliveryList) -> Page[WebhookDelivery]:
    """The host's webhook deliveries, newest first: status, attempts and the last answer or error.
    Never their bodies, which hold the tokens (and are cleared once delivered or given up)."""
    with ctx.transaction() as conn:
        host = fetch_named(conn, hosts, args.host, "host")
        rows, cursor = outbox.load_delivery_page(
            conn, host.id, status=args.status, cursor=args.cursor, limit=args.limit
        )
    items = [WebhookDelivery.model_validate(r, from_attributes=True) for r in rows]
    return Page[WebhookDelivery](items=items, next_cursor=cursor)


def disable_host(ctx: Context, args: HostChange) -> Host:
    """Refuse every call from the host, on every gateway, from the next request on."""
    return _change(ctx, args.host, args.if_match, {"enabled": False})


def enable_host(ctx: Context, args: HostChange) -> Host:
    return _change(ctx, args.host, args.if_match, {"enabled": True})


_H = "/hosts/{host}"
_MANAGE = Capability.CREATE_AND_MANAGE_API_TOKENS
_TOGGLE = Capability.DISABLE_AND_ENABLE_HOSTS
OPERATIONS = [
    Operation("hosts", "list", "GET", "/hosts", "List hosts", EVERYONE, list_hosts, HostList, Page[Host],
              columns=("name", "kind", "enabled", "version")),
    Operation("hosts", "get", "GET", _H, "Get a host", EVERYONE, get_host, HostRef, Host),
    Operation("hosts", "create", "POST", "/hosts", "Add a host", _MANAGE, create_host, HostCreate,
              ConfiguredHost, status=201),
    Operation("hosts", "update", "PATCH", _H, "Change a host", _MANAGE, update_host, HostUpdate, Host),
    Operation("hosts", "delete", "DELETE", _H, "Delete a host", _MANAGE, delete_host, HostChange, None,
              status=204),
    Operation("hosts", "disable", "POST", _H + "/disable", "Disable a host", _TOGGLE, disable_host,
              HostChange, Host),
    Operation("hosts", "enable", "POST", _H + "/enable", "Enable a host", _TOGGLE, enable_host, HostChange,
              Host),
    Operation("hosts", "rotate-webhook-secret", "POST", _H + "/rotate-webhook-secret",
              "Replace a host's webhook signing secret", _MANAGE, rotate_webhook_secret, HostChange,
              WebhookSecret, reveals="webhook_secret"),
    Operation("hosts", "deliveries", "GET", _H + "/deliveries", "List a host's webhook deliveries", _MANAGE,
              list_deliveries, DeliveryList, Page[WebhookDelivery],
              columns=("message_id", "status", "attempts", "last_status", "last_error")),
]  # fmt: skip
