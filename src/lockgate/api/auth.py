"""Who is calling: a personal access token in ``Authorization: Bearer`` (RFC 6750) → an Actor."""

from __future__ import annotations

import time

from sqlalchemy import Engine

from lockgate.api.errors import Unauthenticated
from lockgate.domain.actor import Actor
from lockgate.domain.tokens import PERSONAL_ACCESS_TOKEN_PREFIX, hash_token
from lockgate.store.people import load_actor


def bearer_token(authorization: str | None) -> str:
    """The token in an ``Authorization: Bearer`` header.

    Raises:
        Unauthenticated: no header, another scheme, or an empty token.
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("a personal access token is required: Authorization: Bearer lgp_...")
    return token.strip()


def authenticate(engine: Engine, key: bytes, authorization: str | None) -> Actor:
    """The actor a request's personal access token stands for, read fresh from the store.

    Raises:
        Unauthenticated: missing, unknown, revoked or expired token, or a deactivated user.
    """
    token = bearer_token(authorization)
    if not token.startswith(PERSONAL_ACCESS_TOKEN_PREFIX):
        raise Unauthenticated("not a personal access token (they start with lgp_)")
    with engine.connect() as conn:
        actor = load_actor(conn, hash_token(key, token), time.time())
    if actor is None:
        raise Unauthenticated("the personal access token is unknown, revoked or expired")
    return actor
