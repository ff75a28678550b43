"""Running a gateway's rules over one leg of one message (spec §2.5, issue 12 §1).

The rules that apply run in their order. A detection rule finds spans in each scanned string
(``rules.scan``) and acts: ``block`` stops at once; the other actions transform the strings and the
next rule sees the transformed message (chaining). An engine rule hands the whole message to its
engine (``Ask``) and follows the verdict: ``pass``, ``block``, or ``modify`` (the engine's complete
replacement becomes the message). A rule whose detection cannot decide (an engine failing, a
detector refusing a text over the scan limit, a rule that cannot be compiled) follows its failure
mode: ``fail_open`` lets the message on, ``fail_closed`` blocks it; a regex rule has no failure mode
and blocks (an uninspected message never passes a rule silently).

The same function serves the data plane and ``lockgate rules test``, so both decide alike.
"""

from __future__ import annotations

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
from lockgate.rules.detect import Detector
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

Find = Callable[[Detector, list[str]], Awaitable[list[list[Span]]]]
"""Runs a detector over strings (the data plane moves big or slow work off its event loop)."""


async def find_inline(detector: Detector, texts: list[str]) -> list[list[Span]]:
    return [detector.find(text) for text in texts]


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
) -> Evaluation:
    """Run ``compiled`` (already filtered to the rules that apply, in order) over ``message`` (a whole
    JSON-RPC message: ``params`` on the request leg, ``result`` or ``error`` on the response leg, or a
    message to the client during a call), whose strings are those ``rules.scan`` gives for ``method``,
    the message's own (a notification's, not its call's).

    ``key`` is the gateway's key for ``hash``. Never raises for a rule's failure: it is an outcome.
    """
    result = Evaluation(message)
    scanned = _Scanned(method, leg)
    for entry in compiled:
        rule = entry.rule
        try:
            if entry.broken is not None:
                raise DetectionFailed(entry.broken)
            if entry.detector is None:
                acted = await _engine(rule, result, ask)
            else:
                acted = await _detect(entry, scanned.of(result.message), result, key, find)
        except DetectionFailed as failed:
            acted = _failed(rule, result, failed.reason)
        if acted:
            first = len(result.outcomes) == 1
            result.store_original = rule.store_original and (first or result.store_original)
        if result.blocked is not None:
            break
    return result


class _Scanned:
    """The strings of the message as it is now, worked out again only once a rule changed it."""

    def __init__(self, method: str, leg: Direction) -> None:
        self._method, self._leg = method, leg
        self._message: Mapping[str, Any] | None = None
        self.strings: list[tuple[Path, str]] = []
        self.texts: list[str] = []
        self.too_large = False

    def of(self, message: Mapping[str, Any]) -> _Scanned:
        if message is not self._message:
            self._message = message
            self.strings = scanned_strings(self._method, self._leg, message)
            self.texts = [text for _, text in self.strings]
            self.too_large = (
                sum(len(text) for text in self.texts) * 4 > LIMITS.scan_bytes
                and _utf8_size(self.strings) > LIMITS.scan_bytes
            )
        return self


async def _detect(entry: Compiled, scanned: _Scanned, result: Evaluation, key: bytes, find: Find) -> bool:
    rule, detector = entry.rule, entry.detector
    assert detector is not None and rule.action is not None
    if scanned.too_large:
        raise DetectionFailed(f"the message holds more than {LIMITS.scan_bytes} bytes of text to inspect")
    strings = scanned.strings
    try:
        found = await find(detector, scanned.texts)
    except Exception as exc:  # ScanTooLarge, ScanTooSlow, any detector fault: never its message (text)
        raise DetectionFailed(f"the detector failed ({type(exc).__name__})") from None
    count = sum(len(spans) for spans in found)
    if not count:
        return False
    if rule.action.kind is ActionKind.BLOCK:
        result.outcomes.append(RuleOutcome(rule.id, rule.name, rule.action.kind.value, count))
        result.blocked = Blocked(rule, f"matched {count} time{'s' if count != 1 else ''}")
        return True
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
