"""The recorder over the real store (SQLite, or PostgreSQL with LOCKGATE_TEST_DATABASE=postgresql)."""

from __future__ import annotations

import anyio
import orjson
import pytest
from sqlalchemy import Engine

from lockgate.audit.recorder import AuditRecorder, Leg
from lockgate.store.audit_log import load_entries, save_entries

DEADLINE = 5.0


@pytest.mark.anyio
async def test_a_leg_holding_a_nul_is_stored_and_so_is_the_rest_of_its_batch(engine: Engine) -> None:
    recorder = AuditRecorder(lambda entries: save_entries(engine, entries), batch_size=10)
    for i, method in enumerate(["ping", "tools/\x00call", "tools/list"]):
        recorder.record(Leg("c", "proxy_request_success", method=method, body=orjson.dumps({"n": i})))

    with anyio.fail_after(DEADLINE):
        await recorder.flush()

    stored = load_entries(engine, correlation_id="c")
    assert [leg["method"] for leg in stored][::2] == ["ping", "tools/list"]
    assert [leg["body"] for leg in stored][::2] == ['{"n":0}', '{"n":2}']
    if engine.dialect.name == "postgresql":  # PostgreSQL refuses NUL in text: the leg is stored degraded
        assert stored[1]["method"] == "tools/\\x00call"
        assert "the store refused this leg" in orjson.loads(stored[1]["body"])["degraded"]
        assert recorder.stats.degraded == 1
    else:
        assert stored[1]["method"] == "tools/\x00call"
    assert recorder.stats.write_failures == 0
