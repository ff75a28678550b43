"""What a front stream that listens needs upstream: the connections its notifications come from, open,
and the resource URIs it wants, asked for.

A server's notifications reach the gateway only on an open connection (a legacy session, or a modern
connection's own ``subscriptions/listen``, ``upstream/listen.py``), and connections open on a
caller's first call. So when a stream that can receive list changes opens (a legacy session's GET
stream, a modern ``subscriptions/listen``), ``open_connections`` opens the caller's connections to
the gateway's enabled servers whose identity is ready (``hub.served_by``), in the background, each
through the connector within its connect deadline. A server that does not open is logged and
stalls neither the stream nor the other servers. The cost is bounded: nothing is done for a
(server, identity) that an open connection already serves or that is being opened, so a thousand
sessions opening their streams open at most one connection per server and identity, and at most
``MAX_OPENING`` are opened at a time (past that the stream still opens; its servers are opened by
a later stream or call).

``refresh`` tells the pool, for each (server, identity) given, the union of resource URIs its front
clients want (``hub.Hub.watched``), so the gateway's listen to a modern server asks for them
(MCP 2026-07-28 basic/patterns/subscriptions ``resourceSubscriptions``).
"""

from __future__ import annotations

import asyncio
import functools
import logging

from lockgate.dataplane.connector import Connector
from lockgate.dataplane.credentials import CredentialRefreshError
from lockgate.dataplane.hub import Hub, Served, served_by
from lockgate.domain.mcp import Client
from lockgate.domain.model import Access, Assignment
from lockgate.upstream.base import UpstreamError

log = logging.getLogger(__name__)
MAX_OPENING = 64


class Listening:
    """Keeps the upstream side of listening streams, as the module says."""

    def __init__(self, hub: Hub, connector: Connector, limit: int = MAX_OPENING) -> None:
        self._hub = hub
        self._connector = connector
        self._limit = limit
        self._opening: dict[tuple[int, int], asyncio.Task[None]] = {}

    def open_connections(self, access: Access, client: Client) -> None:
        """Start opening, in the background, the connections that would serve ``access``'s caller
        as ``client`` and are not open yet."""
        pool = self._connector.pool
        served = served_by(access)
        for assignment in access.assignments:
            pair = (assignment.server.id, assignment.identity_key)
            if pair not in served or pair in self._opening or pool.serves(*pair):
                continue
            if len(self._opening) >= self._limit:
                log.debug(
                    "%d connections opening for listeners; %s waits", self._limit, assignment.server.name
                )
                return
            task = asyncio.create_task(self._open(assignment, client))
            self._opening[pair] = task  # held until done: the loop keeps only a weak reference
            task.add_done_callback(functools.partial(self._opened, pair))

    def _opened(self, pair: tuple[int, int], _task: asyncio.Task[None]) -> None:
        self._opening.pop(pair, None)

    async def _open(self, assignment: Assignment, client: Client) -> None:
        name = assignment.server.name
        try:
            await self._connector.open(assignment, client)
        except (UpstreamError, CredentialRefreshError) as exc:
            log.info("server %r was not opened for its listeners: %s", name, exc)
        except Exception:  # a fault opening one server leaves the stream and the others as they are
            log.exception("server %r was not opened for its listeners", name)

    def refresh(self, served: Served) -> None:
        """Tell the pool the resource URIs now watched on each (server, identity) of ``served``."""
        for server_id, identity_id in served:
            self._connector.pool.watch(server_id, identity_id, self._hub.watched(server_id, identity_id))

    async def settle(self) -> None:
        """Wait until the connections being opened now are open or given up."""
        await asyncio.gather(*self._opening.values(), return_exceptions=True)

    async def close(self) -> None:
        """Stop opening connections (at shutdown, before the pool closes)."""
        for task in self._opening.values():
            task.cancel()
        await self.settle()
