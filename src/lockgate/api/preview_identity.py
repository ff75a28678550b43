"""Which identity a server's features preview runs as (product spec §4.1, §4.2: identities are
scoped to one server; private ones are their owner's alone, global ones a gateway's service account).

``identity`` is ``mine`` (the caller's own for the server), ``global`` (the server's global
identity), ``none`` (the server's own configuration only) or an identity's name; omitted, the
caller's own ready identity, else a global one they may use, else none. Anyone may preview as their
own identity; a global one needs "Identity management" or "Basic server management" (the
capabilities that create and manage global identities); another user's private identity never.
The secret is opened in memory only; what the answer shows is ``describe_identity`` without it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row

from lockgate.api.errors import Conflict, Forbidden, NotFound
from lockgate.domain.actor import Actor
from lockgate.domain.capabilities import Capability
from lockgate.domain.model import Availability, Credential, IdentityStatus
from lockgate.store.access import open_credential
from lockgate.store.identities import describe_identity, fetch_identity, usable_identities
from lockgate.vault import Vault

MINE, GLOBAL, NONE = "mine", "global", "none"
USES_GLOBAL = frozenset({Capability.IDENTITY_MANAGEMENT, Capability.BASIC_SERVER_MANAGEMENT})
SEES_ALL = frozenset({Capability.VIEW_ALL_IDENTITIES, Capability.IDENTITY_MANAGEMENT})


def choose_preview_identity(
    conn: Connection, actor: Actor, server_id: int, server: str, choice: str | None
) -> Row[Any] | None:
    """The identity row the preview of ``server`` runs as, or None for the server's own configuration.

    Raises:
        NotFound: no identity of that name the actor may see (another user's private identity,
            unless the actor sees every identity), or ``mine``/``global`` with none.
        Forbidden: a global identity without ``USES_GLOBAL``, or another user's private identity.
        Conflict: the identity is for another server, or disabled.
    """
    if choice == NONE:
        return None
    usable = usable_identities(conn, actor.user_id or 0, server_id)  # enabled, own or global
    own = sorted((r for r in usable if _own(actor, r)), key=lambda r: r.status != IdentityStatus.READY)
    shared = [r for r in usable if r.availability == Availability.GLOBAL.value]
    if choice is None:
        if own and own[0].status == IdentityStatus.READY:
            return own[0]
        return shared[0] if shared and _may_use_global(actor) else None
    if choice == MINE:
        if not own:
            raise NotFound(f"you have no enabled identity for server {server!r}")
        return own[0]
    if choice == GLOBAL:
        _require_global(actor)
        if not shared:
            raise NotFound(f"server {server!r} has no enabled global identity")
        return shared[0]
    return _named(conn, actor, server_id, server, choice)


def _named(conn: Connection, actor: Actor, server_id: int, server: str, name: str) -> Row[Any]:
    row = fetch_identity(conn, name)
    if not _own(actor, row):
        if row.availability != Availability.GLOBAL.value:
            if SEES_ALL & actor.capabilities:  # others get the answer for a name that does not exist
                raise Forbidden(
                    f"identity {name!r} is another user's: "
                    "a preview runs as your own identity or a global one"
                )
            raise NotFound(f"no identity named {name!r}")
        _require_global(actor)
        if row.server_id != server_id and not SEES_ALL & actor.capabilities:
            raise NotFound(f"no identity named {name!r}")  # as the identities API answers for it
    if row.server_id != server_id:
        raise Conflict(f"identity {name!r} is not for server {server!r}")
    if not row.enabled:
        raise Conflict(f"identity {name!r} is disabled")
    return row


def open_preview_credential(vault: Vault, row: Row[Any]) -> Credential:
    """The identity's credential, its secret opened in memory (``store.access.open_credential``)."""
    return open_credential(
        vault, row.id, row.name, row.kind, row.enabled, row.status, row.version, row.secret, row.expires_at
    )


def describe_preview_identity(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    """Who the preview ran as: ``name, kind, availability, owner`` (an email or None), no secret."""
    described = describe_identity(conn, row)
    return {k: described[k] for k in ("name", "kind", "availability", "owner")}


def _own(actor: Actor, row: Row[Any]) -> bool:
    return actor.user_id is not None and row.owner_id == actor.user_id


def _may_use_global(actor: Actor) -> bool:
    return bool(USES_GLOBAL & actor.capabilities)


def _require_global(actor: Actor) -> None:
    if not _may_use_global(actor):
        raise Forbidden(
            "previewing as a global identity needs 'Identity management' or 'Basic server management'",
            capability=Capability.IDENTITY_MANAGEMENT.value,
        )
