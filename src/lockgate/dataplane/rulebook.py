"""Each gateway's rules, ready to run on its traffic (spec §2, issue 12 §1).

``RuleBook.rules(gateway_id, change)`` answers a gateway's ``GatewayRules`` and, in the same order,
each rule ``Compiled``: its detector built once per (rule id, version) and kept across reloads, or
why it cannot run (``Compiled.broken``: a pattern refused, a preset or rule engine unknown, Presidio
missing, a ``hash`` without the gateway's key), which ``rules.evaluate`` then treats as that rule
failing. Rules are remembered under the store's access counter the caller's access was read under
(``Access.change``; the rules tables bump it, migration 0008): a new counter reloads them, None
reloads them on every call.

Loading reads the store (``load``, e.g. ``store.rules.load_gateway_rules`` in a connection) and
compiles on a worker thread, never on the event loop; calls for the same (gateway, counter) while a
load runs share it. A load that fails raises ``RulesUnavailable``; one that found a rule it cannot
read (``UnreadableRuleError``) is remembered under its counter as such, so every inspected call of
that gateway is refused until the rule is fixed, without a read per call. Nothing here lets an
inspected message pass uninspected.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lockgate.domain.rules import (
    ActionKind,
    EngineDetection,
    GatewayRules,
    PresidioDetection,
    RegexDetection,
    Rule,
)
from lockgate.rules.detect import Detector, Prefilter, RegexDetector
from lockgate.rules.evaluate import Compiled
from lockgate.rules.presidio import PresidioDetector, offline_analyzer
from lockgate.store.rules import UnreadableRuleError

log = logging.getLogger(__name__)

LoadRules = Callable[[int], GatewayRules]
"""Reads one gateway's rules (blocking; run on a worker thread). Raises on failure."""


class RulesUnavailable(Exception):
    """A gateway's rules could not be loaded; ``reason`` is safe to show and store. ``settled``: the
    stored rules themselves are at fault (not the store), so loading again under the same counter
    would fail alike."""

    def __init__(self, reason: str, *, settled: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.settled = settled


@dataclass(frozen=True, slots=True)
class Book:
    """One gateway's rules as loaded under one counter, and each compiled, in order."""

    rules: GatewayRules
    compiled: tuple[Compiled, ...]
    prefilter: Detector | None = None  # every regex rule's patterns in one search (rules.detect)
    prefilter_of: tuple[tuple[int, int], ...] = ()  # the (id, version) of the rules it covers


class RuleBook:
    """The rules of each gateway, compiled and remembered under the access counter.

    ``presidio_model`` is the path of a spaCy model for Presidio's NER recognisers (None: the
    offline pattern recognisers only). ``max_gateways`` bounds the gateways remembered (least
    recently used goes first); ``threads`` the worker threads that load and compile.
    """

    def __init__(
        self,
        load: LoadRules,
        *,
        presidio_model: str | None = None,
        threads: int = 2,
        max_gateways: int = 4096,
    ) -> None:
        self._load = load
        self._presidio_model = presidio_model
        self._max_gateways = max_gateways
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="lockgate-rules")
        self._books: OrderedDict[int, tuple[int, Book | RulesUnavailable]] = OrderedDict()
        self._loading: dict[tuple[int, int], asyncio.Future[Book]] = {}

    async def rules(self, gateway_id: int, change: int | None) -> Book:
        """The gateway's rules under access counter ``change`` (None: read now, not remembered).

        Raises:
            RulesUnavailable: they cannot be loaded (the store failed, a rule is unreadable).
        """
        if change is None:
            return await self._run(gateway_id)
        held = self._books.get(gateway_id)
        if held is not None and held[0] == change:
            self._books.move_to_end(gateway_id)
            if isinstance(held[1], RulesUnavailable):
                raise held[1]
            return held[1]
        key = (gateway_id, change)
        shared = self._loading.get(key)
        if shared is None:
            shared = asyncio.ensure_future(self._remembered(gateway_id, change))
            self._loading[key] = shared
            shared.add_done_callback(lambda _done: self._loading.pop(key, None))
        return await asyncio.shield(shared)

    def close(self) -> None:
        """Stop the worker threads (loads under way finish)."""
        self._executor.shutdown(wait=True)

    async def _remembered(self, gateway_id: int, change: int) -> Book:
        try:
            book = await self._run(gateway_id)
        except RulesUnavailable as exc:
            if exc.settled:
                self._remember(gateway_id, change, exc)
            raise
        self._remember(gateway_id, change, book)
        return book

    def _remember(self, gateway_id: int, change: int, book: Book | RulesUnavailable) -> None:
        held = self._books.get(gateway_id)
        if held is not None and held[0] > change:
            return  # a newer counter's book is already there
        self._books[gateway_id] = (change, book)
        self._books.move_to_end(gateway_id)
        while len(self._books) > self._max_gateways:
            self._books.popitem(last=False)

    async def _run(self, gateway_id: int) -> Book:
        held = self._books.get(gateway_id)
        previous = held[1] if held is not None and isinstance(held[1], Book) else None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._build, gateway_id, previous)

    def _build(self, gateway_id: int, previous: Book | None) -> Book:
        """Load and compile on a worker thread."""
        try:
            rules = self._load(gateway_id)
        except UnreadableRuleError as exc:
            log.error("the rules of gateway %d cannot be read: %s", gateway_id, exc)
            raise RulesUnavailable("the gateway's rules cannot be read", settled=True) from None
        except Exception as exc:
            log.error("loading the rules of gateway %d failed (%s)", gateway_id, type(exc).__name__)
            raise RulesUnavailable("the gateway's rules cannot be loaded now") from None
        built = previous.compiled if previous else ()
        kept = {(c.rule.id, c.rule.version): c.detector for c in built if c.detector is not None}
        compiled = tuple(self._compile(r, rules, kept.get((r.id, r.version))) for r in rules.rules)
        covered = tuple(
            sorted((c.rule.id, c.rule.version) for c in compiled if isinstance(c.detector, RegexDetector))
        )
        if previous is not None and previous.prefilter_of == covered:  # the same rules: no new program
            return Book(rules, compiled, previous.prefilter, covered)
        return Book(rules, compiled, _prefilter(compiled), covered)

    def _compile(self, rule: Rule, rules: GatewayRules, detector: Detector | None) -> Compiled:
        """``rule`` ready to run, on ``detector`` when one was built for its version already."""
        detection = rule.detection
        if rule.action is not None and rule.action.kind is ActionKind.HASH and not rules.hash_key:
            return Compiled(rule, broken="the gateway has no key to hash with")
        if detector is not None:
            return Compiled(rule, detector)
        try:
            if isinstance(detection, RegexDetection):
                return Compiled(rule, RegexDetector(detection))
            if isinstance(detection, PresidioDetection):
                return Compiled(rule, self._presidio(detection))
        except Exception as exc:  # a rule that cannot be built fails by its failure mode, by name
            log.error("rule %d (%r) cannot be compiled: %s", rule.id, rule.name, exc)
            return Compiled(rule, broken=f"the rule cannot be compiled ({type(exc).__name__})")
        assert isinstance(detection, EngineDetection)
        if detection.engine not in rules.engines:
            return Compiled(rule, broken=f"the rule engine {detection.engine!r} does not exist")
        return Compiled(rule)

    def _presidio(self, detection: PresidioDetection) -> Any:
        """A Presidio detector on the process's offline analyzer for the model (built on first need,
        by ``rules.presidio``; Presidio and spaCy are imported only by a gateway with such a rule)."""
        return PresidioDetector(detection, offline_analyzer(self._presidio_model))


def _prefilter(compiled: tuple[Compiled, ...]) -> Prefilter | None:
    """One search for all the regex rules that run (None when there are none, or their patterns do
    not compile together: each rule then searches on its own)."""
    regex = [c.rule.detection for c in compiled if isinstance(c.detector, RegexDetector)]
    if not regex:
        return None
    try:
        return Prefilter(d for d in regex if isinstance(d, RegexDetection))
    except ValueError as exc:
        log.info("the regex rules' patterns do not compile together (%s): each searches alone", exc)
        return None
