"""The audit recorder: legs are buffered, redacted and written in batches; nothing is silently dropped."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import anyio
import orjson
import pytest

from lockgate.audit.recorder import AuditRecorder, Leg
from lockgate.domain.audit import AuditEntry
from lockgate.domain.redaction import REDACTED

DEADLINE = 5.0
SECRETS = ("Bearer sk-live-1", "hunter2", "cs-secret-2", "at-nested-3", "session-4")


class FakeStore:
    """A save function (called from a worker thread) that keeps every batch it is given."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[AuditEntry]] = []
        self.failures = failures
        self.calls = 0

    def save(self, entries: Sequence[AuditEntry]) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError("database is down")
        self.batches.append(list(entries))

    @property
    def entries(self) -> list[AuditEntry]:
        return [entry for batch in self.batches for entry in batch]


def _legs(count: int) -> list[Leg]:
    return [
        Leg(correlation_id=f"c{i}", type="proxy_request_success", method="tools/list") for i in range(count)
    ]


@pytest.mark.anyio
async def test_legs_are_written_in_batches_through_save_in_order() -> None:
    store = FakeStore()
    recorder = AuditRecorder(store.save, batch_size=2)
    for leg in _legs(5):
        recorder.record(leg)

    await recorder.flush()

    assert [len(batch) for batch in store.batches] == [2, 2, 1]
    assert [entry.correlation_id for entry in store.entries] == ["c0", "c1", "c2", "c3", "c4"]
    assert (recorder.stats.recorded, recorder.stats.written) == (5, 5)


@pytest.mark.anyio
async def test_a_full_batch_is_written_without_waiting_for_the_flush_interval() -> None:
    saved = threading.Event()
    store = FakeStore()

    def save(entries: Sequence[AuditEntry]) -> None:
        store.save(entries)
        saved.set()

    recorder = AuditRecorder(save, batch_size=2, flush_interval=3600)
    recorder.start()
    try:
        for leg in _legs(2):
            recorder.record(leg)
        with anyio.fail_after(DEADLINE):
            assert await anyio.to_thread.run_sync(saved.wait, DEADLINE)
        assert [e.correlation_id for e in store.entries] == ["c0", "c1"]
    finally:
        await recorder.close()


@pytest.mark.anyio
async def test_stored_bodies_and_headers_carry_no_secrets() -> None:
    store = FakeStore()
    recorder = AuditRecorder(store.save)
    recorder.record(
        Leg(
            "c1",
            "proxy_request_success",
            headers=[("Authorization", "Bearer sk-live-1"), ("Content-Type", "application/json")],
            body=b'{"params":{"arguments":{"password":"hunter2"},"_meta":{"progressToken":9}}}',
        )
    )
    recorder.record(
        Leg(
            "c2",
            "mcp_request_success",
            headers={"Mcp-Session-Id": "session-4", "Mcp-Method": "tools/call"},
            body={
                "params": {
                    "client_secret": "cs-secret-2",
                    "items": [{"deep": {"access_token": "at-nested-3"}}],
                }
            },
        )
    )

    await recorder.flush()

    first, second = store.entries
    for entry in (first, second):
        assert entry.body is not None
        assert entry.headers is not None
        for secret in SECRETS:
            assert secret not in entry.body
            assert secret not in entry.headers
    assert orjson.loads(first.headers) == {"Authorization": REDACTED, "Content-Type": "application/json"}
    assert orjson.loads(first.body) == {
        "params": {"arguments": {"password": REDACTED}, "_meta": {"progressToken": 9}}
    }
    assert orjson.loads(second.headers) == {"Mcp-Session-Id": REDACTED, "Mcp-Method": "tools/call"}
    assert orjson.loads(second.body) == {
        "params": {"client_secret": REDACTED, "items": [{"deep": {"access_token": REDACTED}}]}
    }


@pytest.mark.anyio
async def test_a_body_with_nothing_secret_looking_is_stored_verbatim() -> None:
    store = FakeStore()
    recorder = AuditRecorder(store.save)
    raw = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}'
    recorder.record(Leg("c1", "proxy_request_success", body=raw))

    await recorder.flush()

    assert store.entries[0].body == raw.decode()


@pytest.mark.anyio
async def test_an_unparseable_body_that_may_hold_a_secret_is_withheld() -> None:
    store = FakeStore()
    recorder = AuditRecorder(store.save)
    recorder.record(Leg("c1", "proxy_request_error", body=b"password=hunter2&user=ada"))

    await recorder.flush()

    assert store.entries[0].body is not None
    assert "hunter2" not in store.entries[0].body


@pytest.mark.anyio
async def test_a_body_with_an_escaped_secret_key_is_redacted() -> None:
    store = FakeStore()
    recorder = AuditRecorder(store.save)
    recorder.record(Leg("c1", "proxy_request_success", body=b'{"\\u0070assword": "hunter2"}'))

    await recorder.flush()

    assert "hunter2" not in (store.entries[0].body or "")


@pytest.mark.anyio
async def test_a_failing_save_keeps_the_legs_and_retries_them() -> None:
    store = FakeStore(failures=2)
    recorder = AuditRecorder(store.save, batch_size=10, flush_interval=0)
    for leg in _legs(3):
        recorder.record(leg)

    await recorder.flush()

    assert recorder.stats.write_failures == 2
    assert recorder.stats.written == 3
    assert [e.correlation_id for e in store.entries] == ["c0", "c1", "c2"]


@pytest.mark.anyio
async def test_close_flushes_everything_still_buffered() -> None:
    store = FakeStore()
    recorder = AuditRecorder(store.save, batch_size=1000, flush_interval=3600)
    recorder.start()
    for leg in _legs(3):
        recorder.record(leg)

    with anyio.fail_after(DEADLINE):
        await recorder.close()

    assert [e.correlation_id for e in store.entries] == ["c0", "c1", "c2"]
    assert recorder.stats.written == 3


@pytest.mark.anyio
async def test_close_raises_rather_than_drop_legs_it_cannot_write() -> None:
    store = FakeStore(failures=1_000)
    recorder = AuditRecorder(store.save, flush_interval=0)
    recorder.record(_legs(1)[0])

    with anyio.fail_after(DEADLINE), pytest.raises(OSError):
        await recorder.close()

    assert recorder.stats.write_failures >= 1
    assert recorder.stats.written == 0


@pytest.mark.anyio
async def test_wait_for_room_passes_at_once_below_max_pending() -> None:
    recorder = AuditRecorder(FakeStore().save, max_pending=3)
    for leg in _legs(2):
        recorder.record(leg)

    with anyio.fail_after(DEADLINE):
        await recorder.wait_for_room()

    assert recorder.stats.backpressure_waits == 0


@pytest.mark.anyio
async def test_a_full_backlog_holds_new_messages_until_the_writer_catches_up() -> None:
    store = FakeStore()
    entered, release = threading.Event(), threading.Event()

    def slow_save(entries: Sequence[AuditEntry]) -> None:
        entered.set()
        release.wait(DEADLINE)
        store.save(entries)

    recorder = AuditRecorder(slow_save, batch_size=2, max_pending=4, flush_interval=3600)
    room_given = anyio.Event()

    async def next_message() -> None:
        await recorder.wait_for_room()
        room_given.set()

    recorder.start()
    try:
        with anyio.fail_after(DEADLINE):
            async with anyio.create_task_group() as tg:
                for leg in _legs(4):
                    recorder.record(leg)
                tg.start_soon(next_message)
                assert await anyio.to_thread.run_sync(entered.wait, DEADLINE)

                assert not room_given.is_set()  # the writer is stuck in save: no room yet
                assert recorder.stats.backpressure_waits == 1

                release.set()
                await room_given.wait()
        assert recorder.stats.written >= 2
    finally:
        release.set()
        with anyio.fail_after(DEADLINE):
            await recorder.close()
    assert [e.correlation_id for e in store.entries] == ["c0", "c1", "c2", "c3"]
