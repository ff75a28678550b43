"""Alerts of gateway rules (spec §2.5, issue 12 §5): raised each time a rule with alerts on acts.

An alert is one admin event (``store.admin_events``: actor ``lockgate``, operation ``rules_alert``,
kind ``alert``, name the rule's) whose ``after`` says where and what: gateway, rule id, action, match
count, leg, correlation id, user, host, server, tool and method, never the matched text. It is also
one WARNING log line, as free of matched text.

``AlertWriter.raise_alert`` never waits: alerts queue (at most ``max_pending``) for one thread that
writes them in batches; beyond the bound they are dropped and counted (``dropped``), each drop
logged. "Alert-only" is a rule with alerts on and an action that lets the message through.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from lockgate.store.admin_events import save_admin_event

log = logging.getLogger(__name__)

ACTOR = "lockgate"
OPERATION = "rules_alert"
KIND = "alert"


@dataclass(frozen=True, slots=True)
class Alert:
    """One rule acting: ``details`` is the admin event's ``after`` (no matched text)."""

    correlation_id: str
    rule: str
    details: Mapping[str, Any]


def save_alerts(engine: Engine, alerts: Sequence[Alert]) -> None:
    """Write ``alerts`` as admin events in one transaction (blocking)."""
    with engine.begin() as conn:
        for alert in alerts:
            save_admin_event(
                conn,
                correlation_id=alert.correlation_id,
                actor=ACTOR,
                operation=OPERATION,
                kind=KIND,
                name=alert.rule,
                before=None,
                after=dict(alert.details),
            )


class AlertWriter:
    """Writes alerts through ``save`` (blocking, on its own thread) in batches of ``batch_size``."""

    def __init__(
        self,
        save: Callable[[Sequence[Alert]], None],
        *,
        max_pending: int = 10_000,
        batch_size: int = 500,
    ) -> None:
        self._save = save
        self._batch_size = batch_size
        self._queue: queue.Queue[Alert | None] = queue.Queue(max_pending)
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lockgate-alerts", daemon=True)
        self._thread.start()

    def raise_alert(self, alert: Alert) -> None:
        """Log the alert and queue it for the store; never blocks, never raises."""
        details = alert.details
        log.warning(
            "rule alert: rule %r (id %s) %s, %d match(es), %s leg of %s to server %r (correlation id %s)",
            alert.rule,
            details.get("ruleId"),
            details.get("action"),
            details.get("matches", 0),
            details.get("leg"),
            details.get("method"),
            details.get("server"),
            alert.correlation_id,
        )
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1
            log.warning(
                "rule alerts: %d pending; this one was not stored (%d dropped)",
                self._queue.maxsize,
                self.dropped,
            )

    async def flush(self) -> None:
        """Wait until every alert queued so far is written (or failed)."""
        await asyncio.to_thread(self._queue.join)

    def close(self) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            batch = [first]
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            alerts = [a for a in batch if a is not None]
            if alerts:
                try:
                    self._save(alerts)
                except Exception as exc:
                    log.error("rule alerts: %d were not stored (%s)", len(alerts), type(exc).__name__)
            for _ in batch:
                self._queue.task_done()
            if None in batch:
                return
