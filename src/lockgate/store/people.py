"""Users, their role and teams, and their personal access tokens; who a control-plane caller is."""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Connection, Engine, Row, insert, select, update

from lockgate.domain.actor import Actor
from lockgate.domain.capabilities import BuiltinRole, Capability
from lockgate.domain.tokens import hash_token, mint_personal_access_token
from lockgate.store.admin_events import save_admin_event
from lockgate.store.errors import ConflictError, NotFoundError
from lockgate.store.records import page
from lockgate.store.rows import as_dict, insert_returning_id
from lockgate.store.schema import (
    gateways,
    personal_access_tokens,
    roles,
    team_gateways,
    team_members,
    teams,
    users,
)


def role_capabilities(name: str, stored: list[str]) -> frozenset[Capability]:
    """What a role holds. Super admin holds every capability, whatever is stored (locked on);
    keys no longer known are ignored."""
    if name == BuiltinRole.SUPER_ADMIN:
        return frozenset(Capability)
    known = {c.value for c in Capability}
    return frozenset(Capability(c) for c in stored if c in known)


def role_id(conn: Connection, name: str) -> int:
    """Raises NotFoundError when there is no such role."""
    found = conn.execute(select(roles.c.id).where(roles.c.name == str(name))).scalar()
    if found is None:
        raise NotFoundError(f"no role named {str(name)!r}")
    return int(found)


def ensure_user(conn: Connection, email: str) -> int:
    """The id of the user with ``email``, created with the Member role when new."""
    found = conn.execute(select(users.c.id).where(users.c.email == email)).scalar()
    if found is not None:
        return int(found)
    values = {
        "email": email,
        "role_id": role_id(conn, BuiltinRole.MEMBER),
        "active": True,
        "version": 1,
        "created_at": time.time(),
    }
    return insert_returning_id(conn, users, values)


def load_actor(conn: Connection, token_hash: str, now: float) -> Actor | None:
    """The user a personal access token stands for, with their role's capabilities and the
    gateways their teams are granted; None when the token is unknown, revoked, expired, or its
    user deactivated. Read fresh on every request."""
    row = conn.execute(
        select(users.c.id, users.c.email, roles.c.name.label("role"), roles.c.capabilities)
        .join(personal_access_tokens, personal_access_tokens.c.user_id == users.c.id)
        .join(roles, roles.c.id == users.c.role_id)
        .where(
            (personal_access_tokens.c.token_hash == token_hash)
            & personal_access_tokens.c.revoked_at.is_(None)
            & (personal_access_tokens.c.expires_at.is_(None) | (personal_access_tokens.c.expires_at > now))
            & users.c.active
        )
    ).first()
    return None if row is None else load_user_actor(conn, row)


def create_personal_access_token(
    conn: Connection, key: bytes, user_id: int, name: str, expires_at: float | None
) -> tuple[dict[str, Any], str]:
    """Mint a token for the user. Returns its stored row (never the token) and the token, which
    cannot be shown again."""
    public_id, token = mint_personal_access_token()
    values = {
        "public_id": public_id,
        "token_hash": hash_token(key, token),
        "user_id": user_id,
        "name": name,
        "created_at": time.time(),
        "expires_at": expires_at,
    }
    conn.execute(insert(personal_access_tokens).values(values))
    row = conn.execute(
        select(personal_access_tokens).where(personal_access_tokens.c.public_id == public_id)
    ).one()
    return as_dict(row), token


def bootstrap_super_admin(
    engine: Engine, key: bytes, email: str, *, recorded_as: str | None = None
) -> str | None:
    """Create the first Super admin and a personal access token for them; None (and nothing
    created) when a Super admin already exists. The token is returned once and stored hashed.
    With ``recorded_as`` (an actor, e.g. ``operator@<login name>``) the new Super admin is an admin
    event of operation ``init``, in the same transaction, as the control plane records a user."""
    with engine.begin() as conn:
        super_admin = role_id(conn, BuiltinRole.SUPER_ADMIN)
        if conn.execute(select(users.c.id).where(users.c.role_id == super_admin)).first():
            return None
        user_id = ensure_user(conn, email)
        conn.execute(update(users).where(users.c.id == user_id).values(role_id=super_admin, active=True))
        _row, token = create_personal_access_token(conn, key, user_id, "lockgate init", None)
        if recorded_as is not None:
            after = describe_user(conn, fetch_user(conn, email))
            save_admin_event(
                conn,
                correlation_id=str(uuid.uuid4()),
                actor=recorded_as,
                operation="init",
                kind="user",
                name=email,
                before=None,
                after=after,
            )
        return token


def fetch_user(conn: Connection, email: str) -> Row[Any]:
    """The user with ``email``.

    Raises:
        NotFoundError: there is none.
    """
    row = conn.execute(select(users).where(users.c.email == email)).first()
    if row is None:
        raise NotFoundError(f"no user with email {email!r}")
    return row


def fetch_user_actor(conn: Connection, email: str) -> Actor:
    """The user with ``email`` as an actor: their role's capabilities and their teams' gateways.

    Raises:
        NotFoundError: there is none.
    """
    row = conn.execute(
        select(users.c.id, users.c.email, roles.c.name.label("role"), roles.c.capabilities)
        .join(roles, roles.c.id == users.c.role_id)
        .where(users.c.email == email)
    ).first()
    if row is None:
        raise NotFoundError(f"no user with email {email!r}; people are added with 'users create'")
    return load_user_actor(conn, row)


def describe_user(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    """``{email, role, active, teams, version, created_at}``; ``role`` is the role's name."""
    role = conn.execute(select(roles.c.name).where(roles.c.id == row.role_id)).scalar_one()
    return {
        "email": row.email,
        "role": role,
        "active": row.active,
        "teams": list_user_teams(conn, row.id),
        "version": row.version,
        "created_at": row.created_at,
    }


def list_users(
    conn: Connection,
    *,
    email_contains: str | None,
    role: str | None,
    active: bool | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of users by email, as ``describe_user`` gives them; ``role`` is a role's name."""
    query = select(users)
    if email_contains:
        query = query.where(users.c.email.contains(email_contains, autoescape=True))
    if role is not None:
        query = query.where(users.c.role_id.in_(select(roles.c.id).where(roles.c.name == role)))
    if active is not None:
        query = query.where(users.c.active == active)
    rows, next_cursor = page(conn, query, users.c.email, cursor, limit)
    return [describe_user(conn, row) for row in rows], next_cursor


def list_user_teams(conn: Connection, user_id: int | None) -> list[str]:
    """The names of the teams the user is a member of, sorted."""
    query = (
        select(teams.c.name)
        .join(team_members, team_members.c.team_id == teams.c.id)
        .where(team_members.c.user_id == user_id)
        .order_by(teams.c.name)
    )
    return [t.name for t in conn.execute(query)]


def lock_active_super_admins(conn: Connection) -> list[int]:
    """The ids of the active Super admins, locked until the transaction ends (``FOR UPDATE`` on
    PostgreSQL; SQLite has one writer at a time), so two requests cannot each demote a different
    one of the last two."""
    query = (
        select(users.c.id)
        .join(roles, roles.c.id == users.c.role_id)
        .where((roles.c.name == BuiltinRole.SUPER_ADMIN.value) & users.c.active)
        .order_by(users.c.id)
        .with_for_update(of=users)
    )
    return [r.id for r in conn.execute(query)]


def list_usable_gateways(conn: Connection, visible: Collection[int] | None) -> list[str]:
    """The names of the live (not archived) gateways among ``visible`` (None: all of them), sorted."""
    query = select(gateways.c.name).where(~gateways.c.archived).order_by(gateways.c.name)
    if visible is not None:
        query = query.where(gateways.c.id.in_(visible))
    return [g.name for g in conn.execute(query)]


def describe_personal_access_token(row: Mapping[Any, Any]) -> dict[str, Any]:
    """``{id, name, created_at, expires_at, revoked_at}`` of a stored token: never the token or its
    hash. ``id`` is the public ``pat_...`` id."""
    return {"id": row["public_id"]} | {k: row[k] for k in ("name", "created_at", "expires_at", "revoked_at")}


def list_personal_access_tokens(
    conn: Connection, user_id: int, *, active: bool | None, now: float, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the user's tokens, oldest first; ``active`` True keeps those neither revoked nor
    expired at ``now``, False the others."""
    t = personal_access_tokens
    query = select(t).where(t.c.user_id == user_id)
    usable = t.c.revoked_at.is_(None) & (t.c.expires_at.is_(None) | (t.c.expires_at > now))
    if active is not None:
        query = query.where(usable if active else ~usable)
    rows, next_cursor = page(conn, query, t.c.id, cursor, limit)
    return [describe_personal_access_token(row._mapping) for row in rows], next_cursor


def fetch_personal_access_token(conn: Connection, user_id: int, public_id: str) -> Row[Any]:
    """The user's token with ``public_id``.

    Raises:
        NotFoundError: the user has no such token (another user's token is not theirs to see).
    """
    t = personal_access_tokens
    row = conn.execute(select(t).where((t.c.public_id == public_id) & (t.c.user_id == user_id))).first()
    if row is None:
        raise NotFoundError(f"no personal access token {public_id!r}")
    return row


def revoke_personal_access_token(conn: Connection, row: Row[Any], now: float) -> Row[Any]:
    """Revoke the token: it is refused from the next request on. Returns the row as stored.

    Raises:
        ConflictError: it is already revoked.
    """
    t = personal_access_tokens
    revoked = conn.execute(
        update(t).where((t.c.id == row.id) & t.c.revoked_at.is_(None)).values(revoked_at=now)
    ).rowcount
    if not revoked:
        raise ConflictError(f"personal access token {row.public_id!r} is already revoked")
    return conn.execute(select(t).where(t.c.id == row.id)).one()


def load_user_actor(conn: Connection, row: Any) -> Actor:
    """The actor a user row (``id``, ``email``, ``role`` name, role ``capabilities``) acts as, with
    the gateways their teams are granted."""
    granted = conn.execute(
        select(team_gateways.c.gateway_id)
        .join(team_members, team_members.c.team_id == team_gateways.c.team_id)
        .where(team_members.c.user_id == row.id)
    )
    return Actor(
        user_id=row.id,
        email=row.email,
        role=row.role,
        capabilities=role_capabilities(row.role, row.capabilities),
        gateway_ids=frozenset(g.gateway_id for g in granted),
    )
