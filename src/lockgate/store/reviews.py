"""Feature reviews: what the data plane withheld for an administrator to decide, or what screening
found that withholds nothing (issue 11 items 2 and 3).

One ``feature_reviews`` row per offer: (assignment, kind, name, digest of the offered definition).
A review is ``open`` when it withholds the feature (``reason``: ``pin_mismatch``,
``awaiting_approval`` or ``quarantined``) and ``noted`` (reason NULL) when screening found only
findings that withhold nothing. Seeing an offer again bumps ``last_seen``; seen passing, it leaves the
status as the control plane set it (``approved``/``rejected``), but seen withheld again (a decision
revoked, or a ``noted`` offer now withheld) its review is reopened with the current reason. At most
``MAX_DIGESTS`` rows are kept per (assignment, kind, name): the least recently seen digests go first.

``ReviewWriter`` writes off the event loop, in one thread, as the access reader and the audit do: a
``note`` is deduplicated in memory (an offer seen for the same reason is written at most once a
minute, so a review is reopened within a minute of its decision being revoked), the
pending notes are bounded, and a failed write is logged, never raised into the call that noted it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import JsonObject
from lockgate.domain.provisioning import Withheld
from lockgate.store.schema import feature_reviews

log = logging.getLogger(__name__)

BUMP_INTERVAL = 60.0
"""Seconds between two writes of one offer's ``last_seen``."""
MAX_REMEMBERED = 4096
"""Offers whose last write the writer remembers (least recently noted forgotten first)."""
MAX_DIGESTS = 16
"""Reviews kept per (assignment, kind, name), one per digest: a server changing a definition on every
listing must not grow the table without end."""
MAX_PENDING = 256
"""Notes waiting for the thread; past it a note is dropped (logged) until the writes catch up."""


@dataclass(frozen=True, slots=True)
class Review:
    """One offer to review: ``reason`` None for findings that withhold nothing."""

    assignment_id: int
    kind: FeatureKind
    name: str
    digest: str
    reason: Withheld | None
    definition: JsonObject
    findings: tuple[dict[str, str], ...]  # each {kind, severity, location, rule, evidence}

    @property
    def key(self) -> tuple[int, FeatureKind, str, str, Withheld | None]:
        """What a sighting is deduplicated by: the offer and why it is withheld."""
        return (self.assignment_id, self.kind, self.name, self.digest, self.reason)


def save_review(conn: Connection, review: Review, now: float) -> None:
    """Insert the review of an offer, or bump the ``last_seen`` of the one already recorded (and
    reopen it when it is withheld again); then drop the feature's reviews past ``MAX_DIGESTS``."""
    feature = (
        (feature_reviews.c.assignment_id == review.assignment_id)
        & (feature_reviews.c.kind == review.kind.value)
        & (feature_reviews.c.name == review.name)
    )
    where = feature & (feature_reviews.c.digest == review.digest)
    bump = update(feature_reviews).where(where).values(last_seen=now)
    found = conn.execute(select(feature_reviews.c.status, feature_reviews.c.reason).where(where)).first()
    if found is not None:
        reason = review.reason.value if review.reason is not None else None
        reopen = reason is not None and (found.status != "open" or found.reason != reason)
        conn.execute(bump.values(status="open", reason=reason) if reopen else bump)
        return
    values: dict[str, Any] = {
        "assignment_id": review.assignment_id,
        "kind": review.kind.value,
        "name": review.name,
        "digest": review.digest,
        "reason": review.reason.value if review.reason is not None else None,
        "definition": review.definition,
        "findings": list(review.findings),
        "status": "open" if review.reason is not None else "noted",
        "first_seen": now,
        "last_seen": now,
    }
    try:
        with conn.begin_nested():
            conn.execute(feature_reviews.insert().values(**values))
    except IntegrityError:  # another gateway process recorded it first
        conn.execute(bump)
    newest = (
        select(feature_reviews.c.id)
        .where(feature)
        .order_by(feature_reviews.c.last_seen.desc(), feature_reviews.c.id.desc())
        .limit(MAX_DIGESTS)
    )
    kept = [row.id for row in conn.execute(newest)]
    conn.execute(delete(feature_reviews).where(feature & feature_reviews.c.id.not_in(kept)))


class ReviewWriter:
    """Records reviews in ``engine`` from a thread; ``clock`` gives seconds (monotonic)."""

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._clock = clock
        self._written: OrderedDict[tuple[int, FeatureKind, str, str, Withheld | None], float] = OrderedDict()
        self._pending = 0
        self._lock = threading.Lock()  # the loop notes, the thread settles
        self._threads = ThreadPoolExecutor(1, thread_name_prefix="lockgate-reviews")

    def note(self, review: Review) -> Future[None] | None:
        """Record ``review`` unless it was within ``BUMP_INTERVAL``; the write's future, or None when
        nothing is written now. Never raises."""
        now = self._clock()
        with self._lock:
            last = self._written.get(review.key)
            if last is not None and now - last < BUMP_INTERVAL:
                return None
            if self._pending >= MAX_PENDING:
                log.warning(
                    "reviews: %d writes pending; %r waits for its next sighting", self._pending, review.name
                )
                return None
            self._written[review.key] = now
            self._written.move_to_end(review.key)
            while len(self._written) > MAX_REMEMBERED:
                self._written.popitem(last=False)
            self._pending += 1
        try:
            return self._threads.submit(self._write, review)
        except RuntimeError:  # closed
            self._settle(review, written=False)
            return None

    async def flush(self) -> None:
        """Wait until the writes noted so far are done."""
        await asyncio.wrap_future(self._threads.submit(lambda: None))

    def close(self) -> None:
        """Finish the writes under way; later notes are dropped."""
        self._threads.shutdown(wait=True)

    def _write(self, review: Review) -> None:
        try:
            with self._engine.begin() as conn:
                save_review(conn, review, time.time())
        except SQLAlchemyError:
            log.exception("reviews: the review of %s %r was not recorded", review.kind.value, review.name)
            self._settle(review, written=False)
            return
        self._settle(review, written=True)

    def _settle(self, review: Review, *, written: bool) -> None:
        with self._lock:
            self._pending -= 1
            if not written:
                self._written.pop(review.key, None)  # tried again on its next sighting
