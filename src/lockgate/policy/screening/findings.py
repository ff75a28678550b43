"""What screening reports: a finding names its kind, its severity, the feature it is about, where in the
definition it was found and the evidence, a short quote of the matched span (never a whole field)."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from lockgate.domain.features import FeatureKind

MAX_EVIDENCE_CHARS: Final = 80
"""Longest evidence quoted, in characters (after invisible characters are spelled out)."""


class Kind(StrEnum):
    """What a finding is about. Each kind's checks and sources are in the module that finds it."""

    HIDDEN_INSTRUCTIONS = "hidden_instructions"
    """Text addressed to the model rather than describing the feature (``instructions``)."""
    SECRET_REQUEST = "secret_request"
    """A request to read or send secrets or client configuration (``instructions``)."""
    PARAMETER_EXFILTRATION = "parameter_exfiltration"
    """An instruction to pass data in a parameter unrelated to it (``parameters``)."""
    DECEPTIVE_UNICODE = "deceptive_unicode"
    """Invisible or deceptive characters: tags, zero-width, bidi controls, confusables (``characters``)."""
    CROSS_SERVER_SHADOWING = "cross_server_shadowing"
    """Text that refers to, or gives rules for, features of other assignments (``names``)."""
    MIMICRY = "mimicry"
    """A name confusable with another one on the same gateway (``names``)."""
    OVERSIZED = "oversized"
    """A description or schema past the bounds (``texts``)."""


class Severity(StrEnum):
    """``high`` withholds the feature until an administrator approves it; ``medium`` and ``low`` are
    recorded for review."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def withholds(self) -> bool:
        return self is Severity.HIGH


@dataclass(frozen=True, slots=True)
class FeatureRef:
    """A feature by its kind and the field that names it (``name``, ``uri`` or ``uriTemplate``)."""

    kind: FeatureKind
    name: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing screening found.

    ``feature`` is None for a finding about a server's name. ``location`` is a dotted path into the
    definition (``inputSchema.properties.sidenote.description``; a key itself ends in ``{key}``).
    ``rule`` names the check that fired (stable, for tests and admins); ``evidence`` quotes the matched
    span, at most ``MAX_EVIDENCE_CHARS`` characters, with invisible characters spelled ``<U+200B>``."""

    kind: Kind
    severity: Severity
    rule: str
    feature: FeatureRef | None
    location: str
    evidence: str


def quote(text: str) -> str:
    """``text`` made safe and short to show: every invisible, control or format character spelled as
    ``<U+XXXX>``, then cut to ``MAX_EVIDENCE_CHARS`` with an ellipsis."""
    shown: list[str] = []
    length = 0
    for char in text:
        piece = char if char == " " or unicodedata.category(char)[0] not in "CZ" else f"<U+{ord(char):04X}>"
        if length + len(piece) > MAX_EVIDENCE_CHARS:
            shown.append("…")
            break
        shown.append(piece)
        length += len(piece)
    return "".join(shown)


def withholds(findings: Iterable[Finding]) -> bool:
    """Whether any finding is of a severity that withholds the feature (issue 11: "A high-severity
    finding withholds the feature under every mode")."""
    return any(finding.severity.withholds for finding in findings)
