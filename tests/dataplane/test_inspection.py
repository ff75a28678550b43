"""Where detection runs: a regex over small texts on the event loop, anything larger (or any other
detector) on the detection threads."""

from __future__ import annotations

import math
import threading

import pytest

from lockgate.dataplane.inspection import INLINE_CHARS, INLINE_SEARCHES, Finder, inline
from lockgate.domain.rules import RegexDetection
from lockgate.rules.actions import Span
from lockgate.rules.detect import Prefilter, RegexDetector

pytestmark = pytest.mark.anyio


class Noting:
    """A detector (not a regex) that notes the thread it ran on and finds nothing."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def find(self, text: str, deadline: float = math.inf) -> list[Span]:
        self.threads.append(threading.current_thread().name)
        return []


class NotingRegex(RegexDetector):
    """A regex detector that notes the thread it ran on."""

    def __init__(self) -> None:
        super().__init__(RegexDetection(patterns=("/x+/",)))
        self.threads: list[str] = []

    def find(self, text: str, deadline: float = math.inf) -> list[Span]:
        self.threads.append(threading.current_thread().name)
        return super().find(text, deadline)


async def test_a_regex_over_small_texts_runs_in_place_and_over_large_ones_on_a_thread() -> None:
    finder = Finder(threads=1)
    regex = NotingRegex()
    try:
        small = await finder(regex, ["axxb", "y"], math.inf)
        large = await finder(regex, ["x" * (INLINE_CHARS + 1)], math.inf)
    finally:
        finder.close()

    assert small == [[Span(1, 3)], []]
    assert large == [[Span(0, INLINE_CHARS + 1)]]
    assert regex.threads[:2] == [threading.current_thread().name] * 2
    assert regex.threads[2].startswith("lockgate-detect")


async def test_other_detectors_always_run_on_a_thread() -> None:
    finder = Finder(threads=1)
    other = Noting()
    try:
        await finder(other, ["tiny"], math.inf)
    finally:
        finder.close()

    assert other.threads == ["lockgate-detect_0"]


def test_the_inline_choice_counts_strings_times_patterns_as_well_as_characters() -> None:
    one = RegexDetector(RegexDetection(patterns=("/x/",)))
    two = RegexDetector(RegexDetection(patterns=("/x/",), presets=("us_ssn",)))
    assert two.patterns == 2
    assert inline(one, ["y"] * INLINE_SEARCHES)
    assert not inline(one, ["y"] * (INLINE_SEARCHES + 1))  # many one-character strings go to a thread
    assert not inline(two, ["y"] * (INLINE_SEARCHES // 2 + 1))
    assert not inline(one, ["y" * INLINE_CHARS, "y"])
    assert not inline(Noting(), ["y"])


def test_the_prefilter_of_all_regex_rules_is_one_search_and_runs_in_place_as_a_regex_does() -> None:
    prefilter = Prefilter([RegexDetection(patterns=("/x/",), presets=("us_ssn", "email"))])
    assert prefilter.patterns == 1
    assert inline(prefilter, ["y"] * INLINE_SEARCHES)
    assert not inline(prefilter, ["y"] * (INLINE_SEARCHES + 1))


async def test_many_short_strings_are_scanned_on_a_thread_in_one_call() -> None:
    finder = Finder(threads=1)
    regex = NotingRegex()
    try:
        found = await finder(regex, ["x"] * (INLINE_SEARCHES + 1), math.inf)
    finally:
        finder.close()

    assert found == [[Span(0, 1)]] * (INLINE_SEARCHES + 1)
    assert set(regex.threads) == {"lockgate-detect_0"}
