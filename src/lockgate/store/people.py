"""Users, their role and teams, and their personal access tokens; who a control-plane caller is."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from lockgate.domain.actor import Actor
from lockgate.domain.capabilities import BuiltinRole, Capability
from lockgate.domain.tokens import hash_token, mint_personal_access_token
from lockgate.store.errors import NotFoundError
from lockgate.store.schema import personal_access_tokens, roles, team_gateways, team_members, users


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
    return int(conn.execute(insert(users).values(values)).inserted_primary_key[0])  # type: ignore[index]


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
    if row is None:
        return None
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
    return dict(row._mapping), token


def bootstrap_super_admin(engine: Engine, key: bytes, email: str) -> str | None:
    """Create the first Super admin and a personal access token for them; None (and nothing
    created) when a Super admin already exists. The token is returned once and stored hashed."""
    with engine.begin() as conn:
        super_admin = role_id(conn, BuiltinRole.SUPER_ADMIN)
        if conn.execute(select(users.c.id).where(users.c.role_id == super_admin)).first():
            return None
        user_id = ensure_user(conn, email)
        conn.execute(update(users).where(users.c.id == user_id).values(role_id=super_admin, active=True))
        _row, token = create_personal_access_token(conn, key, user_id, "lockgate init", None)
        return token
