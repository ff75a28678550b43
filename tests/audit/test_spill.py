"""Legs the store refuses at shutdown are kept owner-only in the data directory and written at the next
start; a store that still refuses them leaves them there."""

from __future__ import annotations

import stat
from pathlib import Path

import anyio
import httpx
import pytest
from sqlalchemy import Engine, text

from lockgate.audit.recorder import AuditRecorder, Leg
from lockgate.audit.spill import SPILL_FILE, load_spilled, spill_entries
from lockgate.domain.audit import AuditEntry
from lockgate.settings import Settings
from lockgate.store.audit_log import load_entries
from tests.audit.test_recorder import FakeStore
from tests.conftest import DEADLINE, serving
from tests.dataplane.conftest import INITIALIZE, LEGACY

ENTRIES = [AuditEntry(f"c{i}", "proxy_request_success", 1.5 + i, method="ping", body="{}") for i in range(3)]


def test_spilled_entries_are_kept_owner_only_and_loaded_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / SPILL_FILE
    spill_entries(path, ENTRIES[:2])
    spill_entries(path, ENTRIES[2:])  # a second shutdown appends

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_spilled(path) == ENTRIES
    assert not path.exists()
    assert load_spilled(path) == []


def test_an_unreadable_spill_line_is_skipped_and_the_others_loaded(tmp_path: Path) -> None:
    path = tmp_path / SPILL_FILE
    spill_entries(path, ENTRIES[:1])
    with path.open("ab") as spill:
        spill.write(b"{not an entry\n")
    spill_entries(path, ENTRIES[1:])

    assert load_spilled(path) == ENTRIES


@pytest.mark.anyio
async def test_resumed_entries_are_written_first_and_kept_again_while_the_store_fails() -> None:
    store = FakeStore(refuses=lambda entry: entry.correlation_id == "c1" and entry.body == "{}")
    store.down = True
    recorder = AuditRecorder(store.save, flush_interval=0.001)
    recorder.resume(ENTRIES)
    recorder.record(Leg("new", "proxy_request_success"))

    with anyio.fail_after(DEADLINE):
        kept = await recorder.close(deadline=0.01)
    assert [e.correlation_id for e in kept] == ["c0", "c1", "c2", "new"]

    store.down = False
    recorder = AuditRecorder(store.save)
    recorder.resume(kept)
    with anyio.fail_after(DEADLINE):
        await recorder.flush()
    assert [e.correlation_id for e in store.entries] == ["c0", "c1", "c2", "new"]
    assert recorder.stats.degraded == 1  # c1, which the store refuses as it is


def test_legs_the_store_refuses_at_shutdown_are_written_at_the_next_start(
    settings: Settings, engine: Engine
) -> None:
    settings = settings.model_copy(update={"audit_shutdown_deadline": 0.1})
    with serving(settings, engine) as running:
        with engine.begin() as conn:  # from here the store refuses every audit write
            conn.execute(text("ALTER TABLE audit_entries RENAME TO audit_entries_away"))
        response = httpx.post(running.url("g"), content=INITIALIZE, headers=LEGACY, timeout=DEADLINE)
    spill = settings.data_dir / SPILL_FILE
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_entries_away RENAME TO audit_entries"))

    assert spill.exists()
    assert stat.S_IMODE(spill.stat().st_mode) == 0o600
    correlation_id = response.headers["x-correlation-id"]
    assert load_entries(engine, correlation_id=correlation_id) == []

    with serving(settings, engine):
        assert not spill.exists()
    legs = load_entries(engine, correlation_id=correlation_id)
    assert [leg["type"] for leg in legs] == [
        "proxy_request_success",
        "gateway_refused",
        "proxy_response_error",
    ]
