"""Hosts: the MCP clients that reach gateways. Create, rename, delete; the break-glass toggle."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Row

from lockgate.api.operation import Context, Input, Operation, Versioned
from lockgate.api.operations.common import ListInput, Name, Page, save_change
from lockgate.domain.capabilities import Capability
from lockgate.domain.model import HostKind
from lockgate.policy.access_control import EVERYONE
from lockgate.store.hosts import list_hosts as load_hosts
from lockgate.store.records import delete_row, fetch_named, insert_row
from lockgate.store.schema import hosts


class Host(BaseModel):
    name: str
    kind: HostKind = Field(description="How it authenticates: 'token', with API tokens.")
    enabled: bool
    version: int = Field(description="Bumped by every change; send it back as If-Match.")
    created_at: float


class HostList(ListInput):
    name_contains: str | None = Field(None, max_length=128)
    enabled: bool | None = None


class HostRef(Input):
    host: Name


class HostCreate(Input):
    name: Name
    kind: HostKind = HostKind.TOKEN


class HostUpdate(Versioned):
    host: Name
    name: Name | None = Field(None, description="A new name.")


class HostChange(Versioned):
    host: Name


def _view(row: Row[Any]) -> Host:
    return Host.model_validate(row, from_attributes=True)


def list_hosts(ctx: Context, args: HostList) -> Page[Host]:
    with ctx.transaction() as conn:
        rows, cursor = load_hosts(
            conn, name_contains=args.name_contains, enabled=args.enabled, cursor=args.cursor, limit=args.limit
        )
    return Page[Host](items=[_view(r) for r in rows], next_cursor=cursor)


def get_host(ctx: Context, args: HostRef) -> Host:
    with ctx.transaction() as conn:
        return _view(fetch_named(conn, hosts, args.host, "host"))


def create_host(ctx: Context, args: HostCreate) -> Host:
    """Add a host; mint API tokens for it to reach gateways."""
    with ctx.transaction() as conn:
        row = insert_row(conn, hosts, "host", {"name": args.name, "kind": args.kind.value, "enabled": True})
        after = _view(row)
        ctx.record(conn, "host", row.name, None, after.model_dump(mode="json"))
    return after


def _change(ctx: Context, host: str, expected: int | None, values: dict[str, Any]) -> Host:
    after = save_change(
        ctx,
        hosts,
        "host",
        lambda conn: fetch_named(conn, hosts, host, "host"),
        lambda _conn, row: _view(row).model_dump(mode="json"),
        values,
        expected,
    )
    return Host.model_validate(after)


def update_host(ctx: Context, args: HostUpdate) -> Host:
    """Rename a host. Its connections and API tokens keep working."""
    return _change(ctx, args.host, args.if_match, {"name": args.name} if args.name is not None else {})


def delete_host(ctx: Context, args: HostChange) -> None:
    """Delete a host with its connections and their API tokens."""
    with ctx.transaction() as conn:
        row = fetch_named(conn, hosts, args.host, "host")
        delete_row(conn, hosts, row, "host", args.if_match)
        ctx.record(conn, "host", row.name, _view(row).model_dump(mode="json"), None)


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
    Operation("hosts", "create", "POST", "/hosts", "Add a host", _MANAGE, create_host, HostCreate, Host,
              status=201),
    Operation("hosts", "update", "PATCH", _H, "Rename a host", _MANAGE, update_host, HostUpdate, Host),
    Operation("hosts", "delete", "DELETE", _H, "Delete a host", _MANAGE, delete_host, HostChange, None,
              status=204),
    Operation("hosts", "disable", "POST", _H + "/disable", "Disable a host", _TOGGLE, disable_host,
              HostChange, Host),
    Operation("hosts", "enable", "POST", _H + "/enable", "Enable a host", _TOGGLE, enable_host, HostChange,
              Host),
]  # fmt: skip
