"""Feature reviews: one row per offer, its last sighting bumped at most once a minute, written off the
event loop, and a failed write logged, never raised."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine, create_engine, update

from lockgate.domain.declaration import Declaration
from lockgate.domain.features import FeatureKind
from lockgate.domain.provisioning import Withheld
from lockgate.store.declarative import apply_declaration
from lockgate.store.reviews import BUMP_INTERVAL, MAX_DIGESTS, Review, ReviewWriter
from lockgate.store.schema import feature_reviews
from tests.conftest import TEST_VAULT
from tests.dataplane.provisioning_kit import assignment_id, reviews

pytestmark = pytest.mark.anyio
FINDING = {"kind": "hidden_instructions", "severity": "low", "location": "description", "rule": "emphasis",
           "evidence": "NOTE:"}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _assigned(engine: Engine) -> int:
    declaration = {
        "servers": [{"name": "alpha", "transport": "http", "url": "https://alpha.example/mcp"}],
        "gateways": [{"name": "g", "servers": [{"server": "alpha"}]}],
    }
    apply_declaration(engine, TEST_VAULT, Declaration.model_validate(declaration))
    return assignment_id(engine, "alpha")


def _review(assignment: int, reason: Withheld | None, digest: str = "d1") -> Review:
    return Review(assignment, FeatureKind.TOOL, "echo", digest, reason, {"name": "echo"}, (FINDING,))


async def test_an_offer_is_recorded_once_and_seen_again_at_most_once_a_minute(engine: Engine) -> None:
    assignment = _assigned(engine)
    clock = Clock()
    writer = ReviewWriter(engine, clock=clock)
    try:
        first = writer.note(_review(assignment, Withheld.AWAITING_APPROVAL))
        within = writer.note(_review(assignment, Withheld.AWAITING_APPROVAL))
        await writer.flush()
        with engine.begin() as conn:  # the control plane decided it meanwhile
            conn.execute(update(feature_reviews).values(status="approved"))
        clock.now += BUMP_INTERVAL
        later = writer.note(_review(assignment, None))  # seen passing, with its findings
        await writer.flush()
    finally:
        writer.close()

    (row,) = reviews(engine)
    assert first is not None and within is None and later is not None
    assert (row["status"], row["reason"], row["findings"]) == ("approved", "awaiting_approval", [FINDING])
    assert row["last_seen"] >= row["first_seen"]


async def test_findings_that_withhold_nothing_are_noted_and_another_digest_is_another_review(
    engine: Engine,
) -> None:
    assignment = _assigned(engine)
    writer = ReviewWriter(engine)
    try:
        writer.note(_review(assignment, None))
        writer.note(_review(assignment, Withheld.PIN_MISMATCH, digest="d2"))
        await writer.flush()
    finally:
        writer.close()

    assert [(r["digest"], r["status"], r["reason"]) for r in reviews(engine)] == [
        ("d1", "noted", None),
        ("d2", "open", "pin_mismatch"),
    ]


async def test_a_failed_write_is_logged_not_raised_and_tried_again_at_the_next_sighting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = create_engine("sqlite://")  # no tables
    writer = ReviewWriter(broken)
    try:
        with caplog.at_level(logging.ERROR, logger="lockgate.store.reviews"):
            writer.note(_review(1, Withheld.QUARANTINED))
            await writer.flush()
        again = writer.note(_review(1, Withheld.QUARANTINED))
        await writer.flush()
    finally:
        writer.close()
        broken.dispose()

    assert "was not recorded" in caplog.text
    assert again is not None


async def test_an_offer_withheld_again_after_its_decision_reopens_its_review_with_the_current_reason(
    engine: Engine,
) -> None:
    assignment, clock = _assigned(engine), Clock()
    writer = ReviewWriter(engine, clock=clock)
    try:
        writer.note(_review(assignment, Withheld.AWAITING_APPROVAL))
        writer.note(_review(assignment, None, digest="d2"))
        await writer.flush()
        with engine.begin() as conn:  # approved, then the approval revoked
            conn.execute(
                update(feature_reviews).where(feature_reviews.c.digest == "d1").values(status="approved")
            )
        clock.now += BUMP_INTERVAL  # its next sighting the writer does not skip
        writer.note(_review(assignment, Withheld.AWAITING_APPROVAL))
        writer.note(_review(assignment, Withheld.QUARANTINED, digest="d2"))
        await writer.flush()
    finally:
        writer.close()

    assert [(r["digest"], r["status"], r["reason"]) for r in reviews(engine)] == [
        ("d1", "open", "awaiting_approval"),
        ("d2", "open", "quarantined"),
    ]


async def test_a_feature_keeps_the_reviews_of_its_newest_digests_only(engine: Engine) -> None:
    assignment = _assigned(engine)
    writer = ReviewWriter(engine)
    try:
        for n in range(MAX_DIGESTS + 5):
            writer.note(_review(assignment, Withheld.PIN_MISMATCH, digest=f"d{n:02}"))
            await writer.flush()
    finally:
        writer.close()

    kept = [r["digest"] for r in reviews(engine)]
    assert kept == [f"d{n:02}" for n in range(5, MAX_DIGESTS + 5)]
