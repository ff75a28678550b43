"""Clients hear of provisioning changes at once, whoever made them (issue 11 item 6).

Every write the data plane's access read depends on moves the ``access_changes`` counter (database
triggers, migration 0006), whether it came from the API, the CLI, a declaration or plain SQL. The
watch reads that counter every ``interval`` seconds (one indexed row, in a thread); when it moved, it
reads a fingerprint of each gateway's provisioning (its assignments' modes and metadata filters,
their approvals, and the members of the teams those approvals are limited to) and tells the hub of
each gateway whose fingerprint changed, so that gateway's legacy GET streams and modern listen
streams hear ``notifications/{tools,prompts,resources}/list_changed``.
A failed read, or any other fault, is logged and tried again after a back-off (doubling from
``interval`` up to ``MAX_BACKOFF`` seconds): the watch never stops while the app runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable

import orjson
from sqlalchemy import Engine, select

from lockgate.store.schema import access_changes, feature_approvals, gateway_servers, team_members

log = logging.getLogger(__name__)

INTERVAL = 1.0
"""Seconds between two reads of the change counter."""
MAX_BACKOFF = 30.0
"""The longest wait after faults in a row, in seconds."""
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
    teams: dict[int, set[int]] = {}
    with engine.connect() as conn:
        for statement in (assignments, approvals.order_by(feature_approvals.c.id)):
            for row in conn.execute(statement):
                rows.setdefault(row[0], []).append(list(row[1:]))
                if statement is not assignments:
                    teams.setdefault(row[0], set()).update(_team_ids(row[-1]))
        members: dict[int, list[int]] = {}
        for team_id, user_id in conn.execute(
            select(team_members.c.team_id, team_members.c.user_id).order_by(team_members.c.user_id)
        ):
            members.setdefault(team_id, []).append(user_id)
    for gateway, named in teams.items():  # a team-limited approval applies to whoever is a member now
        rows[gateway].append([(team, members.get(team, [])) for team in sorted(named)])
    return {
        gateway: hashlib.sha256(orjson.dumps(values, default=str, option=orjson.OPT_SORT_KEYS)).hexdigest()
        for gateway, values in rows.items()
    }


def _team_ids(value: object) -> list[int]:
    """The team ids of an approval's ``teams`` column (a JSON list, or its text)."""
    found = orjson.loads(value) if isinstance(value, str | bytes) else value
    return [t for t in found if isinstance(t, int)] if isinstance(found, list) else []


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
        wait = self._interval
        while True:
            await asyncio.sleep(wait)
            try:
                change, fingerprints = await self._tick(change, fingerprints)
            except Exception:  # a fault must not end the watch: clients would never hear again
                wait = min(max(wait, self._interval) * 2, MAX_BACKOFF)
                log.exception("provisioning watch failed; trying again in %.1f s", wait)
                continue
            wait = self._interval

    async def _tick(self, change: int | None, fingerprints: Fingerprints) -> tuple[int | None, Fingerprints]:
        """Tell the gateways changed since ``change``; the counter and fingerprints seen now."""
        now = await asyncio.to_thread(read_change, self._engine)
        if now == change:
            return change, fingerprints
        after = await asyncio.to_thread(read_fingerprints, self._engine)
        for gateway in sorted(changed_gateways(fingerprints, after)):
            self._on_changed(gateway)
        return now, after
