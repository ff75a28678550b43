"""Provisioning as a declaration holds it, per assignment (issue 11; ``domain.provisioning``):

- ``provisioning``: one ``Mode`` for every kind, or a mapping of kind to ``Mode`` (a kind left out
  is ``allow_selected``). Held in one canonical spelling: the single mode when every kind shares
  it, else the mapping of all four kinds, so plans compare spellings that mean the same as equal.
- ``approvals``: ``ApprovalSpec`` entries (teams by name), sorted canonically.
- ``metadata_filter``: ``MetadataFilterSpec``.

The digest of an approved definition is never declared: it is computed from the definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from types import MappingProxyType
from typing import Annotated, Any, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lockgate.domain.features import FeatureKind
from lockgate.domain.provisioning import (
    Decision,
    DroppedField,
    MetadataFilter,
    Mode,
    Override,
    PinField,
    definition_digest,
)

MAX_DEFINITION_BYTES = 65_536
"""An approved definition's size as compact JSON, at most."""
MAX_APPROVALS = 5_000
"""Approvals and rejections per assignment, at most, on every surface (the store enforces it)."""
MAX_OVERRIDES = 1_000
"""Title and description overrides per assignment's metadata filter, at most."""
MAX_TEAMS = 64
"""Teams one approval or rejection is limited to, at most."""
MAX_OVERRIDE_TITLE = 512
MAX_OVERRIDE_DESCRIPTION = 16_384
"""An override's title and description, in characters, at most."""
MaxDescription = Annotated[
    int, Field(ge=1, le=1_000_000, description="Cut descriptions to this many characters.")
]
"""The metadata filter's ``max_description``, on every surface."""
MAX_FEATURE_NAME = 2_048
"""A feature's name, URI or ``uriTemplate``, in characters, at most."""
KIND_ORDER = {kind: index for index, kind in enumerate(FeatureKind)}
TeamName = Annotated[str, Field(min_length=1, max_length=128)]
"""A team's name; that the team exists is checked against the store (``resolve_provisioning``)."""
FeatureName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_FEATURE_NAME,
        description="A tool's or prompt's name, a resource's URI or a template's uriTemplate, as the "
        "server names it (no prefix).",
    ),
]
"""A feature's name, on every surface."""
DeclaredModes = Mode | dict[FeatureKind, Mode]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_modes(declared: Any) -> DeclaredModes:
    """``declared`` as a ``Mode`` or a mapping of ``FeatureKind`` to ``Mode``.

    Raises:
        ValueError: naming the unknown mode or kind and what is known.
    """
    modes = ", ".join(m.value for m in Mode)
    if isinstance(declared, str):
        if declared not in Mode._value2member_map_:
            raise ValueError(f"{declared!r} is not a mode ({modes})")
        return Mode(declared)
    if not isinstance(declared, dict):
        raise ValueError(f"give one mode ({modes}) or a mapping of feature kind to mode")
    checked = {}
    for kind, mode in declared.items():
        if kind not in FeatureKind._value2member_map_:
            raise ValueError(f"{kind!r} is not a feature kind ({', '.join(k.value for k in FeatureKind)})")
        if not isinstance(mode, str) or mode not in Mode._value2member_map_:
            raise ValueError(f"{kind}: {mode!r} is not a mode ({modes})")
        checked[FeatureKind(kind)] = Mode(mode)
    return checked


def resolve_modes(declared: DeclaredModes) -> Mapping[FeatureKind, Mode]:
    """The mode of every kind that ``declared`` (canonical or not) gives."""
    if isinstance(declared, Mode):
        return MappingProxyType(dict.fromkeys(FeatureKind, declared))
    return MappingProxyType({kind: declared.get(kind, Mode.ALLOW_SELECTED) for kind in FeatureKind})


def declared_modes(modes: Mapping[FeatureKind, Mode]) -> DeclaredModes:
    """The canonical spelling of ``modes``: one ``Mode`` when every kind shares it, else all four."""
    distinct = {modes.get(kind, Mode.ALLOW_SELECTED) for kind in FeatureKind}
    if len(distinct) == 1:
        return distinct.pop()
    return {kind: modes.get(kind, Mode.ALLOW_SELECTED) for kind in FeatureKind}


class ApprovalSpec(_Strict):
    """One approval (or rejection) of a feature: the definition as the server offered it, the
    fields it pins besides the name (default all; ``[]`` pins the name only) and the teams it is
    limited to, by name (default everyone on the gateway)."""

    kind: FeatureKind
    name: FeatureName
    decision: Decision = Decision.APPROVED
    pinned: list[PinField] = Field(default_factory=lambda: list(PinField))
    teams: list[TeamName] = Field([], max_length=MAX_TEAMS)
    definition: dict[str, Any]

    @field_validator("pinned")
    @classmethod
    def _pins_canonical(cls, pinned: list[PinField]) -> list[PinField]:
        return sorted(set(pinned), key=list(PinField).index)

    @field_validator("teams")
    @classmethod
    def _teams_canonical(cls, teams: list[str]) -> list[str]:
        return sorted(set(teams))

    @model_validator(mode="after")
    def _definition_names_it(self) -> Self:
        named = self.definition.get(self.kind.key)
        if named != self.name:
            raise ValueError(
                f"approval of {self.kind.value} {self.name!r}: its definition's {self.kind.key!r} is "
                f"{named!r}, not {self.name!r}"
            )
        if len(orjson.dumps(self.definition)) > MAX_DEFINITION_BYTES:
            raise ValueError(
                f"approval of {self.kind.value} {self.name!r}: the definition is larger than "
                f"{MAX_DEFINITION_BYTES} bytes"
            )
        return self

    @property
    def digest(self) -> str:
        return definition_digest(self.definition)

    @property
    def sort_key(self) -> tuple[Any, ...]:
        return (KIND_ORDER[self.kind], self.name, self.decision.value, self.teams, self.digest)

    def summary(self) -> dict[str, Any]:
        """What a plan shows of it: its non-default fields, the definition as its digest."""
        return self.model_dump(mode="json", exclude_defaults=True, exclude={"definition"}) | {
            "digest": self.digest
        }


class OverrideSpec(_Strict):
    """A title and/or description agents are shown instead of the server's for one feature."""

    kind: FeatureKind
    name: FeatureName
    title: Annotated[str, Field(max_length=MAX_OVERRIDE_TITLE)] | None = None
    description: Annotated[str, Field(max_length=MAX_OVERRIDE_DESCRIPTION)] | None = None

    @model_validator(mode="after")
    def _overrides_something(self) -> Self:
        if self.title is None and self.description is None:
            raise ValueError(f"override of {self.kind.value} {self.name!r}: give a title or a description")
        return self


class MetadataFilterSpec(_Strict):
    """What agents are shown of the assignment's definitions: fields dropped, descriptions cut to
    ``max_description`` characters, titles and descriptions overridden."""

    drop: list[DroppedField] = []
    max_description: MaxDescription | None = None
    overrides: list[OverrideSpec] = Field([], max_length=MAX_OVERRIDES)

    @field_validator("drop")
    @classmethod
    def _drop_canonical(cls, drop: list[DroppedField]) -> list[DroppedField]:
        return sorted(set(drop), key=list(DroppedField).index)

    @field_validator("overrides")
    @classmethod
    def _overrides_once(cls, overrides: list[OverrideSpec]) -> list[OverrideSpec]:
        keyed = sorted(overrides, key=lambda o: (KIND_ORDER[o.kind], o.name))
        for first, second in pairwise(keyed):
            if (first.kind, first.name) == (second.kind, second.name):
                raise ValueError(f"{first.kind.value} {first.name!r} is overridden twice")
        return keyed

    def resolve(self) -> MetadataFilter:
        """The ``MetadataFilter`` it declares."""
        return MetadataFilter(
            drop=frozenset(self.drop),
            max_description=self.max_description,
            overrides=MappingProxyType(
                {(o.kind, o.name): Override(o.title, o.description) for o in self.overrides}
            ),
        )

    @classmethod
    def declare(cls, rules: MetadataFilter) -> MetadataFilterSpec:
        """The spec of a stored ``MetadataFilter``."""
        return cls(
            drop=sorted(rules.drop),
            max_description=rules.max_description,
            overrides=[
                OverrideSpec(kind=kind, name=name, title=o.title, description=o.description)
                for (kind, name), o in rules.overrides.items()
            ],
        )


def canonical_approvals(approvals: list[ApprovalSpec]) -> list[ApprovalSpec]:
    """``approvals`` sorted canonically.

    Raises:
        ValueError: two entries decide the same definition of the same feature for the same teams.
    """
    keyed = sorted(approvals, key=lambda a: a.sort_key)
    for first, second in pairwise(keyed):
        if (first.kind, first.name, first.teams, first.digest) == (
            second.kind,
            second.name,
            second.teams,
            second.digest,
        ):
            raise ValueError(
                f"{first.kind.value} {first.name!r}: the same definition is decided twice for the same teams"
            )
    return keyed
