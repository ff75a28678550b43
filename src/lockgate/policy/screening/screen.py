"""Screening of one feature definition, or one server name, against the other assignments of its
gateway: every check of the package over every string, findings deduplicated by rule and location."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from lockgate.domain.features import FeatureKind
from lockgate.policy.screening.characters import find_deceptive_characters
from lockgate.policy.screening.findings import FeatureRef, Finding, Kind, Severity, quote
from lockgate.policy.screening.instructions import EMPHASIS, ENCODED_PAYLOAD, RULES
from lockgate.policy.screening.names import NO_NEIGHBOURS, Neighbours, find_mentions, find_mimicry, fold
from lockgate.policy.screening.parameters import find_parameter_exfiltration, list_parameters
from lockgate.policy.screening.texts import MAX_DEFINITION_BYTES, collect_texts, oversized_definition

MAX_FINDINGS: Final = 64
"""Findings kept per definition; the most severe come first."""
_ORDER: Final = {Severity.HIGH: 0, Severity.MEDIUM: 1, Severity.LOW: 2}


def screen_feature(
    kind: FeatureKind,
    definition: Mapping[str, Any],
    neighbours: Neighbours = NO_NEIGHBOURS,
    *,
    size: int | None = None,
    established: bool = False,
) -> tuple[Finding, ...]:
    """Every finding about one feature ``definition`` (an MCP ``Tool``, ``Prompt``, ``Resource`` or
    ``ResourceTemplate`` object as a ``*/list`` result holds it, MCP 2025-11-25 server/tools, prompts,
    resources), most severe first, at most ``MAX_FINDINGS``; ``()`` when nothing was found: the
    findings of ``screen_content`` and of ``screen_names`` together."""
    content = screen_content(kind, definition, size=size)
    if size is not None and size > MAX_DEFINITION_BYTES:
        return content
    return combine(content, screen_names(kind, definition, neighbours, established=established))


def screen_content(
    kind: FeatureKind, definition: Mapping[str, Any], *, size: int | None = None
) -> tuple[Finding, ...]:
    """The findings that depend on the definition alone (the same for equal definitions anywhere).

    Raises nothing for any JSON object: a missing or non-string name reads as ``""``, and values of
    unexpected types are walked like any other JSON. Pure and bounded: ``texts`` holds the limits on
    input (about 0.1 s for a hostile 32 KiB string, under 1 ms for a real server's definition),
    ``instructions`` the limits on matching. ``size``: the bytes of the definition's canonical JSON
    when the caller knows them; past ``MAX_DEFINITION_BYTES`` the one finding is ``oversized``
    (``too_large``), nothing else is checked."""
    feature = _feature(kind, definition)
    if size is not None and size > MAX_DEFINITION_BYTES:
        return (oversized_definition(feature, size),)
    walk = collect_texts(feature, definition)
    folded = [(text.location, fold(text.value)) for text in walk.texts]
    found: list[Finding] = [*walk.findings]
    for text, (location, folded_value) in zip(walk.texts, folded, strict=True):
        found.extend(find_deceptive_characters(feature, location, text.value))
        found.extend(_find_phrases(feature, location, text.value, folded_value))
    found.extend(find_parameter_exfiltration(feature, list_parameters(kind, definition), folded))
    return _deduplicate(found)


def screen_names(
    kind: FeatureKind, definition: Mapping[str, Any], neighbours: Neighbours, *, established: bool = False
) -> tuple[Finding, ...]:
    """The findings that depend on the gateway's other assignments (``neighbours``): shadowing by
    name and mimicry. ``established``: the feature's name is approved on its assignment, so a
    lookalike of it that is not approved is the mimic (``names.find_mimicry``)."""
    if not neighbours.names:
        return ()
    feature = _feature(kind, definition)
    found: list[Finding] = []
    for text in collect_texts(feature, definition).texts:
        found.extend(find_mentions(feature, text.location, text.value, neighbours))
    for key in ("name", "title"):
        if isinstance(value := definition.get(key), str):
            found.extend(find_mimicry(feature, key, value, neighbours, established=established))
    return _deduplicate(found)


def combine(*groups: Iterable[Finding]) -> tuple[Finding, ...]:
    """Findings of several screenings of one definition, most severe first, deduplicated."""
    return _deduplicate(finding for group in groups for finding in group)


def _feature(kind: FeatureKind, definition: Mapping[str, Any]) -> FeatureRef:
    name = definition.get(kind.key)
    return FeatureRef(kind, name if isinstance(name, str) else "")


def screen_server_name(name: str, neighbours: Neighbours) -> tuple[Finding, ...]:
    """Findings about a server's name on a gateway: mimicry of another assignment's server (or feature)
    name, and deceptive characters in it. ``neighbours`` excludes the server itself."""
    found = [*find_deceptive_characters(None, "name", name), *find_mimicry(None, "name", name, neighbours)]
    return _deduplicate(found)


def _find_phrases(feature: FeatureRef, location: str, raw: str, folded: str) -> Iterator[Finding]:
    for rule in RULES:
        if match := rule.pattern.search(folded):
            yield Finding(rule.kind, rule.severity, rule.name, feature, location, quote(match.group()))
    if match := EMPHASIS.search(raw):
        yield Finding(
            Kind.HIDDEN_INSTRUCTIONS, Severity.LOW, "emphasis", feature, location, quote(match.group())
        )
    if match := ENCODED_PAYLOAD.search(raw):
        yield Finding(
            Kind.HIDDEN_INSTRUCTIONS,
            Severity.MEDIUM,
            "encoded_payload",
            feature,
            location,
            quote(match.group()),
        )


def _deduplicate(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    seen: set[tuple[str, str]] = set()
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda finding: _ORDER[finding.severity]):
        if (finding.rule, finding.location) not in seen:
            seen.add((finding.rule, finding.location))
            kept.append(finding)
    return tuple(kept[:MAX_FINDINGS])
