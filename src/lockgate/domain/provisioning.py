"""Feature provisioning: which features of an assignment a gateway lets through (product spec §3).

Per assignment and per feature kind, a ``Mode``: ``allow_all``, ``allow_selected`` (only the
``Approval`` entries of that kind) or ``block_all``. An approval names a feature (a tool or prompt
name, a resource URI, a template's ``uriTemplate``), records the definition it approved and the fields
it pins (the name always; ``PinField`` for the rest), and may be limited to teams. A rejection is an
``Approval`` whose ``decision`` is ``rejected``: that exact definition stays withheld. ``Withheld``
names why a feature is not let through. ``MetadataFilter`` trims what agents are shown.

Plain frozen values; ``policy/provisioning.py`` decides over them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

import orjson

from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import JsonObject


class Mode(StrEnum):
    """How one kind of an assignment's features is provisioned."""

    ALLOW_ALL = "allow_all"
    ALLOW_SELECTED = "allow_selected"
    BLOCK_ALL = "block_all"


class PinField(StrEnum):
    """A definition field an approval may pin, besides the name (always pinned)."""

    TITLE = "title"
    DESCRIPTION = "description"
    INPUT_SCHEMA = "input_schema"  # a tool's ``inputSchema``, a prompt's ``arguments``
    OUTPUT_SCHEMA = "output_schema"  # a tool's ``outputSchema``
    ANNOTATIONS = "annotations"

    @property
    def keys(self) -> tuple[str, ...]:
        """The definition keys this field covers (MCP 2025-11-25 server/tools, server/prompts)."""
        return _PIN_KEYS[self]


_PIN_KEYS = {
    PinField.TITLE: ("title",),
    PinField.DESCRIPTION: ("description",),
    PinField.INPUT_SCHEMA: ("inputSchema", "arguments"),
    PinField.OUTPUT_SCHEMA: ("outputSchema",),
    PinField.ANNOTATIONS: ("annotations",),
}
ALL_PINS = frozenset(PinField)
"""What an approval pins unless told otherwise."""


def definition_digest(definition: JsonObject) -> str:
    """SHA-256 (hex) of the definition's canonical JSON (keys sorted), so equal definitions match."""
    return sized_digest(definition)[0]


def sized_digest(definition: JsonObject) -> tuple[str, int]:
    """``definition_digest`` and the size in bytes of the canonical JSON it digests."""
    encoded = orjson.dumps(definition, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(encoded).hexdigest(), len(encoded)


class Decision(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class Withheld(StrEnum):
    """Why a feature is not let through (the ``gateway_feature_blocked`` leg's reason)."""

    NOT_PROVISIONED = "not_provisioned"  # block_all, rejected, or not approved for the caller's teams
    PIN_MISMATCH = "pin_mismatch"  # the server now offers a definition that differs in a pinned field
    AWAITING_APPROVAL = "awaiting_approval"  # new on an allow_selected assignment: nobody decided yet
    QUARANTINED = "quarantined"  # screening found a high-severity finding nobody approved


@dataclass(frozen=True, slots=True)
class Approval:
    """One allowlist entry (or rejection) of an assignment.

    ``definition`` is the definition as the server offered it when it was decided, ``digest`` its
    ``definition_digest``; ``teams`` are team ids (empty: everyone on the
    gateway); ``pinned`` the fields besides the name that must stay as approved.
    """

    kind: FeatureKind
    name: str
    decision: Decision
    definition: JsonObject
    digest: str
    pinned: frozenset[PinField] = ALL_PINS
    teams: frozenset[int] = frozenset()
    id: int = 0


class DroppedField(StrEnum):
    """Definition fields an assignment may drop from what agents are shown."""

    OUTPUT_SCHEMA = "outputSchema"
    ANNOTATIONS = "annotations"
    META = "_meta"
    ICONS = "icons"
    TITLE = "title"


@dataclass(frozen=True, slots=True)
class Override:
    """A title and/or description shown instead of the server's for one feature."""

    title: str | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class MetadataFilter:
    """What agents are shown of an assignment's definitions: fields dropped, descriptions capped at
    ``max_description`` characters, and per-feature overrides keyed by (kind, name)."""

    drop: frozenset[DroppedField] = frozenset()
    max_description: int | None = None
    overrides: Mapping[tuple[FeatureKind, str], Override] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @property
    def empty(self) -> bool:
        return not self.drop and self.max_description is None and not self.overrides


OPEN_MODES: Mapping[FeatureKind, Mode] = MappingProxyType({kind: Mode.ALLOW_ALL for kind in FeatureKind})
"""Every kind ``allow_all``: assignments made before provisioning existed (migration 0007)."""
CLOSED_MODES: Mapping[FeatureKind, Mode] = MappingProxyType(
    {kind: Mode.ALLOW_SELECTED for kind in FeatureKind}
)
"""A new assignment's modes unless the admin says otherwise: fail-closed, nothing approved yet."""


@dataclass(frozen=True, slots=True)
class Provisioning:
    """An assignment's provisioning: a ``Mode`` per kind, its approvals by (kind, name), and its
    metadata filter."""

    modes: Mapping[FeatureKind, Mode] = field(default_factory=lambda: OPEN_MODES)
    approvals: Mapping[tuple[FeatureKind, str], tuple[Approval, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    filter: MetadataFilter = MetadataFilter()

    def mode(self, kind: FeatureKind) -> Mode:
        return self.modes.get(kind, Mode.ALLOW_SELECTED)


OPEN = Provisioning()
"""Let every feature through (subject to screening)."""
