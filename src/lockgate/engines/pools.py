"""``EnginePools``: one egress-guarded HTTP client, and so one connection pool, per rule engine
(docs/rule-engines.md, "Connections"), so that asks to a slow engine queue behind each other and
never in front of another engine's.

A pool is keyed by the engine's id and version (a changed engine gets a fresh pool: its URL, headers
or secret may have changed), made on the first ask, and holds at most
``LIMITS.engine_connections`` connections. At most ``LIMITS.engine_pools`` pools are kept: making
one more retires the least recently used, closed at once when no ask holds it, else when the last
ask holding it ends. ``aclose`` closes them all.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from lockgate.domain.rules import LIMITS, RuleEngine
from lockgate.egress import guarded_client, parse_networks


@dataclass(slots=True)
class _Pool:
    client: httpx.AsyncClient
    asks: int = 0  # asks holding it
    retired: bool = False


class EnginePools:
    """The HTTP clients of rule engines. ``allowed_networks`` are the operator's
    ``egress_allowed_networks`` (CIDRs); ``size`` the most pools kept at once (at least 1).

    Raises:
        ValueError: a malformed CIDR in ``allowed_networks``.
    """

    def __init__(self, allowed_networks: Sequence[str], size: int = LIMITS.engine_pools) -> None:
        self._networks = list(allowed_networks)
        self._limits = httpx.Limits(
            max_connections=LIMITS.engine_connections,
            max_keepalive_connections=LIMITS.engine_keepalive_connections,
        )
        parse_networks(self._networks)  # a malformed CIDR is refused now, not on the first ask
        self._size = max(1, size)
        self._pools: OrderedDict[tuple[int, int], _Pool] = OrderedDict()

    def __len__(self) -> int:
        """How many pools are kept (retired ones still in use not counted)."""
        return len(self._pools)

    @asynccontextmanager
    async def client(self, engine: RuleEngine) -> AsyncIterator[httpx.AsyncClient]:
        """The client of ``engine`` (by id and version) for the length of one ask."""
        key = (engine.id, engine.version)
        pool = self._pools.get(key)
        if pool is None:
            pool = _Pool(self._new_client())
            self._pools[key] = pool
            while len(self._pools) > self._size:
                _, oldest = self._pools.popitem(last=False)
                await self._retire(oldest)
        else:
            self._pools.move_to_end(key)
        pool.asks += 1
        try:
            yield pool.client
        finally:
            pool.asks -= 1
            if pool.retired and pool.asks == 0:
                await pool.client.aclose()

    async def aclose(self) -> None:
        """Close every pool (an ask still holding one has its connections closed under it)."""
        pools = list(self._pools.values())
        self._pools.clear()
        for pool in pools:
            pool.retired = True
            await pool.client.aclose()

    def _new_client(self) -> httpx.AsyncClient:
        return guarded_client(self._networks, timeout=LIMITS.engine_timeout_s[1], limits=self._limits)

    @staticmethod
    async def _retire(pool: _Pool) -> None:
        pool.retired = True
        if pool.asks == 0:
            await pool.client.aclose()
