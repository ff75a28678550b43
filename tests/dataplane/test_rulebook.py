"""The rule book: rules remembered under the access counter, one load shared by concurrent callers,
detectors kept per rule version, and every failure to load or compile refusing rather than passing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from starlette.types import Message, Scope

from lockgate.app import build_app
from lockgate.dataplane.rulebook import RuleBook, RulesUnavailable
from lockgate.domain.rules import (
    Action,
    ActionKind,
    EngineDetection,
    EngineKind,
    FailureMode,
    GatewayRules,
    PresidioDetection,
    RegexDetection,
    Rule,
    RuleEngine,
)
from lockgate.rules import presidio
from lockgate.rules.detect import Prefilter
from lockgate.settings import Settings
from lockgate.store.rules import UnreadableRuleError
from tests.conftest import DEADLINE

pytestmark = pytest.mark.anyio
KEY = b"k" * 32


def _rule(
    rule_id: int = 1, *, version: int = 1, pattern: str = "/secret/", kind: ActionKind = ActionKind.REDACT
) -> Rule:
    return Rule(
        rule_id, f"rule {rule_id}", rule_id, RegexDetection((pattern,)), Action(kind), version=version
    )


class Store:
    """Answers ``load`` with ``rules`` (or raises ``failure``), counting the loads."""

    def __init__(self, *rules: Rule, engines: dict[str, RuleEngine] | None = None, key: bytes = KEY) -> None:
        self.rules = GatewayRules(7, rules, engines or {}, key)
        self.failure: Exception | None = None
        self.loads = 0
        self.gate: threading.Event | None = None

    def load(self, gateway_id: int) -> GatewayRules:
        self.loads += 1
        if self.gate is not None:
            assert self.gate.wait(DEADLINE)
        if self.failure is not None:
            raise self.failure
        return self.rules


async def test_rules_are_loaded_once_per_access_counter_and_again_when_it_moves() -> None:
    store = Store(_rule())
    book = RuleBook(store.load)
    try:
        first = await book.rules(7, 1)
        again = await book.rules(7, 1)
        moved = await book.rules(7, 2)
    finally:
        book.close()

    assert again is first and moved is not first
    assert store.loads == 2
    assert [c.rule.id for c in first.compiled] == [1]


async def test_without_a_counter_the_rules_are_read_on_every_call() -> None:
    store = Store(_rule())
    book = RuleBook(store.load)
    try:
        await book.rules(7, None)
        await book.rules(7, None)
    finally:
        book.close()

    assert store.loads == 2


async def test_callers_of_the_same_gateway_and_counter_share_one_load() -> None:
    store = Store(_rule())
    store.gate = threading.Event()
    book = RuleBook(store.load)
    try:
        waiting = [asyncio.create_task(book.rules(7, 3)) for _ in range(5)]
        await asyncio.sleep(0)
        store.gate.set()
        async with asyncio.timeout(DEADLINE):
            books = await asyncio.gather(*waiting)
    finally:
        book.close()

    assert store.loads == 1
    assert all(b is books[0] for b in books)


async def test_a_detector_is_kept_across_reloads_until_its_rule_changes_version() -> None:
    store = Store(_rule(1), _rule(2))
    book = RuleBook(store.load)
    try:
        before = await book.rules(7, 1)
        store.rules = GatewayRules(7, (_rule(1), _rule(2, version=2)), {}, KEY)
        after = await book.rules(7, 2)
    finally:
        book.close()

    assert after.compiled[0].detector is before.compiled[0].detector
    assert after.compiled[1].detector is not before.compiled[1].detector


async def test_the_prefilter_is_built_once_for_the_same_regex_rules_and_again_when_one_changes() -> None:
    store = Store(_rule(1), _rule(2))
    book = RuleBook(store.load)
    try:
        first = await book.rules(7, 1)
        unchanged = await book.rules(7, 2)  # the counter moved for another reason
        store.rules = GatewayRules(7, (_rule(1), _rule(2, version=2)), {}, KEY)
        changed = await book.rules(7, 3)
    finally:
        book.close()

    assert isinstance(first.prefilter, Prefilter) and store.loads == 3
    assert unchanged.prefilter is first.prefilter
    assert changed.prefilter is not first.prefilter and isinstance(changed.prefilter, Prefilter)


async def test_a_rule_that_cannot_be_compiled_is_broken_by_name_and_the_others_run() -> None:
    lookbehind = _rule(1, pattern="/(?<=a)b/")
    ghost = Rule(2, "ghost", 2, EngineDetection("ghost"), None, failure_mode=FailureMode.CLOSED)
    known = Rule(3, "known", 3, EngineDetection("guard"), None, failure_mode=FailureMode.OPEN)
    guard = RuleEngine(1, "guard", EngineKind.WEBHOOK, "https://engine.example")
    store = Store(lookbehind, ghost, known, _rule(4), engines={"guard": guard})
    book = RuleBook(store.load)
    try:
        compiled = (await book.rules(7, 1)).compiled
    finally:
        book.close()

    assert compiled[0].broken is not None and compiled[0].detector is None
    assert compiled[1].broken == "the rule engine 'ghost' does not exist"
    assert compiled[2].broken is None and compiled[2].detector is None
    assert compiled[3].broken is None and compiled[3].detector is not None


async def test_a_hash_rule_without_the_gateways_key_is_broken() -> None:
    store = Store(_rule(kind=ActionKind.HASH), key=b"")
    book = RuleBook(store.load)
    try:
        [compiled] = (await book.rules(7, 1)).compiled
    finally:
        book.close()

    assert compiled.broken == "the gateway has no key to hash with"


async def test_unreadable_rules_are_refused_and_remembered_under_their_counter() -> None:
    store = Store(_rule())
    store.failure = UnreadableRuleError("rule 1 cannot be read: 'sideways' is not a valid Hook")
    book = RuleBook(store.load)
    try:
        for _ in range(2):
            with pytest.raises(RulesUnavailable) as refused:
                await book.rules(7, 1)
        store.failure = None
        fixed = await book.rules(7, 2)
    finally:
        book.close()

    assert refused.value.reason == "the gateway's rules cannot be read"
    assert "sideways" not in refused.value.reason
    assert store.loads == 2 and len(fixed.compiled) == 1


async def test_a_failing_store_is_refused_and_tried_again_on_the_next_call() -> None:
    store = Store(_rule())
    store.failure = OperationalError("SELECT", {}, Exception("database is locked"))
    book = RuleBook(store.load)
    try:
        with pytest.raises(RulesUnavailable) as refused:
            await book.rules(7, 1)
        store.failure = None
        loaded = await book.rules(7, 1)
    finally:
        book.close()

    assert refused.value.reason == "the gateway's rules cannot be loaded now"
    assert store.loads == 2 and len(loaded.compiled) == 1


async def test_gateways_remembered_are_bounded() -> None:
    store = Store(_rule())
    book = RuleBook(store.load, max_gateways=2)
    try:
        for gateway in (1, 2, 3, 1):
            await book.rules(gateway, 1)
    finally:
        book.close()

    assert store.loads == 4  # gateway 1 was forgotten when gateway 3 came


async def test_an_engine_rule_is_compiled_again_when_its_engine_comes_or_goes() -> None:
    ask = Rule(1, "ask", 1, EngineDetection("guard"), None, failure_mode=FailureMode.CLOSED)
    guard = RuleEngine(1, "guard", EngineKind.WEBHOOK, "https://engine.example")
    store = Store(ask)
    book = RuleBook(store.load)
    try:
        missing = (await book.rules(7, 1)).compiled[0]
        store.rules = GatewayRules(7, (ask,), {"guard": guard}, KEY)
        present = (await book.rules(7, 2)).compiled[0]
        store.rules = GatewayRules(7, (ask,), {}, KEY)
        gone = (await book.rules(7, 3)).compiled[0]
    finally:
        book.close()

    assert missing.broken is not None and present.broken is None and gone.broken is not None


async def test_a_presidio_rule_is_built_on_the_offline_analyzer() -> None:
    detection = PresidioDetection(("EMAIL_ADDRESS",))
    rule = Rule(1, "emails", 1, detection, Action(ActionKind.REPLACE), failure_mode=FailureMode.CLOSED)
    book = RuleBook(Store(rule).load, presidio_model=None)
    try:
        [compiled] = (await book.rules(7, 1)).compiled
    finally:
        book.close()

    assert compiled.broken is None and isinstance(compiled.detector, presidio.PresidioDetector)
    assert [span.label for span in compiled.detector.find("mail ada@example.org")] == ["EMAIL_ADDRESS"]


async def test_a_presidio_rule_whose_model_does_not_load_is_broken(tmp_path: Path) -> None:
    rule = Rule(1, "emails", 1, PresidioDetection(), Action(ActionKind.REDACT), failure_mode=FailureMode.OPEN)
    book = RuleBook(Store(rule).load, presidio_model=str(tmp_path / "no-model-here"))
    try:
        [compiled] = (await book.rules(7, 1)).compiled
    finally:
        book.close()

    assert compiled.broken == "the rule cannot be compiled (PresidioUnavailable)"


async def test_a_configured_model_that_does_not_load_stops_the_gateways_start_naming_it(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    missing = tmp_path / "no-model-here"
    app = build_app(settings.model_copy(update={"presidio_model": str(missing)}), engine)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    with pytest.raises(presidio.PresidioUnavailable, match=str(missing)):
        await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
