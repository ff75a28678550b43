"""Browser sessions of signed-in users: a random cookie value, stored only as its HMAC-SHA256 under
the instance key, read fresh on every request (a deactivated user's sessions stop at once)."""

from __future__ import annotations

import secrets
import time
from typing import Final

from sqlalchemy import Connection, delete, insert, select

from lockgate.domain.actor import Actor
from lockgate.domain.tokens import hash_token
from lockgate.store.people import load_user_actor
from lockgate.store.schema import roles, users, web_sessions

SESSION_TTL: Final = 12 * 3600.0
"""Seconds a session lasts from sign-in."""


def save_web_session(conn: Connection, key: bytes, user_id: int, *, now: float | None = None) -> str:
    """A new session for the user; returns the cookie value (256 random bits), which is not stored.
    Expired sessions are deleted on the way."""
    now = time.time() if now is None else now
    conn.execute(delete(web_sessions).where(web_sessions.c.expires_at <= now))
    token = secrets.token_urlsafe(32)
    conn.execute(
        insert(web_sessions).values(
            token_hash=hash_token(key, token), user_id=user_id, created_at=now, expires_at=now + SESSION_TTL
        )
    )
    return token


def load_session_actor(conn: Connection, key: bytes, token: str, *, now: float | None = None) -> Actor | None:
    """Who the session cookie ``token`` signs in, with their role's capabilities and the gateways
    their teams are granted; None when it is unknown, expired, or its user is deactivated."""
    now = time.time() if now is None else now
    row = conn.execute(
        select(users.c.id, users.c.email, roles.c.name.label("role"), roles.c.capabilities)
        .join(web_sessions, web_sessions.c.user_id == users.c.id)
        .join(roles, roles.c.id == users.c.role_id)
        .where(
            (web_sessions.c.token_hash == hash_token(key, token))
            & (web_sessions.c.expires_at > now)
            & users.c.active
        )
    ).first()
    return None if row is None else load_user_actor(conn, row)


def delete_web_session(conn: Connection, key: bytes, token: str) -> None:
    """End the session (signing out); nothing happens when there is none."""
    conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == hash_token(key, token)))
