"""Microsoft Presidio as a rule's detection method, offline (spec §2.2).

PATTERN_ENTITIES are found by Presidio's regex, checksum and context recognisers on a blank spaCy
pipeline (no model, no download). NER_ENTITIES need a spaCy model the operator installs and names
(``LOCKGATE_PRESIDIO_MODEL``, its directory). Nothing here reaches the network
(``rules.presidio_offline`` says how); docs/presidio.md is the operator's page.

One analyzer per model path serves every Presidio rule of the process (``offline_analyzer``); a rule
gets a ``PresidioDetector`` over it, which reports the rule's entities scored at or above its
threshold, minus its allowlist. A long text is analyzed in pieces (``pieces``) so the cost stays
linear, and one ``find`` stops at ``BUDGET_S``. Presidio and spaCy are imported when the first
analyzer is built, so a gateway without a Presidio rule never loads them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lockgate.domain.rules import LIMITS, PresidioDetection
from lockgate.rules.actions import Span
from lockgate.rules.regex import ScanTooLarge, ScanTooSlow

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine

PATTERN_ENTITIES = frozenset(
    {
        "CREDIT_CARD",
        "CRYPTO",
        "DATE_TIME",
        "EMAIL_ADDRESS",
        "IBAN_CODE",
        "IP_ADDRESS",
        "MAC_ADDRESS",
        "MEDICAL_LICENSE",
        "PHONE_NUMBER",
        "UK_NHS",
        "URL",
        "US_BANK_NUMBER",
        "US_DRIVER_LICENSE",
        "US_ITIN",
        "US_PASSPORT",
        "US_SSN",
        "UUID",
    }
)
NER_ENTITIES = frozenset({"PERSON", "LOCATION", "NRP", "ORGANIZATION"})
SUPPORTED_ENTITIES = PATTERN_ENTITIES | NER_ENTITIES
"""What a Presidio rule may select (``PresidioDetection.entities``)."""
MODEL_SETTING = "LOCKGATE_PRESIDIO_MODEL"
BUDGET_S = LIMITS.engine_timeout_s[1]
"""Seconds one ``find`` may analyze, at most, as long as a rule engine may take: Presidio costs up to
about 35 µs a character on texts made for it (bench/presidio.py), so 4 MiB could take minutes."""


class PresidioUnavailable(ValueError):
    """What a rule asks of Presidio is not available here: the model path does not load, or an NER
    entity is selected and no model was given."""


class UnknownEntityError(ValueError):
    """A rule selects an entity Presidio rules do not support."""


class Analyzer:
    """One offline Presidio analyzer, shared by every rule on the same model and safe to call from
    several threads at once (built and warmed up before it is shared; a call only reads it).

    ``entities`` is what it can find: PATTERN_ENTITIES, and NER_ENTITIES with a model.
    ``max_chars`` is the longest text it takes (the pipeline's ``max_length``, in characters).
    ``build_seconds`` is what building it took (pipeline, recognisers, warm-up and, in the first build
    of the process, importing spaCy and Presidio), measured once.
    """

    def __init__(
        self,
        engine: AnalyzerEngine,
        entities: frozenset[str],
        model_path: str | None,
        max_chars: int,
        build_seconds: float,
    ) -> None:
        self._engine = engine
        self.entities = entities
        self.model_path = model_path
        self.max_chars = max_chars
        self.build_seconds = build_seconds

    def find(
        self,
        text: str,
        entities: tuple[str, ...],
        threshold: float,
        allowlist: tuple[str, ...],
        deadline: float = math.inf,
    ) -> list[Span]:
        """Presidio's findings of ``entities`` in ``text`` scored at least ``threshold``, a finding
        whose text is exactly in ``allowlist`` left out; the best-scored first, so that of two
        findings of one stretch of text the better one names it (``actions.merged`` keeps the first
        label).

        The text is analyzed in pieces (``pieces``), so what costs Presidio more than linear time in
        the number of findings (its duplicate removal compares every pair) stays linear in the text.

        Raises:
            ScanTooSlow: a piece is left when ``time.perf_counter()`` passes ``deadline``.
        """
        spans: list[tuple[float, Span]] = []
        for start, end in pieces(text):
            if start and time.perf_counter() > deadline:
                raise ScanTooSlow(f"the analysis was stopped at its time budget, {start} characters in")
            seen = max(start - PIECE_MARGIN, 0)
            results = self._engine.analyze(
                text[seen : end + PIECE_MARGIN],
                "en",
                entities=list(entities),
                score_threshold=threshold,
                allow_list=list(allowlist) or None,
            )
            spans.extend(
                (result.score, Span(seen + result.start, seen + result.end, result.entity_type))
                for result in results
                if start <= seen + result.start < end
            )
        spans.sort(key=lambda scored: -scored[0])
        return [span for _, span in spans]


PIECE_CHARS = 16 * 1024
PIECE_MARGIN = 256
"""Characters a piece is analyzed with on either side of its own, so that a value (a spaced card
number, an IBAN) crossing into the next piece is seen whole, and the words before it give context."""


def pieces(text: str) -> Iterator[tuple[int, int]]:
    """``text`` cut into consecutive ``[start, end)`` pieces of at most ``PIECE_CHARS`` characters,
    each cut at white space where the piece's second half has some. A finding belongs to the piece
    it starts in."""
    start = 0
    while start < len(text):
        end = min(start + PIECE_CHARS, len(text))
        if end < len(text):
            end = next(
                (cut for cut in range(end, start + PIECE_CHARS // 2, -1) if text[cut - 1].isspace()), end
            )
        yield start, end
        start = end


_ANALYZERS: dict[str | None, Analyzer] = {}
_BUILDING = threading.Lock()


def offline_analyzer(model_path: str | None = None) -> Analyzer:
    """The process's analyzer for ``model_path`` (None: a blank pipeline, pattern entities only),
    built on first use and kept; concurrent first callers wait for one build.

    Raises:
        PresidioUnavailable: ``model_path`` does not hold a spaCy model that loads (names the path).
    """
    with _BUILDING:
        analyzer = _ANALYZERS.get(model_path)
        if analyzer is None:
            analyzer = _ANALYZERS[model_path] = build_analyzer(model_path)
        return analyzer


def build_analyzer(model_path: str | None = None) -> Analyzer:
    """A new analyzer (``offline_analyzer`` keeps one per model path; this builds every time).

    Raises:
        PresidioUnavailable: ``model_path`` does not hold a spaCy model that loads (names the path).
    """
    started = time.perf_counter()
    from lockgate.rules import presidio_offline  # imports spaCy and Presidio: only when a rule needs them

    try:
        nlp = presidio_offline.load_pipeline(model_path, max_chars=LIMITS.scan_bytes)
    except (OSError, ValueError, ImportError) as error:
        raise PresidioUnavailable(
            f"the spaCy model at {model_path!r} does not load ({type(error).__name__}); "
            f"{MODEL_SETTING} names the directory of an installed spaCy model"
        ) from error
    ner = NER_ENTITIES if model_path is not None else frozenset()
    engine = presidio_offline.build_engine(nlp, ner)
    return Analyzer(engine, PATTERN_ENTITIES | ner, model_path, nlp.max_length, time.perf_counter() - started)


class PresidioDetector:
    """A Presidio rule's detector (``rules.detect.Detector``): spans labelled with the entity type
    (``EMAIL_ADDRESS``), so ``replace`` without a replacement writes ``<EMAIL_ADDRESS>``."""

    def __init__(self, detection: PresidioDetection, analyzer: Analyzer, budget_s: float = BUDGET_S) -> None:
        """``budget_s``: seconds one ``find`` may take (checked between pieces of the text).

        Raises:
        UnknownEntityError: an entity is not in SUPPORTED_ENTITIES.
        PresidioUnavailable: an NER entity is selected and ``analyzer`` has no model.
        ValueError: ``threshold`` is outside [0, 1].
        """
        unknown = sorted(set(detection.entities) - SUPPORTED_ENTITIES)
        if unknown:
            raise UnknownEntityError(
                f"unknown Presidio entity {unknown[0]!r}; known: {', '.join(sorted(SUPPORTED_ENTITIES))}"
            )
        missing = sorted(set(detection.entities) - analyzer.entities)
        if missing:
            raise PresidioUnavailable(f"{missing[0]} needs a spaCy model: set {MODEL_SETTING}")
        if not 0.0 <= detection.threshold <= 1.0:
            raise ValueError(f"a Presidio threshold is between 0 and 1, not {detection.threshold}")
        self._analyzer = analyzer
        self._entities = tuple(sorted(detection.entities or analyzer.entities))
        self._threshold = detection.threshold
        self._allowlist = detection.allowlist
        self._budget_s = budget_s

    def find(self, text: str, deadline: float = math.inf) -> list[Span]:
        """``deadline`` (``time.perf_counter()`` scale) is the rule's over the whole message
        (``rules.evaluate``); the detector's own budget bounds this text too.

        Raises:
        rules.regex.ScanTooLarge: ``text`` is over ``LIMITS.scan_bytes`` in UTF-8, or longer than the
            analyzer's pipeline takes (``Analyzer.max_chars``: a model's limit).
        rules.regex.ScanTooSlow: analyzing ``text`` passed ``deadline`` or took longer than the budget.
        """
        if len(text) > self._analyzer.max_chars:
            raise ScanTooLarge(
                f"text of {len(text)} characters is above the {self._analyzer.max_chars} "
                "the spaCy pipeline takes"
            )
        if len(text) * 4 > LIMITS.scan_bytes:
            size = len(text.encode("utf-8", "surrogatepass"))
            if size > LIMITS.scan_bytes:
                raise ScanTooLarge(f"text of {size} bytes is above the {LIMITS.scan_bytes}-byte scan limit")
        deadline = min(deadline, time.perf_counter() + self._budget_s)
        return self._analyzer.find(text, self._entities, self._threshold, self._allowlist, deadline)
