"""Refreshing an OAuth identity's access token (RFC 6749 §6), for the data plane.

Every database read and write runs on a worker thread (at most ``threads`` at once), so a round
trip to the database never blocks the event loop. No lock is held across the call to the
authorization server. Two gateway processes may refresh the
same identity at once; when the authorization server rotates refresh tokens the slower one is
refused, finds the identity already refreshed by the other, and uses that instead of marking it.
A refusal otherwise marks the identity as needing re-authorization and records an alert event.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from anyio import CapacityLimiter, to_thread
from sqlalchemy import Engine, Row, select

from lockgate.brokering.authorization import save_token_set
from lockgate.domain.model import Credential, IdentityStatus
from lockgate.oauth import AuthorizationServer, ClientRegistration, OAuthError, TokenSet, refresh
from lockgate.store.access import open_credential
from lockgate.store.admin_events import save_admin_event
from lockgate.store.identities import mark_needs_reauthorization, open_identity_secret
from lockgate.store.oauth import load_oauth_client
from lockgate.store.schema import identities
from lockgate.vault import Vault

REFUSALS = {"invalid_grant", "invalid_client", "unauthorized_client"}
"""Token endpoint errors that no retry will fix: the user must authorize again."""
ALERT_ACTOR = "lockgate"


class CredentialRefreshError(Exception):
    """The credential could not be refreshed; the message says why, never a token."""

    def __init__(self, message: str, *, needs_reauthorization: bool) -> None:
        super().__init__(message)
        self.needs_reauthorization = needs_reauthorization


class OAuthRefresher:
    """Refreshes OAuth identities with ``http`` (an egress-guarded client)."""

    def __init__(self, engine: Engine, vault: Vault, http: httpx.AsyncClient, *, threads: int = 4) -> None:
        self._engine = engine
        self._vault = vault
        self._http = http
        self._threads = CapacityLimiter(threads)

    async def __call__(self, credential: Credential) -> Credential:
        """The identity with a fresh access token.

        Raises:
            CredentialRefreshError: refused (``needs_reauthorization``) or not reachable.
        """
        row = await to_thread.run_sync(self._load, credential.identity_id, limiter=self._threads)
        if row.version != credential.version and (row.expires_at or 0) > time.time() + 60:
            return self.credential(row)  # another process refreshed it meanwhile
        secret = open_identity_secret(self._vault, row)
        refresh_token = secret.get("refresh_token")
        if not refresh_token or row.oauth_client_id is None:
            await to_thread.run_sync(self._refused, row, "no_refresh_token", limiter=self._threads)
            raise CredentialRefreshError(
                f"identity {row.name!r} has expired and holds no refresh token", needs_reauthorization=True
            )
        server, client = await to_thread.run_sync(self._client, row.oauth_client_id, limiter=self._threads)
        try:
            tokens = await refresh(self._http, server, client, refresh_token)
        except OAuthError as exc:
            if exc.error not in REFUSALS:  # e.g. "unreachable": worth trying again on a later call
                raise CredentialRefreshError(
                    f"identity {row.name!r} could not be refreshed: {exc}", needs_reauthorization=False
                ) from None
            current = await to_thread.run_sync(self._load, row.id, limiter=self._threads)
            if current.version != row.version and current.status == IdentityStatus.READY.value:
                return self.credential(current)
            await to_thread.run_sync(self._refused, row, exc.error, limiter=self._threads)
            raise CredentialRefreshError(
                f"the authorization server refused to refresh identity {row.name!r} ({exc.error})",
                needs_reauthorization=True,
            ) from None
        saved = await to_thread.run_sync(self._save, row, tokens, limiter=self._threads)
        return self.credential(saved)

    def credential(self, row: Row[Any]) -> Credential:
        """The identity as the data plane attaches it (``store.access.open_credential``)."""
        return open_credential(
            self._vault,
            row.id,
            row.name,
            row.kind,
            row.enabled,
            row.status,
            row.version,
            row.secret,
            row.expires_at,
        )

    def _load(self, identity_id: int) -> Row[Any]:
        with self._engine.connect() as conn:
            return conn.execute(select(identities).where(identities.c.id == identity_id)).one()

    def _client(self, oauth_client_id: int) -> tuple[AuthorizationServer, ClientRegistration]:
        with self._engine.connect() as conn:
            return load_oauth_client(conn, self._vault, oauth_client_id)

    def _save(self, row: Row[Any], tokens: TokenSet) -> Row[Any]:
        with self._engine.begin() as conn:
            return save_token_set(conn, self._vault, row.id, tokens, row.oauth_client_id)

    def _refused(self, row: Row[Any], error: str) -> None:
        """Mark the identity and record the alert event (product spec §8: OAuth failure alerts)."""
        with self._engine.begin() as conn:
            mark_needs_reauthorization(conn, row.id)
            save_admin_event(
                conn,
                correlation_id=str(uuid.uuid4()),
                actor=ALERT_ACTOR,
                operation="identities_refresh",
                kind="identity",
                name=row.name,
                before={"status": row.status},
                after={"status": IdentityStatus.NEEDS_REAUTHORIZATION.value, "error": error},
            )
