"""API tokens: created for one connection, listed, revoked, optionally expiring. Only the keyed hash
is stored."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, insert, select, update

from lockgate.domain.tokens import hash_token, mint_token
from lockgate.store.connections import filter_connections, resolve_connection
from lockgate.store.errors import NotFoundError
from lockgate.store.people import ensure_user
from lockgate.store.records import page
from lockgate.store.schema import api_tokens, connections, gateways, hosts, users

_NAMED: Select[Any] = (
    select(
        api_tokens.c.id,
        api_tokens.c.public_id,
        hosts.c.name.label("host"),
        connections.c.gateway_id,
        gateways.c.name.label("gateway"),
        users.c.email.label("user"),
        api_tokens.c.created_at,
        api_tokens.c.revoked_at,
        api_tokens.c.expires_at,
        api_tokens.c.private_identities,
    )
    .join(connections, connections.c.id == api_tokens.c.connection_id)
    .join(hosts, hosts.c.id == connections.c.host_id)
    .join(gateways, gateways.c.id == connections.c.gateway_id)
    .join(users, users.c.id == connections.c.user_id)
)


def create_token(
    engine: Engine, key: bytes, host: str, gateway: str, email: str | None, *, minted_by: int | None
) -> tuple[str, str]:
    """A mint outside the control plane (the demo, tests), in a transaction of its own: the user is
    made when new, and the token calls as their private identities; it never expires. The control
    plane and the connection link decide both through ``policy.tokens`` and call ``save_token``."""
    with engine.begin() as conn:
        if email is not None:
            ensure_user(conn, email)
        return save_token(
            conn, key, host, gateway, email, minted_by=minted_by, private_identities=True, expires_at=None
        )


def save_token(
    conn: Connection,
    key: bytes,
    host: str,
    gateway: str,
    email: str | None,
    *,
    minted_by: int | None,
    private_identities: bool,
    expires_at: float | None,
) -> tuple[str, str]:
    """Mint a token for host × gateway × user (``email`` None: the host's agent user), creating the
    connection when new. ``private_identities``: whether it calls as the user's private identities
    (``policy.tokens.can_use_private_identities``); ``expires_at``: Unix seconds, None for never.

    The token stands on its sponsor (``api_tokens.sponsor_id``), and the data plane refuses it
    while the sponsor may not use the gateway: the user named by ``email``, or for the host's agent
    user (``email`` None) whoever mints it, ``minted_by`` (None: the instance operator, on whom it
    stands until it is revoked).

    Returns ``(public_id, token)``; the token itself is never stored and cannot be shown again.

    Raises:
        NotFoundError: the host, gateway or named user does not exist.
    """
    public_id, token = mint_token()
    connection_id = resolve_connection(conn, host, gateway, email, create=True)
    sponsor_id = minted_by
    if email is not None:
        sponsor_id = conn.execute(
            select(connections.c.user_id).where(connections.c.id == connection_id)
        ).scalar()
    conn.execute(
        insert(api_tokens).values(
            public_id=public_id,
            token_hash=hash_token(key, token),
            connection_id=connection_id,
            sponsor_id=sponsor_id,
            created_at=time.time(),
            expires_at=expires_at,
            private_identities=private_identities,
        )
    )
    return public_id, token


def save_revocation(conn: Connection, public_id: str) -> Row[Any]:
    """Revoke a token now unless it already is; returns it as ``fetch_token`` does."""
    conn.execute(
        update(api_tokens)
        .where((api_tokens.c.public_id == public_id) & api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=time.time())
    )
    return fetch_token(conn, public_id)


def fetch_token(conn: Connection, public_id: str) -> Row[Any]:
    """The token's ``public_id``, ``host``, ``gateway`` (and ``gateway_id``), ``user`` (email),
    ``created_at``, ``revoked_at``, ``expires_at`` and ``private_identities``; never the token.

    Raises:
        NotFoundError: no token has that id.
    """
    row = conn.execute(_NAMED.where(api_tokens.c.public_id == public_id)).first()
    if row is None:
        raise NotFoundError(f"no token with id {public_id!r}")
    return row


def load_token_page(
    conn: Connection,
    *,
    visible: Collection[int] | None,
    host: str | None,
    gateway: str | None,
    user: str | None,
    revoked: bool | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Row[Any]], str | None]:
    """A page of tokens as ``fetch_token`` gives them, oldest first, narrowed as
    ``filter_connections`` does; ``revoked`` True or False keeps only revoked or live ones.

    Raises:
        ValueError: a malformed cursor.
    """
    query = filter_connections(_NAMED, visible=visible, host=host, gateway=gateway, user=user)
    if revoked is not None:
        revoked_at = api_tokens.c.revoked_at
        query = query.where(revoked_at.is_not(None) if revoked else revoked_at.is_(None))
    return page(conn, query, api_tokens.c.id, cursor, limit)
