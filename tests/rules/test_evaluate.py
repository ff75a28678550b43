"""One evaluation of a leg's rules: order, block stops, actions chain, engine verdicts, failure modes."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import pytest

from lockgate.domain.rules import (
    LIMITS,
    Action,
    ActionKind,
    Direction,
    EngineDetection,
    FailureMode,
    RegexDetection,
    Rule,
    Verdict,
    VerdictKind,
)
from lockgate.rules.actions import Span
from lockgate.rules.detect import Detector, Prefilter, RegexDetector
from lockgate.rules.evaluate import Compiled, evaluate, find_all
from lockgate.rules.regex import ScanTooSlow

pytestmark = pytest.mark.anyio
KEY = b"k" * 32


def call(**arguments: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": "t", "arguments": arguments},
    }


def regex(rule_id: int, pattern: str, action: Action, **fields: Any) -> Compiled:
    rule = Rule(rule_id, f"r{rule_id}", rule_id, RegexDetection((pattern,)), action, **fields)
    return Compiled(rule, RegexDetector(rule.detection))  # type: ignore[arg-type]


def engine(rule_id: int, failure_mode: FailureMode = FailureMode.CLOSED, **fields: Any) -> Compiled:
    return Compiled(
        Rule(rule_id, f"e{rule_id}", rule_id, EngineDetection("x"), None, failure_mode=failure_mode, **fields)
    )


async def test_modifying_rules_chain_each_on_the_text_the_previous_one_produced() -> None:
    rules = [
        regex(1, r"\d{4}", Action(ActionKind.REPLACE, replacement="abcd")),
        regex(2, "bc", Action(ActionKind.MASK)),
    ]
    out = await evaluate(rules, Direction.REQUEST, "tools/call", call(a="pin 1234"), key=KEY)
    assert out.message["params"]["arguments"] == {"a": "pin a**d"}
    assert [(o.rule_id, o.action, o.matches) for o in out.outcomes] == [(1, "replace", 1), (2, "mask", 1)]
    assert out.changed and out.blocked is None and out.message["id"] == 3


async def test_block_stops_at_once_and_later_rules_do_not_run() -> None:
    rules = [regex(1, "x", Action(ActionKind.BLOCK)), regex(2, "x", Action(ActionKind.REDACT))]
    out = await evaluate(rules, Direction.REQUEST, "tools/call", call(a="xx"), key=KEY)
    assert out.blocked is not None and out.blocked.rule.id == 1 and "2 times" in out.blocked.reason
    assert "xx" not in out.blocked.reason
    assert [o.rule_id for o in out.outcomes] == [1]


async def test_a_rule_that_finds_nothing_leaves_the_very_same_message_and_no_outcome() -> None:
    message = call(a="clean")
    out = await evaluate(
        [regex(1, "secret", Action(ActionKind.BLOCK))], Direction.REQUEST, "tools/call", message, key=KEY
    )
    assert out.message is message and out.outcomes == [] and not out.changed


async def test_an_engine_verdict_passes_blocks_or_replaces_the_whole_message() -> None:
    replacement = call(a="clean")

    def answering(verdict: Verdict) -> Any:
        async def ask(rule: Rule, message: Mapping[str, Any]) -> Verdict:
            assert message["params"]["arguments"] == {"a": "dirty"}
            return verdict

        return ask

    passed = await evaluate(
        [engine(1)],
        Direction.REQUEST,
        "tools/call",
        call(a="dirty"),
        key=KEY,
        ask=answering(Verdict(VerdictKind.PASS)),
    )
    assert passed.outcomes == [] and passed.blocked is None
    blocked = await evaluate(
        [engine(1)],
        Direction.REQUEST,
        "tools/call",
        call(a="dirty"),
        key=KEY,
        ask=answering(Verdict(VerdictKind.BLOCK, "no")),
    )
    assert blocked.blocked is not None and blocked.blocked.reason == "no"
    modified = await evaluate(
        [engine(1)],
        Direction.REQUEST,
        "tools/call",
        call(a="dirty"),
        key=KEY,
        ask=answering(Verdict(VerdictKind.MODIFY, body=replacement)),
    )
    assert modified.message == replacement and modified.changed
    assert [o.action for o in modified.outcomes] == ["modify"]


async def test_an_engine_that_fails_or_answers_error_follows_the_rules_failure_mode() -> None:
    async def failing(rule: Rule, message: Mapping[str, Any]) -> Verdict:
        raise TimeoutError

    async def erring(rule: Rule, message: Mapping[str, Any]) -> Verdict:
        return Verdict(VerdictKind.ERROR, "cannot decide")

    for ask in (failing, erring):
        opened = await evaluate(
            [engine(1, FailureMode.OPEN)], Direction.REQUEST, "tools/call", call(a="x"), key=KEY, ask=ask
        )
        assert opened.blocked is None and [o.action for o in opened.outcomes] == ["failed_open"]
        closed = await evaluate([engine(1)], Direction.REQUEST, "tools/call", call(a="x"), key=KEY, ask=ask)
        assert closed.blocked is not None and "fails closed" in closed.blocked.reason
    unreachable = await evaluate([engine(1)], Direction.REQUEST, "tools/call", call(a="x"), key=KEY)
    assert unreachable.blocked is not None


async def test_a_broken_rule_and_a_message_over_the_scan_limit_block_a_regex_rule() -> None:
    broken = Compiled(
        Rule(1, "b", 0, RegexDetection(("x",)), Action(ActionKind.REDACT)), broken="cannot compile"
    )
    out = await evaluate([broken], Direction.REQUEST, "tools/call", call(a="x"), key=KEY)
    assert out.blocked is not None and "cannot compile" in out.blocked.reason
    huge = call(a="a" * (LIMITS.scan_bytes + 1))
    out = await evaluate(
        [regex(2, "zzz", Action(ActionKind.REDACT))], Direction.REQUEST, "tools/call", huge, key=KEY
    )
    assert out.blocked is not None and "more than" in out.blocked.reason


async def test_store_original_is_asked_only_by_a_rule_that_acted_and_alerts_list_alerting_rules() -> None:
    rules = [
        regex(1, "nothing-here", Action(ActionKind.REDACT), store_original=True),
        regex(2, "x", Action(ActionKind.REDACT), alerts=True),
    ]
    out = await evaluate(rules, Direction.REQUEST, "tools/call", call(a="x"), key=KEY)
    assert not out.store_original
    assert [o.rule_id for o in out.alerting({c.rule.id: c.rule for c in rules})] == [2]
    kept = await evaluate(
        [regex(3, "x", Action(ActionKind.REDACT), store_original=True)],
        Direction.REQUEST,
        "tools/call",
        call(a="x"),
        key=KEY,
    )
    assert kept.store_original


async def test_a_response_rule_sees_the_result_and_keeps_the_id() -> None:
    response = {"jsonrpc": "2.0", "id": 9, "result": {"content": [{"type": "text", "text": "key AKIA1234"}]}}
    out = await evaluate(
        [regex(1, "AKIA\\d+", Action(ActionKind.REPLACE))],
        Direction.RESPONSE,
        "tools/call",
        response,
        key=KEY,
    )
    assert out.message == {
        "jsonrpc": "2.0",
        "id": 9,
        "result": {"content": [{"type": "text", "text": "key [REDACTED]"}]},
    }


class Raising:
    """A detector that fails, quoting its text (as a library's error might)."""

    def find(self, text: str, deadline: float = math.inf) -> list[Any]:
        raise RuntimeError(f"cannot analyse {text!r}")


@pytest.mark.parametrize("failure_mode", [FailureMode.OPEN, FailureMode.CLOSED, None])
async def test_a_detector_that_raises_follows_the_failure_mode_and_its_error_text_goes_nowhere(
    failure_mode: FailureMode | None,
) -> None:
    rule = Rule(1, "r", 0, RegexDetection(("x",)), Action(ActionKind.REDACT), failure_mode=failure_mode)
    out = await evaluate(
        [Compiled(rule, Raising())], Direction.REQUEST, "tools/call", call(a="078-05-1120"), key=KEY
    )
    [outcome] = out.outcomes
    assert outcome.action == ("failed_open" if failure_mode is FailureMode.OPEN else "failed_closed")
    assert outcome.reason == "the detector failed (RuntimeError)"
    assert (out.blocked is None) == (failure_mode is FailureMode.OPEN)
    assert "078-05-1120" not in repr(out.outcomes) + repr(out.blocked and out.blocked.reason)


@pytest.mark.parametrize("failure_mode", [FailureMode.OPEN, None])
async def test_a_message_with_more_strings_than_the_limit_is_too_large_and_fails_by_the_mode(
    failure_mode: FailureMode | None,
) -> None:
    rule = Rule(1, "r", 0, RegexDetection(("x",)), Action(ActionKind.REDACT), failure_mode=failure_mode)
    many = call(a=["y"] * (LIMITS.scan_strings + 1))
    out = await evaluate([Compiled(rule, Raising())], Direction.REQUEST, "tools/call", many, key=KEY)
    [outcome] = out.outcomes
    assert outcome.reason == f"the message holds more than {LIMITS.scan_strings} strings to inspect"
    assert (out.blocked is None) == (failure_mode is FailureMode.OPEN)
    at_limit = call(a=["y"] * LIMITS.scan_strings)
    out = await evaluate(
        [regex(2, "x", Action(ActionKind.REDACT))], Direction.REQUEST, "tools/call", at_limit, key=KEY
    )
    assert out.outcomes == [] and out.blocked is None


async def test_each_rule_gets_one_deadline_for_the_whole_message() -> None:
    deadlines: list[float] = []

    async def recording(detector: Detector, texts: list[str], deadline: float) -> list[list[Span]]:
        deadlines.append(deadline)
        return [[] for _ in texts]

    rules = [regex(1, "x", Action(ActionKind.REDACT)), regex(2, "y", Action(ActionKind.REDACT))]
    before = time.perf_counter()
    await evaluate(rules, Direction.REQUEST, "tools/call", call(a="1", b="2", c="3"), key=KEY, find=recording)
    after = time.perf_counter()
    assert len(deadlines) == 2  # one per rule, not one per string
    assert all(before + LIMITS.scan_s <= deadline <= after + LIMITS.scan_s for deadline in deadlines)


async def test_a_rule_whose_scan_passes_its_deadline_fails_closed() -> None:
    async def too_slow(detector: Detector, texts: list[str], deadline: float) -> list[list[Span]]:
        return find_all(detector, texts, deadline=0.0)

    out = await evaluate(
        [regex(1, "x", Action(ActionKind.REDACT))],
        Direction.REQUEST,
        "tools/call",
        call(a="x"),
        key=KEY,
        find=too_slow,
    )
    [outcome] = out.outcomes
    assert outcome.action == "failed_closed" and outcome.reason == "the detector failed (ScanTooSlow)"
    assert out.blocked is not None


def test_find_all_looks_at_the_deadline_between_strings() -> None:
    class Counting:
        def __init__(self) -> None:
            self.texts = 0

        def find(self, text: str, deadline: float = math.inf) -> list[Span]:
            self.texts += 1
            return []

    counting = Counting()
    assert find_all(counting, ["a", "b"]) == [[], []]
    with pytest.raises(ScanTooSlow, match="0 of 2 strings in"):
        find_all(counting, ["a", "b"], deadline=0.0)
    assert counting.texts == 2  # none scanned once the deadline had passed


async def test_a_modifying_rule_acts_on_a_bounded_number_of_matches_while_a_block_still_blocks() -> None:
    many = call(**{f"k{i}": "x" * (LIMITS.matches_per_text // 2 + 1) for i in range(2)})
    redact = await evaluate(
        [regex(1, "/x/g", Action(ActionKind.REDACT))], Direction.REQUEST, "tools/call", many, key=KEY
    )
    [outcome] = redact.outcomes
    assert outcome.action == "failed_closed" and redact.blocked is not None and not redact.changed
    assert outcome.reason == f"more than {LIMITS.matches_per_text} matches to act on in one message"
    block = await evaluate(
        [regex(2, "/x/g", Action(ActionKind.BLOCK))], Direction.REQUEST, "tools/call", many, key=KEY
    )
    assert [(o.action, o.matches) for o in block.outcomes] == [("block", LIMITS.matches_per_text + 2)]


class Counting(RegexDetector):
    """A regex detector that counts its searches."""

    def __init__(self, detection: RegexDetection) -> None:
        super().__init__(detection)
        self.searched = 0

    def find(self, text: str, deadline: float = math.inf) -> list[Any]:
        self.searched += 1
        return super().find(text, deadline)


def counting(rule_id: int, detection: RegexDetection, action: Action) -> Compiled:
    return Compiled(Rule(rule_id, f"r{rule_id}", rule_id, detection, action), Counting(detection))


async def test_where_the_prefilter_finds_nothing_no_regex_rule_searches() -> None:
    rules = [
        counting(1, RegexDetection(("alpha",)), Action(ActionKind.BLOCK)),
        counting(2, RegexDetection(presets=("us_ssn",)), Action(ActionKind.REDACT)),
    ]
    prefilter = Prefilter(c.rule.detection for c in rules)  # type: ignore[misc]
    out = await evaluate(
        rules, Direction.REQUEST, "tools/call", call(a="nothing here"), key=KEY, prefilter=prefilter
    )
    assert out.outcomes == [] and [c.detector.searched for c in rules] == [0, 0]  # type: ignore[union-attr]


async def test_where_the_prefilter_finds_a_candidate_each_rule_decides_as_without_it() -> None:
    rules = [
        counting(1, RegexDetection(("alpha",)), Action(ActionKind.REPLACE, replacement="beta")),
        counting(2, RegexDetection(("beta",)), Action(ActionKind.MASK)),
        counting(3, RegexDetection(presets=("us_ssn",)), Action(ActionKind.REDACT)),
    ]
    prefilter = Prefilter(c.rule.detection for c in rules)  # type: ignore[misc]
    message = call(a="alpha 000-12-3456")  # an SSN's shape the preset's validator refuses (area 000)
    with_it = await evaluate(rules, Direction.REQUEST, "tools/call", message, key=KEY, prefilter=prefilter)
    without = await evaluate(rules, Direction.REQUEST, "tools/call", message, key=KEY)
    assert with_it.message == without.message == call(a="**** 000-12-3456")
    assert with_it.outcomes == without.outcomes and [o.rule_id for o in with_it.outcomes] == [1, 2]
