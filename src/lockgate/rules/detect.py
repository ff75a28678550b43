"""Detectors: what finds the spans a rule acts on, one string at a time (spec §2.2).

A ``Detector`` is built once per rule version and is safe to share between threads. The regex
detector OR-s a rule's own JavaScript patterns (``rules.regex``) with its ready-made patterns
(``rules.presets``); Presidio's is in ``rules.presidio``. Engines decide over whole messages and are
not detectors (``lockgate.engines``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol

from lockgate.domain.rules import RegexDetection
from lockgate.rules.actions import Span
from lockgate.rules.presets import PRESETS, Preset
from lockgate.rules.regex import JsRegex, compile_js


class Detector(Protocol):
    """Finds what a rule matches in one string."""

    def find(self, text: str, deadline: float = math.inf) -> list[Span]:
        """The matches in ``text`` (character offsets), in any order, possibly overlapping.

        Raises:
            rules.regex.ScanTooLarge: ``text`` is over the scan limit (or has too many matches).
            rules.regex.ScanTooSlow: ``time.perf_counter()`` passed ``deadline`` during the scan.
        """
        ...


class UnknownPresetError(ValueError):
    """A rule names a ready-made pattern that does not exist."""


class RegexDetector:
    """A rule's patterns OR-ed with its presets; a preset's candidate counts only where its
    validator (a checksum, say) accepts it."""

    def __init__(self, detection: RegexDetection) -> None:
        """Raises:
        rules.regex.RegexRefused: a pattern cannot be run safely (names the construct).
        UnknownPresetError: a preset name is unknown.
        """
        self._own: JsRegex | None = compile_js(list(detection.patterns)) if detection.patterns else None
        unknown = [name for name in detection.presets if name not in PRESETS]
        if unknown:
            raise UnknownPresetError(
                f"unknown ready-made pattern {unknown[0]!r}; known: {', '.join(PRESETS)}"
            )
        self._presets: list[tuple[Preset, JsRegex]] = [
            (PRESETS[name], PRESETS[name].compiled()) for name in detection.presets
        ]

    @property
    def patterns(self) -> int:
        """Compiled patterns ``find`` runs over each text (the rule's own OR-ed, one per preset)."""
        return (self._own is not None) + len(self._presets)

    def find(self, text: str, deadline: float = math.inf) -> list[Span]:
        spans = [Span(start, end) for start, end in self._own.find(text, deadline)] if self._own else []
        for preset, regex in self._presets:
            spans.extend(
                Span(start, end, preset.label)
                for start, end in regex.find(text, deadline)
                if preset.accepts(text[start:end])
            )
        return spans


class Prefilter:
    """Every regex rule of a gateway at once: one search of a text tells whether any of their
    patterns (own or ready-made) matches in it, so the common case, nothing there, costs one pass
    instead of one per rule. It is a superset (the presets' validators are not applied): a text it
    finds something in is searched by each rule as usual.

    Raises (constructor):
        rules.regex.RegexRefused: the patterns together do not compile (e.g. over RE2's memory bound).
    """

    def __init__(self, detections: Iterable[RegexDetection]) -> None:
        detections = list(detections)
        sources = [source for d in detections for source in d.patterns]
        sources += [PRESETS[name].pattern for d in detections for name in d.presets if name in PRESETS]
        self._regex = compile_js(sources)

    @property
    def patterns(self) -> int:
        return 1

    def find(self, text: str, deadline: float = math.inf) -> list[Span]:
        """One span covering ``text`` when some rule may match in it, else none."""
        return [Span(0, len(text), "candidate")] if self._regex.matches(text, deadline) else []
