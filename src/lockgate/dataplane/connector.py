"""Reaching the server behind an assignment: its pooled connection with a fresh credential, opened
within the connect deadline, and the full listings the catalog keeps."""

from __future__ import annotations

from lockgate.dataplane.credentials import CredentialRefresher
from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import Client
from lockgate.domain.model import Assignment
from lockgate.upstream.base import Upstream, open_within
from lockgate.upstream.listing import Listing, list_all
from lockgate.upstream.pool import UpstreamPool


class Connector:
    """Hands out open upstreams. ``connect_timeout`` (seconds) bounds opening a connection (starting
    a stdio server, the handshake); ``timeout`` (seconds) bounds each list request."""

    def __init__(
        self,
        pool: UpstreamPool,
        *,
        timeout: float,
        connect_timeout: float,
        credentials: CredentialRefresher | None = None,
    ) -> None:
        self.pool = pool
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.credentials = credentials

    async def upstream_for(self, assignment: Assignment, client: Client) -> Upstream:
        """The pooled upstream for ``assignment`` with its credential attached, refreshed if due.

        Raises:
            CredentialRefreshError: the credential is due and could not be refreshed.
        """
        credential = assignment.credential
        if credential is not None and self.credentials is not None:
            credential = await self.credentials.fresh(credential)
        return self.pool.get(assignment.server, client, credential)

    async def connect(self, upstream: Upstream, client: Client, server: str) -> None:
        """Open ``upstream`` within ``connect_timeout``.

        Raises:
            UpstreamUnavailableError: it did not open in time (``sent`` is False).
        """
        await open_within(upstream, client, server, self.connect_timeout)

    async def open(self, assignment: Assignment, client: Client) -> Upstream:
        """The assignment's pooled upstream, opened within ``connect_timeout`` if it is not open.

        Raises:
            CredentialRefreshError: as ``upstream_for``.
            UpstreamUnavailableError: it could not be opened in time.
        """
        upstream = await self.upstream_for(assignment, client)
        if not upstream.is_open:
            await self.connect(upstream, client, assignment.server.name)
        return upstream

    async def list_features(self, assignment: Assignment, kind: FeatureKind, client: Client) -> Listing:
        """Every ``kind`` feature the server lists for the assignment's identity (``catalog.ListFeatures``).

        Raises:
            CredentialRefreshError: as ``upstream_for``.
            UpstreamError: the server could not be opened or did not answer in time.
        """
        upstream = await self.open(assignment, client)
        return await list_all(upstream, assignment.server.name, kind, client, self.timeout)
