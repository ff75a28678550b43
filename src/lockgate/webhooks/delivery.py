"""``WebhookDeliverer``: sends the outbox's due deliveries to hosts' webhooks, signed, retried.

A background task on the event loop. It wakes when a delivery is queued in this process
(``wake``, after the minting transaction commits) and polls the outbox every ``poll_interval``
seconds for the others (another process, a retry coming due). Each attempt is one POST through the
egress guard (``lockgate.egress``), signed as Standard Webhooks specify (``signing``) with the host's
secret as it is at sending time, within ``timeout`` seconds overall. A 2xx answer delivers it;
anything else (another status, a refused or failed connection, a timeout) is retried after
``retry_delays[n]`` seconds following the n-th attempt, and after the last one the delivery has
failed. Redirects are not followed: a 3xx is a failed attempt. Delivered or failed, its payload is
cleared.

Its log lines carry the message id, the host's name, the attempt and the HTTP status or the
exception's class: never the body (it holds the token), the signature or the secret. (httpx's own
INFO line, logger ``httpx``, names the webhook URL.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine, Row

from lockgate.egress import guarded_client
from lockgate.store import webhooks as outbox
from lockgate.vault import Vault, VaultError
from lockgate.webhooks.signing import sign

log = logging.getLogger(__name__)

RETRY_DELAYS = (10.0, 30.0, 120.0, 420.0)  # five attempts over about ten minutes
USER_AGENT = "Lockgate-Webhooks/1"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One attempt at a delivery, as the log and ``on_attempt`` see it: never its body, signature or
    secret."""

    message_id: str
    host: str
    number: int  # 1 for the first attempt
    status: int | None  # the HTTP status answered; None: no answer
    error: str | None  # why it failed; None: delivered
    retry_at: float | None  # when it is tried again (Unix seconds); None: delivered or given up

    @property
    def outcome(self) -> str:
        """``delivered``, ``retrying`` or ``failed`` (given up)."""
        if self.error is None:
            return "delivered"
        return "retrying" if self.retry_at is not None else "failed"


class _GiveUp(Exception):
    """A delivery that cannot be sent and will not become sendable: failed without a retry."""


class WebhookDeliverer:
    """Delivers pending webhook deliveries from the store's outbox.

    ``allowed_networks`` are the CIDRs the egress guard lets through although not public;
    ``timeout`` bounds one attempt (seconds); ``retry_delays`` are the seconds between attempts
    (their count plus one is the number of attempts); ``clock`` gives Unix seconds; ``transport``
    replaces the guarded HTTP transport (tests: ``httpx.MockTransport``); ``on_attempt`` hears of
    each attempt once it is recorded (tests, metrics).

    Raises:
        ValueError: a malformed CIDR in ``allowed_networks``.
    """

    def __init__(
        self,
        engine: Engine,
        vault: Vault,
        *,
        allowed_networks: Sequence[str] = (),
        timeout: float = 10.0,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        poll_interval: float = 5.0,
        batch_size: int = 20,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        self._engine = engine
        self._vault = vault
        self._timeout = timeout
        self._retry_delays = tuple(retry_delays)
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._clock = clock
        self._on_attempt = on_attempt
        self._lease = timeout + 60.0  # a claimed delivery comes due again if its sender died
        if transport is None:
            self._client = guarded_client(allowed_networks, timeout)
        else:
            self._client = httpx.AsyncClient(transport=transport, timeout=timeout)
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        """Start delivering in the background, on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="webhook deliveries")

    def wake(self) -> None:
        """Look for due deliveries now: call it once the transaction that queued one has committed.
        Safe from any thread; does nothing before ``start``."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wakeup.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(self._wakeup.set)

    async def close(self) -> None:
        """Stop delivering: the attempts under way finish (and are recorded) first, within
        ``timeout`` seconds and a little more; past that they are cancelled and sent again once
        their lease ends."""
        self._closing = True
        if self._task is not None:
            self._wakeup.set()
            try:
                async with asyncio.timeout(self._timeout + 5):
                    await asyncio.shield(self._task)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self._client.aclose()

    async def deliver_due(self) -> None:
        """Make one attempt at every delivery due now, a batch at a time, concurrently within one.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the store failed.
        """
        while True:
            now = self._clock()
            claimed = await asyncio.to_thread(self._claim, now)
            results = await asyncio.gather(*(self._attempt(row) for row in claimed), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            if len(claimed) < self._batch_size or self._closing:
                return

    async def _run(self) -> None:
        while not self._closing:
            self._wakeup.clear()
            try:
                await self.deliver_due()
                next_due = await asyncio.to_thread(self._next_due)
            except Exception as exc:
                log.error("webhook deliveries: a pass failed (%s); trying again shortly", type(exc).__name__)
                next_due = None
            if self._closing:
                return
            wait = self._poll_interval
            if next_due is not None:
                wait = min(wait, max(0.01, next_due - self._clock()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wakeup.wait()

    def _claim(self, now: float) -> list[Row[Any]]:
        with self._engine.begin() as conn:
            return outbox.claim_due_deliveries(conn, now, self._lease, self._batch_size)

    def _next_due(self) -> float | None:
        with self._engine.connect() as conn:
            return outbox.load_next_due(conn)

    async def _attempt(self, row: Row[Any]) -> None:
        number = row.attempts + 1
        status, error, final = await self._send(row)
        retry_at = None
        if error is None and status is not None:
            await asyncio.to_thread(self._record_delivered, row.id, status)
        else:
            error = error or "no answer"
            if not final and number <= len(self._retry_delays):
                retry_at = self._clock() + self._retry_delays[number - 1]
            await asyncio.to_thread(self._record_failed_attempt, row.id, status, error, retry_at)
        attempt = Attempt(row.message_id, row.host, number, status, error, retry_at)
        _log(attempt)
        if self._on_attempt is not None:
            self._on_attempt(attempt)

    async def _send(self, row: Row[Any]) -> tuple[int | None, str | None, bool]:
        """One POST of the delivery: the status answered (None: none), why it failed (None: it was
        delivered) and whether that failure is final."""
        try:
            body, secret = self._open(row)
        except _GiveUp as exc:
            return None, str(exc), True
        except VaultError as exc:
            return None, f"VaultError: {exc}", False
        try:
            headers = sign(secret, row.message_id, int(self._clock()), body)
            headers.update({"content-type": "application/json", "user-agent": USER_AGENT})
            async with asyncio.timeout(self._timeout):
                async with self._client.stream(
                    "POST", row.webhook_url, content=body, headers=headers
                ) as answer:
                    status = answer.status_code  # the answer's body is never read
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            message = str(exc) or ("timed out" if isinstance(exc, TimeoutError) else "")
            return None, f"{type(exc).__name__}: {message}" if message else type(exc).__name__, False
        except Exception as exc:  # e.g. a malformed URL or secret: its message might quote either
            return None, type(exc).__name__, False
        return status, None if 200 <= status < 300 else f"HTTP {status}", False

    def _open(self, row: Row[Any]) -> tuple[bytes, str]:
        if not row.webhook_url:
            raise _GiveUp("the host has no webhook any more")
        if row.webhook_secret is None or row.payload is None:
            raise _GiveUp("nothing to sign with, or nothing to send")
        body = orjson.dumps(outbox.open_payload(self._vault, row.id, row.payload))
        return body, outbox.open_webhook_secret(self._vault, row.host_id, row.webhook_secret)

    def _record_delivered(self, delivery_id: int, status: int) -> None:
        with self._engine.begin() as conn:
            outbox.record_delivered(conn, delivery_id, status, self._clock())

    def _record_failed_attempt(
        self, delivery_id: int, status: int | None, error: str, retry_at: float | None
    ) -> None:
        with self._engine.begin() as conn:
            outbox.record_failed_attempt(conn, delivery_id, status=status, error=error, retry_at=retry_at)


def _log(attempt: Attempt) -> None:
    """One line per attempt: message id, host, attempt, HTTP status or the error's kind."""
    answer = (
        f"HTTP {attempt.status}" if attempt.status is not None else (attempt.error or "").split(":", 1)[0]
    )
    if attempt.error is None:
        log.info(
            "webhook %s to host %s: delivered (%s, attempt %d)",
            attempt.message_id,
            attempt.host,
            answer,
            attempt.number,
        )
    elif attempt.retry_at is not None:
        log.info(
            "webhook %s to host %s: attempt %d failed (%s); retrying",
            attempt.message_id,
            attempt.host,
            attempt.number,
            answer,
        )
    else:
        log.warning(
            "webhook %s to host %s: attempt %d failed (%s); giving up",
            attempt.message_id,
            attempt.host,
            attempt.number,
            answer,
        )
