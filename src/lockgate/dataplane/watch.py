"""Clients hear of provisioning changes at once, whoever made them (issue 11 item 6).

Every write the data plane's access read depends on moves the ``access_changes`` counter (database
triggers, migration 0006), whether it came from the API, the CLI, a declaration or plain SQL. The
watch reads that counter every ``interval`` seconds (one indexed row, in a thread); when it moved, it
reads a fingerprint of each gateway's provisioning (its assignments' modes and metadata filters, and
their approvals) and tells the hub of each gateway whose fingerprint changed, so that gateway's legacy
GET streams and modern listen streams hear ``notifications/{tools,prompts,resources}/list_changed``.
A failed read is logged and tried again at the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from lockgate.store.schema import access_changes, feature_approvals, gateway_servers

log = logging.getLogger(__name__)

INTERVAL = 1.0
"""Seconds between two reads of the change counter."""
Fingerprints = dict[int, str]
"""A digest of each gateway's provisioning rows, by gateway id."""


def read_change(engine: Engine) -> int | None:
    """The access change counter (None: its row is missing)."""
    with engine.connect() as conn:
        value: int | None = conn.execute(select(access_changes.c.value)).scalar()
        return value


def read_fingerprints(engine: Engine) -> Fingerprints:
    """Each gateway's provisioning as a digest: equal digests, equal provisioning."""
    assignments = select(
        gateway_servers.c.gateway_id,
        gateway_servers.c.id,
        gateway_servers.c.provisioning,
        gateway_servers.c.metadata_filter,
    ).order_by(gateway_servers.c.id)
    approvals = select(
        gateway_servers.c.gateway_id,
        feature_approvals.c.id,
        feature_approvals.c.decision,
        feature_approvals.c.digest,
        feature_approvals.c.pinned,
        feature_approvals.c.teams,
    ).join(gateway_servers, gateway_servers.c.id == feature_approvals.c.assignment_id)
    rows: dict[int, list[object]] = {}
    with engine.connect() as conn:
        for statement in (assignments, approvals.order_by(feature_approvals.c.id)):
            for row in conn.execute(statement):
                rows.setdefault(row[0], []).append(list(row[1:]))
    return {
        gateway: hashlib.sha256(orjson.dumps(values, default=str, option=orjson.OPT_SORT_KEYS)).hexdigest()
        for gateway, values in rows.items()
    }


def changed_gateways(before: Fingerprints, after: Fingerprints) -> set[int]:
    """The gateways whose provisioning differs (appeared, changed or went)."""
    return {g for g in before.keys() | after.keys() if before.get(g) != after.get(g)}


class ProvisioningWatch:
    """Tells ``on_changed(gateway_id)`` when a gateway's provisioning changes; ``start``/``close``
    with the app's lifespan."""

    def __init__(
        self, engine: Engine, on_changed: Callable[[int], None], *, interval: float = INTERVAL
    ) -> None:
        self._engine = engine
        self._on_changed = on_changed
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read what the store holds now, then watch for changes from there on.

        Raises:
            SQLAlchemyError: the store could not be read.
        """
        change = await asyncio.to_thread(read_change, self._engine)
        fingerprints = await asyncio.to_thread(read_fingerprints, self._engine)
        self._task = asyncio.create_task(self._run(change, fingerprints))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, change: int | None, fingerprints: Fingerprints) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                now = await asyncio.to_thread(read_change, self._engine)
                if now == change:
                    continue
                after = await asyncio.to_thread(read_fingerprints, self._engine)
            except SQLAlchemyError:
                log.exception("provisioning watch: the store could not be read; trying again")
                continue
            for gateway in sorted(changed_gateways(fingerprints, after)):
                self._on_changed(gateway)
            change, fingerprints = now, after
