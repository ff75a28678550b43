"""The audit recorder: takes legs on the hot path, writes them in batches off it.

``record`` only appends to a buffer. A writer task turns the buffered legs into entries (serializing
and redacting bodies and headers there, between requests, not inside them) and saves them in
batches through a worker thread that does nothing but the database calls, which release the GIL.
Bounds and failures (issue #2 §6, "nothing silently dropped"):

* Each leg is converted on its own: a body that cannot be serialized (nested deeper than JSON
  encoders go) is stored as a degraded note (``domain.audit.degraded_body``), never holding up the
  other legs. A body from a caller not authenticated is only ever stored as such a bounded note.
* A batch the store refuses is split in halves until the refused rows are found; a row refused on
  its own is stored degraded (``domain.audit.degrade_entry``). When even that fails, the store itself
  is failing: the unwritten legs are kept and retried, backing off from ``flush_interval`` doubling up
  to ``MAX_BACKOFF`` seconds. Each failed attempt is counted in ``stats.write_failures`` and logged
  (without bodies).
* ``admit`` tells the data plane whether to take a new client message: not while the store has
  failed ``FAILING_AFTER`` attempts in a row, nor while ``max_pending`` legs wait unwritten and the
  writer makes no room within ``room_wait`` seconds. The data plane then answers 503 at once.
* ``close`` writes what is left within a deadline and returns what it could not write, for the
  caller to keep (``audit.spill``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from lockgate.domain.audit import (
    DEGRADED_FIELD_CHARS,
    DEGRADED_HEAD_CHARS,
    AuditEntry,
    bounded_text,
    degrade_entry,
    degraded_body,
)
from lockgate.domain.redaction import may_hold_secret_keys, redact, redact_headers

log = logging.getLogger(__name__)
CONVERT_SLICE = 64
FAILING_AFTER = 3  # failed attempts in a row after which new messages are refused
MAX_BACKOFF = 5.0  # seconds between attempts on a failing store, at most
CLOSE_DEADLINE = 10.0  # seconds ``close`` keeps trying a failing store
MAX_UNTRUSTED_HEADERS = 64  # headers kept of a request from a caller not authenticated


@dataclass(slots=True)
class Leg:
    """A leg as the data plane hands it over; bodies may be raw bytes or JSON values, unredacted.

    ``trusted`` is False for what a caller not authenticated sent: of its body only the size and a
    bounded head are stored, and its text columns and headers are cut to ``DEGRADED_FIELD_CHARS``,
    so a stranger cannot write large data into the audit store. ``rules`` is what gateway rules did
    on this leg (``RuleOutcome.to_json`` values), stored as JSON text.
    """

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
    trusted: bool = True
    rules: Sequence[Mapping[str, Any]] | None = None


def to_entry(leg: Leg, max_body_bytes: int | None = None) -> AuditEntry:
    """Serialize and redact a leg into the entry that is stored; never raises for its body. A body
    over ``max_body_bytes`` serialized (None: unbounded) is stored as a degraded note of its size
    and head, so one large answer cannot fill the store."""
    cut = _keep if leg.trusted else bounded_text
    return AuditEntry(
        correlation_id=leg.correlation_id,
        type=leg.type,
        created_at=leg.created_at,
        method=cut(leg.method),
        feature_name=cut(leg.feature_name),
        user_email=leg.user_email,
        host=leg.host,
        gateway=cut(leg.gateway),
        server=leg.server,
        status=leg.status,
        duration_ms=leg.duration_ms,
        error=cut(leg.error),
        body=_stored_body(leg, max_body_bytes),
        headers=_headers_text(leg),
        rules=orjson.dumps(list(leg.rules)).decode() if leg.rules else None,
    )


def _keep(text: str | None) -> str | None:
    return text


def _headers_text(leg: Leg) -> str | None:
    if leg.headers is None:
        return None
    headers = redact_headers(leg.headers.items() if isinstance(leg.headers, Mapping) else leg.headers)
    if not leg.trusted:
        kept = itertools.islice(headers.items(), MAX_UNTRUSTED_HEADERS)
        headers = {k[:DEGRADED_FIELD_CHARS]: v[:DEGRADED_FIELD_CHARS] for k, v in kept}
    return orjson.dumps(headers).decode()


def _stored_body(leg: Leg, max_body_bytes: int | None) -> str | None:
    try:
        if leg.body is None:
            return None
        body = leg.body
        raw = bytes(body) if isinstance(body, bytes | bytearray | memoryview) else orjson.dumps(body)
        if not leg.trusted:
            return _bounded_note(raw, "from a caller not authenticated")
        if max_body_bytes is not None and len(raw) > max_body_bytes:
            return _bounded_note(raw, f"over the audit's body limit of {max_body_bytes} bytes")
        return _body_text(body, raw)
    except (TypeError, ValueError, RecursionError) as exc:  # orjson's encode/decode errors are these
        return degraded_body(f"the body could not be serialized ({type(exc).__name__})")


def _body_text(body: Any, raw: bytes) -> str:
    """The body (``raw`` serialized) as stored: verbatim when no key in it can be a secret key, else
    redacted."""
    if not may_hold_secret_keys(raw):
        return raw.decode(errors="replace")
    try:
        value = body if isinstance(body, dict | list) else orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "[unparseable body withheld]"  # it might hold a secret we cannot find
    return orjson.dumps(redact(value)).decode()


def _bounded_note(raw: bytes, reason: str) -> str:
    """A body stored bounded: its size, and its head when no key in the head can be a secret key."""
    head = raw[:DEGRADED_HEAD_CHARS]
    kept = None if may_hold_secret_keys(head) else head.decode(errors="replace")
    return degraded_body(reason, len(raw), kept)


class AuditState(StrEnum):
    """How the audit is doing, as ``/healthz`` reports it."""

    OK = "ok"
    DEGRADED = "degraded"  # the store failed its last attempt(s); legs are kept and retried
    FAILING = "failing"  # new client messages are refused until the audit can be written again


class AuditUnavailableError(Exception):
    """The store kept failing until a flush's deadline; ``unwritten`` legs are still held."""

    def __init__(self, unwritten: int) -> None:
        super().__init__(f"the audit store is failing; {unwritten} legs are unwritten")
        self.unwritten = unwritten


@dataclass(slots=True)
class AuditStats:
    recorded: int = 0
    written: int = 0
    degraded: int = 0  # legs written with a degraded body (see ``degrade_entry``)
    write_failures: int = 0
    backpressure_waits: int = 0
    refused: int = 0  # client messages refused because the audit could not take them


@dataclass(frozen=True, slots=True)
class _Outcome:
    written: int
    degraded: int
    failure: Exception | None


class AuditRecorder:
    """Buffers legs and writes them through ``save`` (a blocking function, run in a worker thread)."""

    def __init__(
        self,
        save: Callable[[Sequence[AuditEntry]], None],
        *,
        batch_size: int = 1000,
        max_pending: int = 50_000,
        flush_interval: float = 0.05,
        room_wait: float = 1.0,
        max_body_bytes: int | None = None,
    ) -> None:
        self._save = save
        self._max_body = max_body_bytes
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._flush_interval = flush_interval
        self._room_wait = room_wait
        self._buffer: list[Leg] = []
        self._retry: list[AuditEntry] = []  # converted, not yet written: goes before the buffer
        self._failures = 0  # failed attempts in a row
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._writer: asyncio.Task[None] | None = None
        self.stats = AuditStats()

    @property
    def backlog(self) -> int:
        """Legs recorded and not yet written, the batch being written included."""
        return len(self._buffer) + len(self._retry)

    @property
    def state(self) -> AuditState:
        if self._failures >= FAILING_AFTER or self.backlog >= self._max_pending:
            return AuditState.FAILING
        return AuditState.DEGRADED if self._failures else AuditState.OK

    @property
    def retry_after(self) -> int:
        """Whole seconds a refused client should wait before trying again (``Retry-After``)."""
        return max(1, math.ceil(self._backoff()))

    def start(self) -> None:
        self._writer = asyncio.create_task(self._run())

    def resume(self, entries: Sequence[AuditEntry]) -> None:
        """Take entries an earlier run could not write (``audit.spill``), to be written before the
        legs recorded from now on. Call before ``start``."""
        if entries:
            log.info("audit: %d legs kept at the last shutdown are written first", len(entries))
        self._retry.extend(entries)
        self.stats.recorded += len(entries)
        if self.backlog >= self._max_pending:
            self._room.clear()

    def record(self, leg: Leg) -> None:
        self._buffer.append(leg)
        self.stats.recorded += 1
        if len(self._buffer) >= self._batch_size:
            self._wake.set()
        if self.backlog >= self._max_pending:
            self._room.clear()

    async def admit(self) -> str | None:
        """None when a new client message may be taken, else the reason it may not (for a 503).

        Refuses at once while the store is failing; while the backlog is full, waits up to
        ``room_wait`` seconds for the writer to make room."""
        if self._failures < FAILING_AFTER and not self._room.is_set():
            self.stats.backpressure_waits += 1
            log.warning("audit backlog at %d legs: waiting for the writer", self.backlog)
            try:
                async with asyncio.timeout(self._room_wait):
                    await self._room.wait()
            except TimeoutError:
                pass
        if self._failures >= FAILING_AFTER:
            reason = "audit unavailable: the audit store is failing"
        elif self.backlog >= self._max_pending:
            reason = f"audit unavailable: {self.backlog} legs wait to be written"
        else:
            return None
        self.stats.refused += 1
        return reason

    async def flush(self, deadline: float = CLOSE_DEADLINE) -> None:
        """Write everything recorded so far, retrying a failing store with backoff.

        Raises:
            AuditUnavailableError: the store still failed after ``deadline`` seconds.
        """
        loop = asyncio.get_running_loop()
        give_up = loop.time() + deadline
        while self.backlog:
            if await self._write_batch():
                continue
            if loop.time() + self._backoff() > give_up:
                raise AuditUnavailableError(self.backlog)
            await asyncio.sleep(self._backoff())

    async def close(self, deadline: float = CLOSE_DEADLINE) -> list[AuditEntry]:
        """Stop the writer and write what is left within ``deadline`` seconds.

        Returns the entries the store would not take (empty when all were written), in order."""
        self._stop.set()
        self._wake.set()
        if self._writer is not None:
            await self._writer
        try:
            await self.flush(deadline)
        except AuditUnavailableError as exc:
            log.error("audit: %s at shutdown", exc)
            unwritten, self._retry = (
                [*self._retry, *(to_entry(leg, self._max_body) for leg in self._buffer)],
                [],
            )
            self._buffer.clear()
            return unwritten
        return []

    async def _run(self) -> None:
        while not self._stop.is_set():
            if self._failures:
                await self._pause(self._stop, self._backoff())  # records must not hurry a retry
            else:
                await self._pause(self._wake, self._flush_interval)
            self._wake.clear()
            if self.backlog and not self._stop.is_set():
                await self._write_batch()

    @staticmethod
    async def _pause(event: asyncio.Event, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            pass

    def _backoff(self) -> float:
        return min(MAX_BACKOFF, self._flush_interval * (1 << min(16, max(0, self._failures - 1))))

    async def _write_batch(self) -> bool:
        """Write the next batch; False when the store is failing (what is unwritten is kept)."""
        async with self._lock:
            if not self._retry:
                legs = self._buffer[: self._batch_size]
                entries = await self._convert(legs)
                del self._buffer[: len(legs)]  # only now: until converted they count as backlog here
                self._retry = entries
            outcome = await asyncio.to_thread(self._save_isolating, self._retry)
            del self._retry[: outcome.written]
            self.stats.written += outcome.written
            self.stats.degraded += outcome.degraded
            if self.backlog < self._max_pending:
                self._room.set()
            if outcome.failure is not None:
                self._failures += 1
                self.stats.write_failures += 1
                log.error(
                    "writing audit legs failed (%s); %d are kept and retried",
                    type(outcome.failure).__name__,
                    self.backlog,
                )
                return False
            self._failures = 0
            return True

    def _save_isolating(self, entries: Sequence[AuditEntry]) -> _Outcome:
        """Save ``entries`` in order, halving a refused batch down to the refused rows and storing
        those degraded; stops at the first row the store will not take even degraded (worker thread).

        The first split of a refused batch is its first row and the rest: a store that is down is
        then known after four calls rather than one per halving (each may wait out a connect)."""
        written = degraded = 0
        chunks: deque[Sequence[AuditEntry]] = deque([entries])
        probed = False
        while chunks:
            chunk = chunks.popleft()
            try:
                self._save(chunk)
            except Exception as exc:
                if len(chunk) > 1:
                    middle = len(chunk) // 2 if probed else 1
                    probed = True
                    chunks.extendleft([chunk[middle:], chunk[:middle]])
                    continue
                alone = self._save_alone(chunk[0], exc)
                if alone is None:
                    return _Outcome(written, degraded, exc)
                degraded += alone
            written += len(chunk)
        return _Outcome(written, degraded, None)

    def _save_alone(self, entry: AuditEntry, refused: Exception) -> int | None:
        """One refused row: tried once more as is (the refusal may have been a passing one), then
        degraded. Returns how many legs were degraded (0 or 1), None when the store takes neither."""
        try:
            self._save([entry])
        except Exception:
            try:
                self._save([degrade_entry(entry, f"the store refused this leg ({type(refused).__name__})")])
            except Exception:
                return None
            log.warning("the store refused an audit leg (%s); it was stored degraded", type(refused).__name__)
            return 1
        return 0

    async def _convert(self, batch: list[Leg]) -> list[AuditEntry]:
        """Serialize and redact on the event loop, a slice at a time. Doing it in the worker thread
        made the loop wait for the GIL (up to the 5 ms switch interval) on every request."""
        entries: list[AuditEntry] = []
        for start in range(0, len(batch), CONVERT_SLICE):
            entries.extend(to_entry(leg, self._max_body) for leg in batch[start : start + CONVERT_SLICE])
            await asyncio.sleep(0)  # let requests in between slices
        return entries
