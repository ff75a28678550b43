"""The alert writer: alerts written off the event loop in batches, bounded, and a failing store logged."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pytest

from lockgate.dataplane.alerts import Alert, AlertWriter
from tests.conftest import DEADLINE

pytestmark = pytest.mark.anyio


def _alert(n: int) -> Alert:
    return Alert(f"c{n}", "ssn", {"ruleId": 1, "action": "mask", "matches": 1, "leg": "request"})


async def test_alerts_are_written_in_batches_on_their_own_thread() -> None:
    batches: list[tuple[str, list[str]]] = []
    writer = AlertWriter(
        lambda alerts: batches.append((threading.current_thread().name, [a.correlation_id for a in alerts]))
    )
    writer.start()
    try:
        for n in range(3):
            writer.raise_alert(_alert(n))
        await writer.flush()
    finally:
        writer.close()

    assert [cid for _, ids in batches for cid in ids] == ["c0", "c1", "c2"]
    assert {name for name, _ in batches} == {"lockgate-alerts"}


async def test_alerts_beyond_the_bound_are_dropped_and_counted() -> None:
    gate = threading.Event()
    written: list[Alert] = []

    def save(alerts: Sequence[Alert]) -> None:
        assert gate.wait(DEADLINE)
        written.extend(alerts)

    writer = AlertWriter(save, max_pending=2, batch_size=1)
    writer.start()
    try:
        writer.raise_alert(_alert(0))  # may already be taken by the thread, which then waits
        for n in range(1, 6):
            writer.raise_alert(_alert(n))
        gate.set()
        await writer.flush()
    finally:
        writer.close()

    assert writer.dropped >= 3
    assert len(written) + writer.dropped == 6


async def test_a_failing_store_is_logged_without_stopping_the_writer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = 0

    def save(alerts: Sequence[Alert]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("store down")

    writer = AlertWriter(save)
    writer.start()
    try:
        writer.raise_alert(_alert(0))
        await writer.flush()
        writer.raise_alert(_alert(1))
        await writer.flush()
    finally:
        writer.close()

    assert calls == 2
    assert any(
        "were not stored (RuntimeError)" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR
    )
