"""The one judgement of a rule's definition, as a pure function: each refusal names its field."""

from __future__ import annotations

import pytest

from lockgate.domain.rule_specs import RuleSpec
from lockgate.domain.rules import LIMITS
from lockgate.rules.validation import RuleDefinitionError, check_rule


def rule(**fields: object) -> RuleSpec:
    base: dict[str, object] = {
        "name": "r",
        "detection": {"method": "regex", "presets": ["email"]},
        "action": "redact",
    }
    return RuleSpec.model_validate({**base, **fields})


def refused(spec: RuleSpec, *, engines: tuple[str, ...] = (), ner_model: bool = False) -> RuleDefinitionError:
    with pytest.raises(RuleDefinitionError) as caught:
        check_rule(spec.to_rule(), engines=engines, ner_model=ner_model)
    return caught.value


def test_a_sound_rule_of_each_method_is_accepted() -> None:
    check_rule(rule().to_rule(), engines=(), ner_model=False)
    presidio = rule(detection={"method": "presidio", "entities": ["PERSON"], "allowlist": ["Ada"]})
    check_rule(presidio.to_rule(), engines=(), ner_model=True)
    check_rule(
        rule(detection={"method": "engine", "engine": "g"}, action=None).to_rule(),
        engines=("g",),
        ner_model=False,
    )


def test_a_presidio_or_engine_rule_fails_closed_unless_told_otherwise() -> None:
    assert rule(detection={"method": "presidio"}).to_rule().failure_mode == "fail_closed"
    assert rule().to_rule().failure_mode is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " leading space"}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": "tab\there"}, "name"),
        ({"name": "n" * 129}, "name"),
        (
            {"detection": {"method": "regex", "patterns": ["x" * (LIMITS.pattern_chars + 1)]}},
            "detection.patterns.0",
        ),
        (
            {"detection": {"method": "regex", "patterns": ["a"] * (LIMITS.patterns_per_rule + 1)}},
            "detection.patterns",
        ),
        ({"detection": {"method": "regex", "patterns": ["/a/m"]}}, "detection.patterns.0"),
        ({"detection": {"method": "presidio", "allowlist": [""]}}, "detection.allowlist.0"),
        ({"detection": {"method": "presidio", "threshold": -0.1}}, "detection.threshold"),
        ({"action": None}, "action"),
        ({"tools": ["t" * (LIMITS.name_chars + 1)]}, "tools"),
        ({"assignments": [f"a{i}" for i in range(LIMITS.scoped_names + 1)]}, "assignments"),
    ],
)
def test_each_refusal_names_its_field(fields: dict[str, object], field: str) -> None:
    assert refused(rule(**fields)).field == field


def test_a_refused_construct_is_named_in_the_message() -> None:
    error = refused(rule(detection={"method": "regex", "patterns": ["(?=a)"]}))
    assert "lookahead" in error.message
