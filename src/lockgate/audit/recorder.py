"""The audit recorder: takes legs on the hot path, writes them in batches off it.

``record`` only appends to a buffer. A writer task turns the buffered legs into entries (serializing
and redacting bodies and headers there, between requests, not inside them) and saves them in
batches through a worker thread that does nothing but the database call, which releases the GIL.
Bounds and failures (issue #2 §6, "nothing silently dropped"):

* When ``max_pending`` legs wait unwritten (the store is slow or down), ``wait_for_room`` makes new
  client messages wait until the writer catches up: the gateway slows down rather than lose audit.
  Each such wait is counted in ``stats.backpressure_waits``.
* A failed batch is kept and retried; each failure is counted in ``stats.write_failures`` and logged
  (without bodies). ``close`` flushes everything that is left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from lockgate.domain.audit import AuditEntry
from lockgate.domain.redaction import may_hold_secret_keys, redact, redact_headers

log = logging.getLogger(__name__)
CONVERT_SLICE = 64


@dataclass(slots=True)
class Leg:
    """A leg as the data plane hands it over; bodies may be raw bytes or JSON values, unredacted."""

    correlation_id: str
    type: str
    method: str | None = None
    feature_name: str | None = None
    user_email: str | None = None
    host: str | None = None
    gateway: str | None = None
    server: str | None = None
    status: int | None = None
    duration_ms: float | None = None
    error: str | None = None
    body: Any = None
    headers: Iterable[tuple[str, str]] | Mapping[str, str] | None = None
    created_at: float = field(default_factory=time.time)


def to_entry(leg: Leg) -> AuditEntry:
    """Serialize and redact a leg into the entry that is stored."""
    headers = leg.headers.items() if isinstance(leg.headers, Mapping) else leg.headers
    return AuditEntry(
        correlation_id=leg.correlation_id,
        type=leg.type,
        created_at=leg.created_at,
        method=leg.method,
        feature_name=leg.feature_name,
        user_email=leg.user_email,
        host=leg.host,
        gateway=leg.gateway,
        server=leg.server,
        status=leg.status,
        duration_ms=leg.duration_ms,
        error=leg.error,
        body=_body_text(leg.body),
        headers=orjson.dumps(redact_headers(headers)).decode() if headers is not None else None,
    )


def _body_text(body: Any) -> str | None:
    """The body as stored: verbatim when no key in it can be a secret key, else redacted."""
    if body is None:
        return None
    raw = bytes(body) if isinstance(body, bytes | bytearray | memoryview) else orjson.dumps(body)
    if not may_hold_secret_keys(raw):
        return raw.decode(errors="replace")
    try:
        value = body if isinstance(body, dict | list) else orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "[unparseable body withheld]"  # it might hold a secret we cannot find
    return orjson.dumps(redact(value)).decode()


@dataclass(slots=True)
class AuditStats:
    recorded: int = 0
    written: int = 0
    write_failures: int = 0
    backpressure_waits: int = 0


class AuditRecorder:
    """Buffers legs and writes them through ``save`` (a blocking function, run in a worker thread)."""

    def __init__(
        self,
        save: Callable[[Sequence[AuditEntry]], None],
        *,
        batch_size: int = 1000,
        max_pending: int = 50_000,
        flush_interval: float = 0.05,
    ) -> None:
        self._save = save
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._flush_interval = flush_interval
        self._buffer: list[Leg] = []
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = AuditStats()

    def start(self) -> None:
        self._writer = asyncio.create_task(self._run())

    def record(self, leg: Leg) -> None:
        self._buffer.append(leg)
        self.stats.recorded += 1
        if len(self._buffer) >= self._batch_size:
            self._wake.set()
        if len(self._buffer) >= self._max_pending:
            self._room.clear()

    async def wait_for_room(self) -> None:
        if not self._room.is_set():
            self.stats.backpressure_waits += 1
            log.warning(
                "audit backlog at %d legs: holding new messages until it is written", len(self._buffer)
            )
            await self._room.wait()

    async def flush(self) -> None:
        """Write everything buffered so far (tests and shutdown)."""
        while self._buffer:
            await self._write_batch()

    async def close(self) -> None:
        self._closing = True
        if self._writer is not None:
            self._wake.set()
            await self._writer
        await self.flush()

    async def _run(self) -> None:
        while not self._closing:
            try:
                async with asyncio.timeout(self._flush_interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if self._buffer:
                await self._write_batch()

    async def _write_batch(self) -> None:
        batch, self._buffer = self._buffer[: self._batch_size], self._buffer[self._batch_size :]
        try:
            entries = await self._convert(batch)
            await asyncio.to_thread(self._save, entries)
        except Exception as exc:
            self.stats.write_failures += 1
            log.error(
                "writing %d audit legs failed (%s); they are kept and retried", len(batch), type(exc).__name__
            )
            self._buffer[:0] = batch
            if self._closing:
                raise
            await asyncio.sleep(min(1.0, self._flush_interval * 10))  # back off before the retry
            return
        self.stats.written += len(batch)
        if len(self._buffer) < self._max_pending:
            self._room.set()

    async def _convert(self, batch: list[Leg]) -> list[AuditEntry]:
        """Serialize and redact on the event loop, a slice at a time. Doing it in the worker thread
        made the loop wait for the GIL (up to the 5 ms switch interval) on every request."""
        entries: list[AuditEntry] = []
        for start in range(0, len(batch), CONVERT_SLICE):
            entries.extend(to_entry(leg) for leg in batch[start : start + CONVERT_SLICE])
            await asyncio.sleep(0)  # let requests in between slices
        return entries
