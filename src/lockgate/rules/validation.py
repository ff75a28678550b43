"""The one judgement of a rule's definition, shared by every surface that saves or runs one: the
JSON API and the admin MCP (``rules create|update``), the declaration (``plan``/``apply``) and
``lockgate rules test`` (issue 12 §6).

It is pure: what it needs to know of the workspace (the rule engines that exist, whether the
operator configured a Presidio NER model) is passed in. Every bound comes from
``domain.rules.LIMITS``. An error names the field, dotted from the rule (``detection.patterns.1``),
so a surface prefixes its own location (``gateways.0.rules.2.``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence

from lockgate.domain.rules import (
    LIMITS,
    SCANNABLE_METHODS,
    TOOLS_CALL,
    Action,
    ActionKind,
    EngineDetection,
    PresidioDetection,
    RegexDetection,
    Rule,
)
from lockgate.rules.presets import PRESETS
from lockgate.rules.presidio import NER_ENTITIES, SUPPORTED_ENTITIES
from lockgate.rules.regex import RegexRefused, compile_js

RULE_NAME = r"^[^\s/\x00-\x1f\x7f-\x9f](?:[^/\x00-\x1f\x7f-\x9f]{0,126}[^\s/\x00-\x1f\x7f-\x9f])?$"
"""A rule's name: what people call it ("Redact emails in results"), at most 128 characters, no control
character or '/', no space at either end. Every surface that takes or addresses one uses it."""
_NAME = re.compile(RULE_NAME)


class RuleDefinitionError(ValueError):
    """A rule definition that cannot be saved or run: ``field`` (dotted, from the rule) and why.
    The message never repeats a pattern's match or an allowlisted value; it may quote the pattern."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_rule(rule: Rule, *, engines: Collection[str], ner_model: bool) -> None:
    """Raises RuleDefinitionError for the first thing wrong with ``rule``: its name, its scope
    (``methods`` within ``SCANNABLE_METHODS`` holding ``tools/call``; bounded ``assignments`` and
    ``tools``), its detection (patterns that compile to a linear-time program, known presets,
    supported entities — the NER ones only with ``ner_model`` —, threshold 0..1, a bounded
    allowlist, an engine among ``engines``), its action (required for regex and Presidio, none
    for an engine; settings within ``LIMITS``) and its failure mode (Presidio and engine rules
    only). Whether named assignments exist on the gateway is the caller's to check (the store).
    """
    if not _NAME.match(rule.name):
        raise RuleDefinitionError(
            "name", "at most 128 characters, no control character or '/', no space at either end"
        )
    _check_scope(rule)
    detection = rule.detection
    if isinstance(detection, RegexDetection):
        _check_regex(detection)
    elif isinstance(detection, PresidioDetection):
        _check_presidio(detection, ner_model)
    else:
        _check_engine(detection, engines)
    if isinstance(detection, EngineDetection):
        if rule.action is not None:
            raise RuleDefinitionError("action", "an engine rule has no action: the engine's verdict is it")
    elif rule.action is None:
        raise RuleDefinitionError("action", "a regex or Presidio rule needs an action")
    else:
        _check_action(rule.action)
    if isinstance(detection, RegexDetection) and rule.failure_mode is not None:
        raise RuleDefinitionError("failure_mode", "a regex rule cannot fail, so it has no failure mode")


def _check_scope(rule: Rule) -> None:
    unknown = sorted(rule.methods - set(SCANNABLE_METHODS))
    if unknown:
        raise RuleDefinitionError("methods", f"{unknown[0]!r} is not one of {', '.join(SCANNABLE_METHODS)}")
    if TOOLS_CALL not in rule.methods:
        raise RuleDefinitionError("methods", f"a rule always inspects {TOOLS_CALL}")
    for field, names in (("assignments", rule.assignments), ("tools", rule.tools)):
        _check_count(field, names, LIMITS.scoped_names)
        for name in sorted(names):
            if not name or len(name) > LIMITS.name_chars:
                raise RuleDefinitionError(field, f"a name is 1 to {LIMITS.name_chars} characters")


def _check_regex(detection: RegexDetection) -> None:
    if not detection.patterns and not detection.presets:
        raise RuleDefinitionError("detection", "a regex rule needs a pattern or a preset")
    _check_count("detection.patterns", detection.patterns, LIMITS.patterns_per_rule)
    for index, pattern in enumerate(detection.patterns):
        field = f"detection.patterns.{index}"
        if not pattern or len(pattern) > LIMITS.pattern_chars:
            raise RuleDefinitionError(field, f"a pattern is 1 to {LIMITS.pattern_chars} characters")
        try:
            compile_js(pattern)
        except RegexRefused as refused:
            raise RuleDefinitionError(field, str(refused)) from None
    if len(detection.patterns) > 1:
        try:
            compile_js(list(detection.patterns))  # RE2's program bound holds for them together
        except RegexRefused as refused:
            raise RuleDefinitionError("detection.patterns", str(refused)) from None
    _check_count("detection.presets", detection.presets, LIMITS.presets_per_rule)
    for index, name in enumerate(detection.presets):
        if name not in PRESETS:
            raise RuleDefinitionError(
                f"detection.presets.{index}",
                f"unknown ready-made pattern {name!r}; known: {', '.join(PRESETS)}",
            )


def _check_presidio(detection: PresidioDetection, ner_model: bool) -> None:
    _check_count("detection.entities", detection.entities, LIMITS.entities_per_rule)
    for index, entity in enumerate(detection.entities):
        field = f"detection.entities.{index}"
        if entity not in SUPPORTED_ENTITIES:
            raise RuleDefinitionError(
                field, f"Presidio has no entity {entity!r}; one of {', '.join(sorted(SUPPORTED_ENTITIES))}"
            )
        if entity in NER_ENTITIES and not ner_model:
            raise RuleDefinitionError(
                field, f"{entity} needs a spaCy model, and none is configured (LOCKGATE_PRESIDIO_MODEL)"
            )
    if not 0.0 <= detection.threshold <= 1.0:
        raise RuleDefinitionError("detection.threshold", "a score from 0 to 1")
    _check_count("detection.allowlist", detection.allowlist, LIMITS.allowlist_entries)
    for index, value in enumerate(detection.allowlist):
        if not value or len(value) > LIMITS.allowlist_entry_chars:
            raise RuleDefinitionError(
                f"detection.allowlist.{index}", f"an entry is 1 to {LIMITS.allowlist_entry_chars} characters"
            )


def _check_engine(detection: EngineDetection, engines: Collection[str]) -> None:
    if detection.engine not in engines:
        raise RuleDefinitionError("detection.engine", f"no rule engine named {detection.engine!r}")


def _check_action(action: Action) -> None:
    replacement = action.replacement if action.kind is ActionKind.REPLACE else None
    if replacement is not None and len(replacement) > LIMITS.replacement_chars:
        raise RuleDefinitionError("action.replacement", f"at most {LIMITS.replacement_chars} characters")
    if action.kind is ActionKind.MASK:
        if len(action.mask_char) != 1 or not action.mask_char.isprintable() or action.mask_char.isspace():
            raise RuleDefinitionError("action.mask_char", "exactly one printable character, not a space")
        if not 0 <= action.visible <= LIMITS.visible_max:
            raise RuleDefinitionError("action.visible", f"from 0 to {LIMITS.visible_max}")
    if action.kind is ActionKind.HASH:
        low, high = LIMITS.hash_chars
        if not low <= action.hash_chars <= high:
            raise RuleDefinitionError("action.hash_chars", f"from {low} to {high}")
        prefix = action.hash_prefix
        if len(prefix) > LIMITS.replacement_chars or not prefix.isprintable():
            raise RuleDefinitionError(
                "action.hash_prefix", f"at most {LIMITS.replacement_chars} printable characters"
            )


def _check_count(field: str, items: Sequence[str] | Collection[str], most: int) -> None:
    if len(items) > most:
        raise RuleDefinitionError(field, f"at most {most}")
