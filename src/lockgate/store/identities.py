"""Identities: credentials scoped to one server, their sealed secrets, and the identity each user
chose for a per-user assignment (product spec §4.1, §4.2).

A secret is sealed by the vault at ``identities.<id>.secret``: ``{"headers": {...}}`` for a headers
identity (header values for http and sse servers, environment variables for stdio ones), the token
set ``{"access_token", "token_type", "refresh_token"}`` for an OAuth one, nothing for kind none.
Only the header *names* are kept in the clear (``header_names``), to be shown. Values are checked
against their server before they are stored (``check_identity_headers``): they stay data upstream.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Row, Select, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from lockgate.domain.model import Availability, IdentityKind, IdentityScheme, IdentityStatus, Transport
from lockgate.domain.upstream_values import check_identity_values
from lockgate.store.errors import ConflictError, NotFoundError
from lockgate.store.records import page, update_row
from lockgate.store.rows import insert_returning_id
from lockgate.store.schema import (
    gateway_servers,
    gateways,
    identities,
    identity_choices,
    oauth_clients,
    servers,
    users,
)
from lockgate.store.servers import ANY_GATEWAY
from lockgate.vault import Vault, place

_UNSAFE = re.compile(r"[^A-Za-z0-9_.@+-]")
_MAX_NAME = 160


@dataclass(frozen=True, slots=True)
class IdentityScope:
    """Which identities a caller may see without "View all identities": their own (``owner_id``),
    and the global identities of the servers they see — servers on the gateways ``gateways``
    (None: every server; ``ANY_GATEWAY``: servers on some gateway)."""

    owner_id: int | None
    gateways: Collection[int] | Literal["any"] | None


def default_identity_name(conn: Connection, owner_email: str | None, server_name: str) -> str:
    """``<email>/<server>`` (``<server>`` without an owner), with ``-2``, ``-3`` ... appended while
    the name is taken. Characters an identity's name may not hold (``IDENTITY_NAME``) become ``-``."""
    server = _UNSAFE.sub("-", server_name)
    base = server if owner_email is None else f"{_UNSAFE.sub('-', owner_email)}/{server}"
    base = base[: _MAX_NAME - 4]
    taken = {
        r.name
        for r in conn.execute(
            select(identities.c.name).where(identities.c.name.startswith(base, autoescape=True))
        )
    }
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def create_identity(
    conn: Connection,
    vault: Vault,
    *,
    name: str | None,
    server_id: int,
    owner_id: int | None,
    kind: IdentityKind,
    availability: Availability,
    headers: Mapping[str, str] | None = None,
    status: IdentityStatus = IdentityStatus.READY,
) -> Row[Any]:
    """Insert an identity and return its row. ``name`` None takes ``default_identity_name``;
    ``headers`` (kind headers) are sealed at ``identities.<id>.secret`` once the row has its id.
    None and OAuth identities hold no secret until tokens arrive (``save_oauth_tokens``).

    Raises:
        ConflictError: the name is taken.
        NotFoundError: no such server or owner (when ``name`` is None).
        UpstreamValueError: ``headers`` may not go to this server (``check_identity_headers``).
    """
    if kind is IdentityKind.HEADERS:
        check_identity_headers(conn, server_id, headers or {})
    if name is None:
        name = default_identity_name(conn, _owner_email(conn, owner_id), _server_name(conn, server_id))
    now = time.time()
    values = {
        "name": name,
        "server_id": server_id,
        "owner_id": owner_id,
        "kind": kind.value,
        "availability": availability.value,
        "enabled": True,
        "status": status.value,
        "header_names": [],
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    try:
        with conn.begin_nested():
            new_id = insert_returning_id(conn, identities, values)
    except IntegrityError as exc:
        raise ConflictError(f"an identity named {name!r} already exists") from exc
    if kind is IdentityKind.HEADERS:
        conn.execute(
            update(identities)
            .where(identities.c.id == new_id)
            .values(**identity_header_values(vault, new_id, headers or {}))
        )
    return _load(conn, new_id)


def check_identity_headers(conn: Connection, server_id: int, headers: Mapping[str, str]) -> None:
    """Raises UpstreamValueError unless an identity of server ``server_id`` may hold ``headers``:
    header fields for an http or sse server, for a stdio server only the environment variables it
    declares for identities (``lockgate.domain.upstream_values.check_identity_values``).

    Raises:
        NotFoundError: there is no such server.
        UpstreamValueError: a value that may not go to it, named (never shown).
    """
    row = conn.execute(select(servers.c.transport, servers.c.config).where(servers.c.id == server_id)).first()
    if row is None:
        raise NotFoundError(f"no server {server_id}")
    declared = (row.config or {}).get("identity_env") or ()
    check_identity_values(row.transport == Transport.STDIO.value, headers, declared)


def identity_header_values(vault: Vault, identity_id: int, headers: Mapping[str, str]) -> dict[str, Any]:
    """The columns that store ``headers`` as identity ``identity_id``'s secret: ``header_names``
    (sorted) and ``secret`` (sealed; None when there are none)."""
    sealed = vault.seal({"headers": dict(headers)}, _place(identity_id)) if headers else None
    return {"header_names": sorted(headers), "secret": sealed}


def save_identity_headers(
    conn: Connection, vault: Vault, row: Row[Any], headers: Mapping[str, str], expected: int | None = None
) -> Row[Any]:
    """Replace the identity's header values (all of them) and bump its version.

    Raises:
        StaleVersionError: it is no longer at ``expected``.
    """
    return update_row(
        conn, identities, row, "identity", identity_header_values(vault, row.id, headers), expected
    )


def save_oauth_tokens(
    conn: Connection,
    vault: Vault,
    identity_id: int,
    *,
    access_token: str,
    token_type: str,
    refresh_token: str | None,
    expires_at: float | None,
    scope: str | None,
    oauth_client_id: int | None,
) -> Row[Any]:
    """Store a token set obtained for the identity (RFC 6749 §5.1): the tokens sealed, expiry
    (unix seconds) and scope in the clear; the identity becomes ready, shows the header name
    ``Authorization`` and its version is bumped. Returns the row as stored.

    Raises:
        NotFoundError: there is no such identity.
    """
    row = _load(conn, identity_id)
    tokens = {"access_token": access_token, "token_type": token_type, "refresh_token": refresh_token}
    values = {
        "secret": vault.seal(tokens, _place(identity_id)),
        "header_names": ["Authorization"],
        "expires_at": expires_at,
        "scope": scope,
        "oauth_client_id": oauth_client_id,
        "status": IdentityStatus.READY.value,
    }
    return update_row(conn, identities, row, "identity", values, None)


def mark_needs_reauthorization(conn: Connection, identity_id: int) -> Row[Any]:
    """The identity's refresh was refused: its user must authorize again. Bumps its version.

    Raises:
        NotFoundError: there is no such identity.
    """
    row = _load(conn, identity_id)
    return update_row(
        conn, identities, row, "identity", {"status": IdentityStatus.NEEDS_REAUTHORIZATION.value}, None
    )


def open_identity_secret(vault: Vault, row: Any) -> dict[str, Any]:
    """The identity's secret opened: ``{"headers": {...}}``, the OAuth token set, or ``{}``.

    Raises:
        VaultError: it does not open with this vault (a wrong key, or copied from another row).
    """
    if not row.secret:
        return {}
    opened: dict[str, Any] = vault.open(row.secret, _place(row.id))
    return opened


def fetch_identity(conn: Connection, name: str) -> Row[Any]:
    """The identity called ``name``.

    Raises:
        NotFoundError: there is none.
    """
    row = conn.execute(select(identities).where(identities.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no identity named {name!r}")
    return row


def describe_identity(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    """The identity as people see it, never its secret: ``name, server, owner`` (an email or None),
    ``kind, availability, enabled, status, header_names, expires_at, scope, version, created_at,
    updated_at``."""
    server = _server_name(conn, row.server_id)
    return _described(row._mapping, server, _owner_email(conn, row.owner_id))


def list_identities(
    conn: Connection,
    *,
    scope: IdentityScope | None,
    server: str | None,
    owner: str | None,
    availability: Availability | None,
    enabled: bool | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of identities by name, as ``describe_identity`` gives them. ``scope`` None lists
    every identity, else only those it allows; ``server`` is a server's name, ``owner`` an email.

    Raises:
        ValueError: a malformed cursor.
    """
    query: Select[Any] = (
        select(identities, servers.c.name.label("server_name"), users.c.email.label("owner_email"))
        .join(servers, servers.c.id == identities.c.server_id)
        .outerjoin(users, users.c.id == identities.c.owner_id)
    )
    if scope is not None:
        shown = identities.c.availability == Availability.GLOBAL.value
        if scope.gateways is not None:
            assigned = select(gateway_servers.c.server_id)
            if scope.gateways != ANY_GATEWAY:
                assigned = assigned.where(gateway_servers.c.gateway_id.in_(scope.gateways))
            shown &= identities.c.server_id.in_(assigned)
        if scope.owner_id is not None:
            shown |= identities.c.owner_id == scope.owner_id
        query = query.where(shown)
    if server is not None:
        query = query.where(servers.c.name == server)
    if owner is not None:
        query = query.where(users.c.email == owner)
    if availability is not None:
        query = query.where(identities.c.availability == availability.value)
    if enabled is not None:
        query = query.where(identities.c.enabled == enabled)
    rows, next_cursor = page(conn, query, identities.c.name, cursor, limit)
    return [_described(r._mapping, r.server_name, r.owner_email) for r in rows], next_cursor


def usable_identities(conn: Connection, user_id: int, server_id: int) -> list[Row[Any]]:
    """The enabled identities ``user_id`` may use for the server: their own and the global ones,
    by name."""
    query = (
        select(identities)
        .where(
            (identities.c.server_id == server_id)
            & identities.c.enabled
            & ((identities.c.owner_id == user_id) | (identities.c.availability == Availability.GLOBAL.value))
        )
        .order_by(identities.c.name)
    )
    return list(conn.execute(query))


def save_choice(conn: Connection, user_id: int, assignment_id: int, identity_id: int) -> None:
    """Remember that ``user_id`` uses ``identity_id`` for the per-user assignment ``assignment_id``,
    replacing an earlier choice."""
    where = (identity_choices.c.user_id == user_id) & (identity_choices.c.assignment_id == assignment_id)
    if conn.execute(update(identity_choices).where(where).values(identity_id=identity_id)).rowcount:
        return
    try:
        with conn.begin_nested():
            conn.execute(
                insert(identity_choices).values(
                    user_id=user_id, assignment_id=assignment_id, identity_id=identity_id
                )
            )
    except IntegrityError:  # a concurrent first choice: this later one wins
        conn.execute(update(identity_choices).where(where).values(identity_id=identity_id))


def shared_uses(conn: Connection, identity_id: int) -> list[str]:
    """The assignments that use the identity as their shared identity, as ``<gateway>/<assignment>``."""
    query = (
        select(gateways.c.name.label("gateway"), gateway_servers.c.name)
        .join(gateways, gateways.c.id == gateway_servers.c.gateway_id)
        .where(
            (gateway_servers.c.identity_id == identity_id)
            & (gateway_servers.c.identity_scheme == IdentityScheme.SHARED.value)
        )
        .order_by(gateways.c.name, gateway_servers.c.name)
    )
    return [f"{r.gateway}/{r.name}" for r in conn.execute(query)]


def delete_server_credentials(conn: Connection, server_id: int) -> list[dict[str, Any]]:
    """Delete every identity of a server (with the choices and shared assignments that name them)
    and its OAuth client registrations: what a server moved to another destination must not take
    with it (``ServerSpec.destination``). Returns the deleted identities as ``describe_identity``
    shows them, by name."""
    rows = conn.execute(
        select(identities).where(identities.c.server_id == server_id).order_by(identities.c.name)
    )
    deleted = [describe_identity(conn, row) for row in rows]
    conn.execute(delete(identities).where(identities.c.server_id == server_id))
    conn.execute(delete(oauth_clients).where(oauth_clients.c.server_id == server_id))
    return deleted


def _described(row: Mapping[Any, Any], server: str, owner: str | None) -> dict[str, Any]:
    fields = ("name", "kind", "availability", "enabled", "status", "header_names", "expires_at", "scope")
    stamps = ("version", "created_at", "updated_at")
    return (
        {k: row[k] for k in fields[:1]}
        | {"server": server, "owner": owner}
        | {k: row[k] for k in fields[1:]}
        | {"header_names": sorted(row["header_names"] or [])}
        | {k: row[k] for k in stamps}
    )


def _load(conn: Connection, identity_id: int) -> Row[Any]:
    row = conn.execute(select(identities).where(identities.c.id == identity_id)).first()
    if row is None:
        raise NotFoundError(f"no identity {identity_id}")
    return row


def _server_name(conn: Connection, server_id: int) -> str:
    name = conn.execute(select(servers.c.name).where(servers.c.id == server_id)).scalar()
    if name is None:
        raise NotFoundError(f"no server {server_id}")
    return str(name)


def _owner_email(conn: Connection, owner_id: int | None) -> str | None:
    if owner_id is None:
        return None
    email = conn.execute(select(users.c.email).where(users.c.id == owner_id)).scalar()
    if email is None:
        raise NotFoundError(f"no user {owner_id}")
    return str(email)


def _place(identity_id: int) -> bytes:
    return place("identities", identity_id, "secret")
