"""What Lockgate keeps as the OAuth client of upstream servers: one client registration per (server,
authorization server) with that server's metadata, and the authorizations users have started but not
finished (state → PKCE verifier), each taken back exactly once.

Client secrets and code verifiers are sealed by the vault; a state is stored only as its keyed hash.
Sources: MCP authorization 2026-07-28 §Client Registration (credentials are per issuer), RFC 7636
(the verifier stays with the client), RFC 6749 §10.12 (state binds the callback to its request).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, delete, select, update

from lockgate.domain.model import Availability, IdentityKind, IdentityStatus, Transport
from lockgate.domain.tokens import hash_token
from lockgate.oauth import AuthorizationServer, ClientRegistration, PendingAuthorization
from lockgate.store.errors import NotFoundError
from lockgate.store.rows import insert_returning_id
from lockgate.store.schema import identities, oauth_authorizations, oauth_clients, servers
from lockgate.store.servers import load_config
from lockgate.vault import Vault, place

PENDING_TTL: Final = 600.0
"""Seconds a started authorization may take before its callback is refused (the user starts again)."""


@dataclass(frozen=True, slots=True)
class StoredClient:
    """A stored client registration: its row ``id`` (identities name it as ``oauth_client_id``), the
    authorization server as last discovered and the registration itself, secret opened."""

    id: int
    server: AuthorizationServer
    client: ClientRegistration


@dataclass(frozen=True, slots=True)
class TakenAuthorization:
    """A started authorization, taken back by its state: what ``finish_authorization`` needs
    (``pending``; its ``url`` is not kept and is empty) and what it was started for."""

    identity_id: int
    user_id: int | None
    oauth_client_id: int
    return_to: str | None
    pending: PendingAuthorization


@dataclass(frozen=True, slots=True)
class OAuthTarget:
    """An identity about to be authorized and the server it is for. ``pre_registered`` is the
    server's configured ``(oauth_client_id, oauth_client_secret or None)``, None when unset;
    ``scope`` its configured ``oauth_scopes`` (None: the scopes discovery selects)."""

    identity_id: int
    identity_name: str
    owner_id: int | None
    kind: IdentityKind
    availability: Availability
    status: IdentityStatus
    server_id: int
    server_name: str
    transport: Transport
    url: str | None
    pre_registered: tuple[str, str | None] | None
    scope: str | None = None


def load_oauth_target(conn: Connection, vault: Vault, identity_id: int) -> OAuthTarget:
    """The identity ``identity_id`` with its server's name, transport, URL and pre-registered client.

    Raises:
        NotFoundError: there is no such identity.
        VaultError: the server's secrets do not open with this vault.
    """
    row = conn.execute(
        select(
            identities.c.id,
            identities.c.name,
            identities.c.owner_id,
            identities.c.kind,
            identities.c.availability,
            identities.c.status,
            servers.c.id.label("server_id"),
            servers.c.name.label("server_name"),
            servers.c.transport,
            servers.c.config,
            servers.c.secrets,
        )
        .join(servers, servers.c.id == identities.c.server_id)
        .where(identities.c.id == identity_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no identity {identity_id}")
    config = load_config(row, vault)
    client_id = config.get("oauth_client_id")
    secret = config.get("oauth_client_secret")
    return OAuthTarget(
        identity_id=row.id,
        identity_name=row.name,
        owner_id=row.owner_id,
        kind=IdentityKind(row.kind),
        availability=Availability(row.availability),
        status=IdentityStatus(row.status),
        server_id=row.server_id,
        server_name=row.server_name,
        transport=Transport(row.transport),
        url=config.get("url"),
        pre_registered=(client_id, secret or None) if client_id else None,
        scope=config.get("oauth_scopes") or None,
    )


def save_oauth_client(
    conn: Connection, vault: Vault, server_id: int, server: AuthorizationServer, client: ClientRegistration
) -> int:
    """Store the registration ``client`` at ``server`` for the MCP server ``server_id``, replacing
    the one stored for the same (server, issuer) if any (identities keep pointing at the same row;
    refresh tokens issued to a replaced client id will be refused). Returns the row id.

    Raises:
        ValueError: ``client`` was registered at another issuer than ``server``'s.
    """
    if client.issuer != server.issuer:
        raise ValueError("a client registration is stored only with its own authorization server")
    values = {
        "client_id": client.client_id,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "kind": client.kind,
        "metadata": server.metadata,
        "resource": server.resource,
    }
    where = (oauth_clients.c.server_id == server_id) & (oauth_clients.c.issuer == server.issuer)
    found = conn.execute(select(oauth_clients.c.id).where(where)).scalar()
    if found is None:
        found = insert_returning_id(
            conn,
            oauth_clients,
            {"server_id": server_id, "issuer": server.issuer, "created_at": time.time(), **values},
        )
    row_id = int(found)
    sealed = None
    if client.client_secret is not None:
        sealed = vault.seal(client.client_secret, place("oauth_clients", row_id, "secret"))
    conn.execute(update(oauth_clients).where(oauth_clients.c.id == row_id).values(secret=sealed, **values))
    return row_id


def save_oauth_metadata(conn: Connection, oauth_client_id: int, server: AuthorizationServer) -> None:
    """Keep the authorization server's metadata and the resource indicator as just discovered."""
    conn.execute(
        update(oauth_clients)
        .where(oauth_clients.c.id == oauth_client_id)
        .values(metadata=server.metadata, resource=server.resource)
    )


def find_oauth_client(conn: Connection, vault: Vault, server_id: int, issuer: str) -> StoredClient | None:
    """The registration stored for the MCP server ``server_id`` at ``issuer``, or None.

    Raises:
        VaultError: its secret does not open with this vault.
    """
    where = (oauth_clients.c.server_id == server_id) & (oauth_clients.c.issuer == issuer)
    row = conn.execute(select(oauth_clients).where(where)).first()
    return _stored(vault, row) if row is not None else None


def load_oauth_client(
    conn: Connection, vault: Vault, oauth_client_id: int
) -> tuple[AuthorizationServer, ClientRegistration]:
    """The authorization server (as last discovered; ``scopes`` empty) and the client registration
    stored as ``oauth_client_id``: what refreshing an identity's tokens needs.

    Raises:
        NotFoundError: there is no such registration.
        VaultError: its secret does not open with this vault.
    """
    row = conn.execute(select(oauth_clients).where(oauth_clients.c.id == oauth_client_id)).first()
    if row is None:
        raise NotFoundError(f"no OAuth client {oauth_client_id}")
    stored = _stored(vault, row)
    return stored.server, stored.client


def _stored(vault: Vault, row: Any) -> StoredClient:
    secret = vault.open(row.secret, place("oauth_clients", row.id, "secret")) if row.secret else None
    return StoredClient(
        id=row.id,
        server=AuthorizationServer(row.issuer, dict(row.metadata), row.resource),
        client=ClientRegistration(
            issuer=row.issuer,
            client_id=row.client_id,
            client_secret=secret,
            token_endpoint_auth_method=row.token_endpoint_auth_method,
            kind=row.kind,
        ),
    )


def save_pending_authorization(
    conn: Connection,
    vault: Vault,
    key: bytes,
    pending: PendingAuthorization,
    *,
    identity_id: int,
    user_id: int | None,
    oauth_client_id: int,
    return_to: str | None,
    now: float | None = None,
    ttl: float = PENDING_TTL,
) -> None:
    """Keep a started authorization until its callback, for ``ttl`` seconds: the state as its
    HMAC-SHA256 under ``key``, the code verifier sealed. Expired ones are deleted on the way."""
    now = time.time() if now is None else now
    conn.execute(delete(oauth_authorizations).where(oauth_authorizations.c.expires_at <= now))
    authorization = {
        "state_hash": hash_token(key, pending.state),
        "identity_id": identity_id,
        "user_id": user_id,
        "oauth_client_id": oauth_client_id,
        "redirect_uri": pending.redirect_uri,
        "scope": pending.scope,
        "return_to": return_to,
        "created_at": now,
        "expires_at": now + ttl,
    }
    row_id = insert_returning_id(conn, oauth_authorizations, authorization)
    sealed = vault.seal(
        {"code_verifier": pending.code_verifier}, place("oauth_authorizations", row_id, "secret")
    )
    conn.execute(
        update(oauth_authorizations).where(oauth_authorizations.c.id == row_id).values(secret=sealed)
    )


def take_pending_authorization(
    conn: Connection, vault: Vault, key: bytes, state: str, *, now: float | None = None
) -> TakenAuthorization | None:
    """The authorization started with ``state``, deleted so that it is taken exactly once (of two
    concurrent takers, one gets it); None when there is none, it was taken, or it expired.

    Raises:
        VaultError: its code verifier does not open with this vault.
    """
    now = time.time() if now is None else now
    a = oauth_authorizations
    row = conn.execute(
        select(a, oauth_clients.c.issuer, oauth_clients.c.resource)
        .join(oauth_clients, oauth_clients.c.id == a.c.oauth_client_id)
        .where(a.c.state_hash == hash_token(key, state))
    ).first()
    if row is None:
        return None
    if conn.execute(delete(a).where(a.c.id == row.id)).rowcount != 1:
        return None
    if row.expires_at <= now or row.secret is None:
        return None
    secret = vault.open(row.secret, place("oauth_authorizations", row.id, "secret"))
    pending = PendingAuthorization(
        url="",
        state=state,
        code_verifier=secret["code_verifier"],
        redirect_uri=row.redirect_uri,
        issuer=row.issuer,
        resource=row.resource,
        scope=row.scope,
    )
    return TakenAuthorization(row.identity_id, row.user_id, row.oauth_client_id, row.return_to, pending)
