"""Fresh credentials for upstream calls: an OAuth access token close to expiry is refreshed before
the call that needs it, once per identity however many calls are waiting (MCP authorization §Token
handling; RFC 6749 §6).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from lockgate.brokering.refresh import CredentialRefreshError
from lockgate.domain.model import Credential, IdentityKind

__all__ = ["CredentialRefreshError", "CredentialRefresher", "RefreshCredential"]

RefreshCredential = Callable[[Credential], Awaitable[Credential]]
"""Refreshes an identity's tokens and returns the identity as now stored. Raises
``CredentialRefreshError`` when it cannot (the identity is then marked as needing re-authorization
if the authorization server refused the refresh token)."""


class CredentialRefresher:
    """Hands out credentials fit for a call, refreshing those that expire within ``skew`` seconds."""

    def __init__(self, refresh: RefreshCredential, *, skew: float = 60.0) -> None:
        self._refresh = refresh
        self._skew = skew
        self._in_flight: dict[int, asyncio.Future[Credential]] = {}
        self._latest: dict[int, Credential] = {}

    def needs_refresh(self, credential: Credential) -> bool:
        return (
            credential.kind is IdentityKind.OAUTH
            and credential.expires_at is not None
            and credential.expires_at - time.time() < self._skew
        )

    async def fresh(self, credential: Credential) -> Credential:
        """``credential`` itself when it does not expire soon, else the refreshed one.

        Raises:
            CredentialRefreshError: the refresh failed (every caller waiting on it gets the error).
        """
        if not self.needs_refresh(credential):
            return credential
        latest = self._latest.get(credential.identity_id)
        if latest is not None and latest.version > credential.version and not self.needs_refresh(latest):
            return latest  # refreshed since this request read the store
        pending = self._in_flight.get(credential.identity_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_task(self._run(credential))
            self._in_flight[credential.identity_id] = pending
        return await asyncio.shield(pending)

    async def _run(self, credential: Credential) -> Credential:
        try:
            refreshed = await self._refresh(credential)
            self._latest[credential.identity_id] = refreshed
            return refreshed
        finally:
            del self._in_flight[credential.identity_id]
