"""The audit recorder: legs are buffered, redacted and written in batches; nothing is silently dropped,
nothing one leg does holds up the others, and a failing store refuses new messages instead of hanging."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import orjson
import pytest

from lockgate.audit.recorder import FAILING_AFTER, AuditRecorder, AuditState, AuditUnavailableError, Leg
from lockgate.domain.audit import DEGRADED_FIELD_CHARS, AuditEntry
from lockgate.domain.redaction import REDACTED

DEADLINE = 5.0
SECRETS = ("Bearer sk-live-1", "hunter2", "cs-secret-2", "at-nested-3", "session-4")


class FakeStore:
    """A save function (called from a worker thread) that keeps every batch it is given. It fails
    every call while ``down`` (an outage, a full disk) and any batch holding a row ``refuses``."""

    def __init__(self, refuses: Callable[[AuditEntry], bool] = lambda _entry: False) -> None:
        self.batches: list[list[AuditEntry]] = []
        self.refuses = refuses
        self.down = False
        self.calls = 0

    def save(self, entries: Sequence[AuditEntry]) -> None:
        self.calls += 1
        if self.down:
            raise OSError("database or disk is full")
        if any(self.refuses(entry) for entry in entries):
            raise ValueError("a string literal cannot contain NUL (0x00) characters")
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


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def _degraded(entry: AuditEntry) -> dict[str, Any]:
    assert entry.body is not None
    note: dict[str, Any] = orjson.loads(entry.body)
    assert "degraded" in note, entry.body
    return note


@pytest.mark.anyio
async def test_a_body_nested_too_deep_to_serialize_is_stored_degraded_without_holding_up_its_batch() -> None:
    store = FakeStore()
    recorder = AuditRecorder(store.save)
    deep_raw = b'{"a":' * 299 + b'{"token":"at-nested-3"}' + b"}" * 299  # parses (1024), cannot be written
    recorder.record(
        Leg("c0", "mcp_response_success", body={"jsonrpc": "2.0", "id": 1, "result": _nested(300)})
    )
    recorder.record(Leg("c1", "proxy_request_success", body=deep_raw))
    recorder.record(Leg("c2", "proxy_request_success", body=b'{"jsonrpc": "2.0", "id": 2}'))

    with anyio.fail_after(DEADLINE):
        await recorder.flush()

    assert [e.correlation_id for e in store.entries] == ["c0", "c1", "c2"]
    assert "could not be serialized" in _degraded(store.entries[0])["degraded"]
    assert "at-nested-3" not in (store.entries[1].body or "")
    _degraded(store.entries[1])
    assert store.entries[2].body == '{"jsonrpc": "2.0", "id": 2}'
    assert (recorder.stats.written, recorder.stats.write_failures) == (3, 0)


@pytest.mark.anyio
async def test_a_row_the_store_refuses_is_stored_degraded_and_the_rest_of_its_batch_verbatim() -> None:
    store = FakeStore(refuses=lambda entry: "\x00" in (entry.method or ""))
    recorder = AuditRecorder(store.save, batch_size=8)
    for i in range(8):
        method = "tools/\x00call" if i == 5 else "tools/list"
        recorder.record(Leg(f"c{i}", "proxy_request_success", method=method, body=b'{"jsonrpc": "2.0"}'))

    with anyio.fail_after(DEADLINE):
        await recorder.flush()

    assert [e.correlation_id for e in store.entries] == [f"c{i}" for i in range(8)]
    refused = store.entries[5]
    assert refused.method == "tools/\\x00call"
    assert "the store refused this leg" in _degraded(refused)["degraded"]
    assert all(e.body == '{"jsonrpc": "2.0"}' for i, e in enumerate(store.entries) if i != 5)
    assert (recorder.stats.written, recorder.stats.degraded, recorder.stats.write_failures) == (8, 1, 0)


@pytest.mark.anyio
async def test_what_a_caller_not_authenticated_sent_is_stored_as_a_bounded_note() -> None:
    store = FakeStore()
    recorder = AuditRecorder(store.save)
    large = b'{"jsonrpc": "2.0", "method": "tools/call", "params": {"blob": "' + b"A" * 500_000 + b'"}}'
    headers = [(f"x-h{i}", "v" * 100_000) for i in range(1_000)]
    recorder.record(
        Leg("c0", "proxy_request_success", method="m" * 100_000, body=large, headers=headers, trusted=False)
    )
    recorder.record(
        Leg("c1", "proxy_request_success", body=b'{"params": {"password": "hunter2"}}', trusted=False)
    )

    await recorder.flush()

    first, second = store.entries
    assert len(first.body or "") < 2_000
    assert len(first.method or "") == DEGRADED_FIELD_CHARS
    assert len(first.headers or "") < 64 * 2 * (DEGRADED_FIELD_CHARS + 8)
    note = _degraded(first)
    assert note["bytes"] == len(large)
    assert note["head"].startswith('{"jsonrpc": "2.0", "method": "tools/call"')
    assert "head" not in _degraded(second)  # its head may hold a secret: only the size is kept
    assert "hunter2" not in (second.body or "")


@pytest.mark.anyio
async def test_a_store_outage_keeps_the_legs_refuses_new_messages_and_writes_them_once_it_recovers() -> None:
    store = FakeStore()
    store.down = True
    recorder = AuditRecorder(store.save, batch_size=2, flush_interval=0.001)
    for leg in _legs(3):
        recorder.record(leg)

    with pytest.raises(AuditUnavailableError):
        await recorder.flush(deadline=0)  # one attempt
    assert recorder.state is AuditState.DEGRADED
    assert await recorder.admit() is None  # one failure may pass: messages are still taken
    for _ in range(FAILING_AFTER - 1):
        with pytest.raises(AuditUnavailableError):
            await recorder.flush(deadline=0)

    assert recorder.state is AuditState.FAILING
    assert recorder.backlog == 3
    with anyio.fail_after(0.5):  # at once, not after a wait
        assert await recorder.admit() == "audit unavailable: the audit store is failing"
    assert recorder.stats.refused == 1
    assert recorder.stats.write_failures == FAILING_AFTER

    store.down = False
    with anyio.fail_after(DEADLINE):
        await recorder.flush()

    assert recorder.state is AuditState.OK
    assert recorder.backlog == 0
    assert await recorder.admit() is None
    assert [e.correlation_id for e in store.entries] == ["c0", "c1", "c2"]
    assert recorder.stats.degraded == 0


@pytest.mark.anyio
async def test_close_returns_the_legs_it_could_not_write_within_its_deadline() -> None:
    store = FakeStore()
    store.down = True
    recorder = AuditRecorder(store.save, flush_interval=0.001)
    recorder.start()
    for leg in _legs(3):
        recorder.record(leg)

    with anyio.fail_after(DEADLINE):
        unwritten = await recorder.close(deadline=0.05)

    assert [e.correlation_id for e in unwritten] == ["c0", "c1", "c2"]
    assert recorder.backlog == 0
    assert recorder.stats.written == 0


@pytest.mark.anyio
async def test_close_flushes_everything_still_buffered() -> None:
    store = FakeStore()
    recorder = AuditRecorder(store.save, batch_size=1000, flush_interval=3600)
    recorder.start()
    for leg in _legs(3):
        recorder.record(leg)

    with anyio.fail_after(DEADLINE):
        assert await recorder.close() == []

    assert [e.correlation_id for e in store.entries] == ["c0", "c1", "c2"]
    assert recorder.stats.written == 3


@pytest.mark.anyio
async def test_admit_passes_at_once_below_max_pending() -> None:
    recorder = AuditRecorder(FakeStore().save, max_pending=3)
    for leg in _legs(2):
        recorder.record(leg)

    with anyio.fail_after(DEADLINE):
        assert await recorder.admit() is None

    assert recorder.stats.backpressure_waits == 0


@pytest.mark.anyio
async def test_a_full_backlog_holds_a_new_message_until_the_writer_makes_room() -> None:
    store = FakeStore()
    entered, release = threading.Event(), threading.Event()

    def slow_save(entries: Sequence[AuditEntry]) -> None:
        entered.set()
        release.wait(DEADLINE)
        store.save(entries)

    recorder = AuditRecorder(slow_save, batch_size=2, max_pending=4, flush_interval=3600, room_wait=DEADLINE)
    admitted: list[str | None] = []
    room_given = anyio.Event()

    async def next_message() -> None:
        admitted.append(await recorder.admit())
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
                assert recorder.backlog == 4  # the batch being written still counts
                assert recorder.state is AuditState.FAILING
                assert recorder.stats.backpressure_waits == 1

                release.set()
                await room_given.wait()
        assert admitted == [None]
        assert recorder.stats.written >= 2
    finally:
        release.set()
        with anyio.fail_after(DEADLINE):
            await recorder.close()
    assert [e.correlation_id for e in store.entries] == ["c0", "c1", "c2", "c3"]


@pytest.mark.anyio
async def test_a_full_backlog_the_writer_cannot_empty_refuses_a_new_message_after_room_wait() -> None:
    release = threading.Event()
    recorder = AuditRecorder(
        lambda _entries: release.wait(DEADLINE) and None,
        batch_size=2,
        max_pending=4,
        flush_interval=3600,
        room_wait=0.05,
    )
    recorder.start()
    try:
        for leg in _legs(4):
            recorder.record(leg)
        with anyio.fail_after(DEADLINE):
            reason = await recorder.admit()
        assert reason == "audit unavailable: 4 legs wait to be written"
        assert recorder.stats.refused == 1
    finally:
        release.set()
        with anyio.fail_after(DEADLINE):
            await recorder.close()


@pytest.mark.anyio
async def test_a_store_that_is_down_is_known_after_four_calls_whatever_the_batch_size() -> None:
    store = FakeStore()
    store.down = True
    recorder = AuditRecorder(store.save, batch_size=1000)
    for leg in _legs(1000):
        recorder.record(leg)

    with pytest.raises(AuditUnavailableError):
        await recorder.flush(deadline=0)

    assert store.calls == 4  # the batch, its first row, that row once more, that row degraded
    assert recorder.backlog == 1000
