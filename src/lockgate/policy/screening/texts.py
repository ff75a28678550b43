"""The strings of a feature definition that reach a model, and the bounds on them.

A definition is a JSON object as a server lists it (MCP ``Tool``, ``Prompt``, ``Resource``,
``ResourceTemplate``). Every string in it is screened, keys included: full-schema poisoning puts
instructions in property names, defaults, enums and nested descriptions, not only in ``description``
(CyberArk, "Poison everywhere: No output from your MCP server is safe", 2025). The walk is bounded in
nodes, depth and characters; past a bound the rest is not screened, and the feature is withheld for
being oversized, since what was not read cannot be vouched for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Final

from lockgate.policy.screening.findings import FeatureRef, Finding, Kind, Severity, quote

MAX_DESCRIPTION_CHARS: Final = 8_192
"""A longer description is recorded (``medium``): it costs context and can bury instructions."""
MAX_TEXT_CHARS: Final = 32_768
"""A longer string withholds the feature (``high``); only this many characters of it are screened."""
MAX_TOTAL_CHARS: Final = 131_072
"""Characters screened per definition, all strings together; past it the feature is withheld."""
MAX_DEFINITION_BYTES: Final = MAX_TOTAL_CHARS
"""A definition whose canonical JSON is longer is withheld as oversized without being screened: its
strings could not all be screened anyway, and screening it would cost the event loop."""
MAX_NODES: Final = 5_000
"""JSON values (objects, arrays, scalars) walked per definition; past it the feature is withheld."""
MAX_DEPTH: Final = 32
"""Nesting walked per definition; deeper values withhold the feature."""
_ICON_SOURCE: Final = re.compile(r"icons\[\d+\]\.src")
"""Icon sources (MCP ``Icon.src``, often a ``data:`` URI) are shown to people, not read by the model:
walked for the bounds, not screened as text."""


@dataclass(frozen=True, slots=True)
class Text:
    """One string of a definition: where it is (dotted path; a key ends in ``{key}``) and its value
    (cut to ``MAX_TEXT_CHARS``)."""

    location: str
    value: str


@dataclass(frozen=True, slots=True)
class Walk:
    """The strings of one definition and the findings of bounds it went past."""

    texts: tuple[Text, ...]
    findings: tuple[Finding, ...]


def collect_texts(feature: FeatureRef, definition: Mapping[str, Any]) -> Walk:
    """Every string of ``definition`` (values and keys) with its location, within the bounds above."""
    texts: list[Text] = []
    findings: list[Finding] = []
    budget = MAX_TOTAL_CHARS
    nodes = 0
    stack: list[tuple[str, Any, int]] = [("", definition, 0)]

    def oversized(rule: str, location: str, evidence: str) -> None:
        findings.append(Finding(Kind.OVERSIZED, Severity.HIGH, rule, feature, location or "(root)", evidence))

    while stack:
        location, value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            oversized("too_many_nodes", location, f"more than {MAX_NODES} JSON values")
            break
        if depth > MAX_DEPTH:
            oversized("too_deep", location, f"nested deeper than {MAX_DEPTH} levels")
            continue
        if isinstance(value, str):
            if _ICON_SOURCE.fullmatch(location):
                continue
            if len(value) > MAX_TEXT_CHARS:
                oversized("text_too_long", location, f"{len(value)} characters: {quote(value[:40])}")
            elif location == "description" and len(value) > MAX_DESCRIPTION_CHARS:
                findings.append(
                    Finding(
                        Kind.OVERSIZED,
                        Severity.MEDIUM,
                        "long_description",
                        feature,
                        location,
                        f"{len(value)} characters",
                    )
                )
            kept = value[: min(MAX_TEXT_CHARS, budget)]
            budget -= len(kept)
            texts.append(Text(location, kept))
            if budget <= 0:
                oversized("too_much_text", location, f"more than {MAX_TOTAL_CHARS} characters in all")
                break
        elif isinstance(value, Mapping):
            for key, item in reversed(list(islice(value.items(), MAX_NODES))):
                path = f"{location}.{key}" if location else str(key)
                stack.append((path, item, depth + 1))
                stack.append((f"{path}{{key}}", str(key), depth + 1))
        elif isinstance(value, list):
            for index in reversed(range(min(len(value), MAX_NODES))):
                stack.append((f"{location}[{index}]", value[index], depth + 1))
    return Walk(tuple(texts), tuple(findings))


def oversized_definition(feature: FeatureRef, size: int, bound: int = MAX_DEFINITION_BYTES) -> Finding:
    """The ``high`` finding of a definition of ``size`` bytes of JSON withheld unscreened (past
    ``bound``: ``MAX_DEFINITION_BYTES``, or what a listing had left to screen)."""
    return Finding(
        Kind.OVERSIZED, Severity.HIGH, "too_large", feature, "(root)", f"{size} bytes of JSON, over {bound}"
    )
