"""API tokens: created for one connection, listed, revoked. Only the keyed hash is stored."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, insert, select, update

from lockgate.domain.tokens import hash_token, mint_token
from lockgate.store.catalog import resolve_connection
from lockgate.store.errors import NotFoundError
from lockgate.store.rows import as_dict
from lockgate.store.schema import api_tokens, connections, gateways, hosts, users


def create_token(engine: Engine, key: bytes, host: str, gateway: str, email: str | None) -> tuple[str, str]:
    """Mint a token for host × gateway × user, creating the user and connection when new.

    Returns ``(public_id, token)``; the token itself is never stored and cannot be shown again.

    Raises:
        NotFoundError: the host or gateway does not exist.
    """
    public_id, token = mint_token()
    with engine.begin() as conn:
        connection_id = resolve_connection(conn, host, gateway, email, create=True)
        conn.execute(
            insert(api_tokens).values(
                public_id=public_id,
                token_hash=hash_token(key, token),
                connection_id=connection_id,
                created_at=time.time(),
            )
        )
    return public_id, token


def revoke_token(engine: Engine, public_id: str) -> bool:
    """Revoke a token by its public id; refused from the next request on. Returns True when it changed.

    Raises:
        NotFoundError: no token has that id.
    """
    with engine.begin() as conn:
        row = conn.execute(select(api_tokens.c.revoked_at).where(api_tokens.c.public_id == public_id)).first()
        if row is None:
            raise NotFoundError(f"no token with id {public_id!r}")
        if row.revoked_at is not None:
            return False
        conn.execute(
            update(api_tokens).where(api_tokens.c.public_id == public_id).values(revoked_at=time.time())
        )
        return True


def list_tokens(engine: Engine) -> list[dict[str, Any]]:
    """Every token's public id, connection names, creation and revocation times (never the token)."""
    query = (
        select(
            api_tokens.c.public_id.label("id"),
            hosts.c.name.label("host"),
            gateways.c.name.label("gateway"),
            users.c.email.label("user"),
            api_tokens.c.created_at,
            api_tokens.c.revoked_at,
        )
        .join(connections, connections.c.id == api_tokens.c.connection_id)
        .join(hosts, hosts.c.id == connections.c.host_id)
        .join(gateways, gateways.c.id == connections.c.gateway_id)
        .join(users, users.c.id == connections.c.user_id)
        .order_by(api_tokens.c.created_at)
    )
    with engine.connect() as conn:
        return [as_dict(r) for r in conn.execute(query)]


__all__ = ["NotFoundError", "create_token", "list_tokens", "revoke_token"]
