"""Running a gateway's rules over one leg of one message (spec §2.5, issue 12 §1).

The rules that apply run in their order. A detection rule finds spans in each scanned string
(``rules.scan``) and acts: ``block`` stops at once; the other actions transform the strings and the
next rule sees the transformed message (chaining). An engine rule hands the whole message to its
engine (``Ask``) and follows the verdict: ``pass``, ``block``, or ``modify`` (the engine's complete
replacement becomes the message). A rule whose detection cannot decide (an engine failing, a
detector refusing a text over the scan limit, a rule that cannot be compiled) follows its failure
mode: ``fail_open`` lets the message on, ``fail_closed`` blocks it; a regex rule has no failure mode
and blocks (an uninspected message never passes a rule silently).

Bounds (``domain.rules.LIMITS``): a message with more than ``scan_bytes`` of text or ``scan_strings``
strings is too large to inspect, and a modifying rule acts on at most ``matches_per_text`` matches
in all; each detection rule has one deadline, ``scan_s`` from its start, for
the whole message (checked between strings and inside long scans); past it the rule cannot decide.
The loop yields to the event loop after each millisecond of work.

The same function serves the data plane and ``lockgate rules test``, so both decide alike.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lockgate.domain.rules import (
    LIMITS,
    ActionKind,
    Direction,
    FailureMode,
    Rule,
    RuleOutcome,
    Verdict,
    VerdictKind,
)
from lockgate.rules.actions import Span, transform
from lockgate.rules.detect import Detector, RegexDetector
from lockgate.rules.regex import ScanTooLarge, ScanTooSlow
from lockgate.rules.scan import Path, rewritten, scanned_strings


@dataclass(frozen=True, slots=True)
class Compiled:
    """A rule ready to run: its detector (None for an engine rule), or why it cannot run (``broken``)."""

    rule: Rule
    detector: Detector | None = None
    broken: str | None = None


@dataclass(frozen=True, slots=True)
class Blocked:
    """The rule that stopped the message and why, in words safe to show and store (never matched text)."""

    rule: Rule
    reason: str


@dataclass(slots=True)
class Evaluation:
    """The message after the rules (``message`` is the input object when nothing changed), what each
    rule that acted did, the rule that blocked if one did, and whether the original body is to be
    stored: every rule that acted asks for it (``Rule.store_original``; spec §5, the stored bodies
    are the transformed ones unless the rules opt out)."""

    message: Mapping[str, Any]
    outcomes: list[RuleOutcome] = field(default_factory=list)
    blocked: Blocked | None = None
    changed: bool = False
    store_original: bool = False

    def alerting(self, rules: Mapping[int, Rule]) -> list[RuleOutcome]:
        """The outcomes of rules with alerts on (spec §2.5: an alert each time such a rule acts)."""
        return [o for o in self.outcomes if rules[o.rule_id].alerts]


Ask = Callable[[Rule, Mapping[str, Any]], Awaitable[Verdict]]
"""Asks a rule's engine about a whole JSON-RPC message; raises anything on failure."""

Find = Callable[[Detector, list[str], float], Awaitable[list[list[Span]]]]
"""Runs a detector over strings by a deadline (``time.perf_counter()`` scale), as ``find_all`` does
(the data plane moves big or slow work off its event loop)."""


def find_all(detector: Detector, texts: list[str], deadline: float = math.inf) -> list[list[Span]]:
    """Each text's spans, in order.

    Raises:
        rules.regex.ScanTooSlow: ``deadline`` passed before a text, or during one's scan.
        Anything the detector raises (``rules.regex.ScanTooLarge``).
    """
    found: list[list[Span]] = []
    for text in texts:
        if time.perf_counter() > deadline:
            raise ScanTooSlow(
                f"the scan was stopped at its deadline, {len(found)} of {len(texts)} strings in"
            )
        found.append(detector.find(text, deadline))
    return found


async def find_inline(detector: Detector, texts: list[str], deadline: float) -> list[list[Span]]:
    """``find_all`` on the caller's event loop (``lockgate rules test``, tests)."""
    return find_all(detector, texts, deadline)


YIELD_AFTER_S = 0.001  # rules run back to back for at most this long before the event loop is served


class DetectionFailed(Exception):
    """A detector could not decide; ``reason`` is safe to store."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def evaluate(
    compiled: Sequence[Compiled],
    leg: Direction,
    method: str,
    message: Mapping[str, Any],
    *,
    key: bytes,
    ask: Ask | None = None,
    find: Find = find_inline,
    prefilter: Detector | None = None,
) -> Evaluation:
    """Run ``compiled`` (already filtered to the rules that apply, in order) over ``message`` (a whole
    JSON-RPC message: ``params`` on the request leg, ``result`` or ``error`` on the response leg, or a
    message to the client during a call), whose strings are those ``rules.scan`` gives for ``method``,
    the message's own (a notification's, not its call's).

    ``key`` is the gateway's key for ``hash``. ``prefilter`` (``rules.detect.Prefilter``) finds
    something wherever any regex rule could: where it finds nothing, the regex rules are skipped.
    Never raises for a rule's failure: it is an outcome.
    """
    result = Evaluation(message)
    scanned = _Scanned(method, leg)
    yielded = time.perf_counter()
    for entry in compiled:
        rule = entry.rule
        try:
            if entry.broken is not None:
                raise DetectionFailed(entry.broken)
            if entry.detector is None:
                acted = await _engine(rule, result, ask)
            elif isinstance(entry.detector, RegexDetector) and await scanned.of(result.message).quiet(
                prefilter, find
            ):
                acted = False
            else:
                acted = await _detect(entry, scanned.of(result.message), result, key, find)
        except DetectionFailed as failed:
            acted = _failed(rule, result, failed.reason)
        if acted:
            first = len(result.outcomes) == 1
            result.store_original = rule.store_original and (first or result.store_original)
        if result.blocked is not None:
            break
        if time.perf_counter() - yielded > YIELD_AFTER_S:  # lets the event loop serve others
            await asyncio.sleep(0)
            yielded = time.perf_counter()
    return result


class _Scanned:
    """The strings of the message as it is now, worked out again only once a rule changed it."""

    def __init__(self, method: str, leg: Direction) -> None:
        self._method, self._leg = method, leg
        self._message: Mapping[str, Any] | None = None
        self.strings: list[tuple[Path, str]] = []
        self.texts: list[str] = []
        self.too_large: str | None = None  # what makes it too large to inspect
        self._quiet: bool | None = None  # the prefilter found nothing (None: not asked yet)

    def of(self, message: Mapping[str, Any]) -> _Scanned:
        if message is not self._message:
            self._message = message
            try:
                self.strings = scanned_strings(self._method, self._leg, message)
                self.too_large = None
            except ScanTooLarge as exc:  # more strings or JSON values than a message may hold
                self.strings, self.too_large = [], str(exc)
            self.texts = [text for _, text in self.strings]
            if (
                sum(len(text) for text in self.texts) * 4 > LIMITS.scan_bytes
                and _utf8_size(self.strings) > LIMITS.scan_bytes
            ):
                self.too_large = f"more than {LIMITS.scan_bytes} bytes of text"
            self._quiet = None
        return self

    async def quiet(self, prefilter: Detector | None, find: Find) -> bool:
        """Whether ``prefilter`` finds nothing in any string (False without one, for a message too
        large to inspect, or when it fails: the rules then run and decide)."""
        if self._quiet is None:
            self._quiet = False
            if prefilter is not None and self.too_large is None:
                try:
                    found = await find(prefilter, self.texts, time.perf_counter() + LIMITS.scan_s)
                except Exception:  # the rules run: each fails or decides by its own
                    return False
                self._quiet = not any(found)
        return self._quiet


async def _detect(entry: Compiled, scanned: _Scanned, result: Evaluation, key: bytes, find: Find) -> bool:
    rule, detector = entry.rule, entry.detector
    assert detector is not None and rule.action is not None
    if scanned.too_large is not None:
        raise DetectionFailed(f"the message holds {scanned.too_large} to inspect")
    strings = scanned.strings
    try:
        found = await find(detector, scanned.texts, time.perf_counter() + LIMITS.scan_s)
    except Exception as exc:  # ScanTooLarge, ScanTooSlow, any detector fault: never its message (text)
        raise DetectionFailed(f"the detector failed ({type(exc).__name__})") from None
    count = sum(len(spans) for spans in found)
    if not count:
        return False
    if rule.action.kind is ActionKind.BLOCK:
        result.outcomes.append(RuleOutcome(rule.id, rule.name, rule.action.kind.value, count))
        result.blocked = Blocked(rule, f"matched {count} time{'s' if count != 1 else ''}")
        return True
    if count > LIMITS.matches_per_text:  # the edits are made on the event loop: as bounded as one text's
        raise DetectionFailed(f"more than {LIMITS.matches_per_text} matches to act on in one message")
    try:
        edits = {
            path: transform(text, spans, rule.action, key)
            for (path, text), spans in zip(strings, found, strict=True)
            if spans
        }
        changed = rewritten(result.message, edits)
    except Exception as exc:  # e.g. hash without the gateway's key, a span past a text's end
        raise DetectionFailed(f"the action failed ({type(exc).__name__})") from None
    result.outcomes.append(RuleOutcome(rule.id, rule.name, rule.action.kind.value, count))
    result.message = changed
    result.changed = True
    return True


async def _engine(rule: Rule, result: Evaluation, ask: Ask | None) -> bool:
    if ask is None:
        raise DetectionFailed("no rule engine can be reached from here")
    try:
        verdict = await ask(rule, result.message)
    except Exception as exc:  # an engine failing in any way is an outcome, never a crash
        raise DetectionFailed(getattr(exc, "reason", type(exc).__name__)) from None
    if verdict.kind is VerdictKind.PASS:
        return False
    if verdict.kind is VerdictKind.ERROR:
        raise DetectionFailed(f"the engine answered error: {verdict.reason or 'no reason given'}")
    result.outcomes.append(RuleOutcome(rule.id, rule.name, verdict.kind.value, 1))
    if verdict.kind is VerdictKind.BLOCK:
        result.blocked = Blocked(rule, verdict.reason or "the rule engine blocked it")
        return True
    assert verdict.body is not None
    result.message = dict(verdict.body)
    result.changed = True
    return True


def _failed(rule: Rule, result: Evaluation, reason: str) -> bool:
    if rule.failure_mode is FailureMode.OPEN:
        result.outcomes.append(RuleOutcome(rule.id, rule.name, "failed_open", 0, reason))
        return True
    result.outcomes.append(RuleOutcome(rule.id, rule.name, "failed_closed", 0, reason))
    result.blocked = Blocked(rule, f"the rule could not decide ({reason}) and fails closed")
    return True


def _utf8_size(strings: list[tuple[Path, str]]) -> int:
    return sum(len(text.encode("utf-8", "surrogatepass")) for _, text in strings)
