"""How provisioning is stored: an assignment's ``provisioning`` and ``metadata_filter`` columns and
its ``feature_approvals`` rows, to and from ``domain.provisioning`` values.

A stored value the code does not know (a mode or pin name from a newer release, or a hand edit)
fails closed: an unknown mode reads as ``allow_selected``; an approval with an unknown kind, decision
or pin is left out, so what it named waits for approval again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import orjson

from lockgate.domain.features import FeatureKind
from lockgate.domain.provisioning import (
    Approval,
    Decision,
    DroppedField,
    MetadataFilter,
    Mode,
    Override,
    PinField,
    Provisioning,
)

log = logging.getLogger(__name__)


def load_json(stored: Any) -> Any:
    """A JSON column's value: SQLite may hand back the text, PostgreSQL the value."""
    return orjson.loads(stored) if isinstance(stored, str | bytes) else stored


def load_modes(stored: Any) -> Mapping[FeatureKind, Mode]:
    """The modes a ``provisioning`` column holds; a kind missing or unknown is ``allow_selected``."""
    values = load_json(stored)
    values = values if isinstance(values, dict) else {}
    modes = {}
    for kind in FeatureKind:
        try:
            modes[kind] = Mode(str(values.get(kind.value)))
        except ValueError:
            modes[kind] = Mode.ALLOW_SELECTED
    return MappingProxyType(modes)


def dump_modes(modes: Mapping[FeatureKind, Mode]) -> dict[str, str]:
    return {kind.value: modes[kind].value for kind in FeatureKind}


def load_filter(stored: Any) -> MetadataFilter:
    """The ``metadata_filter`` column as a ``MetadataFilter`` (None: nothing filtered)."""
    values = load_json(stored)
    if not isinstance(values, dict):
        return MetadataFilter()
    drop = frozenset(
        DroppedField(d) for d in values.get("drop") or () if d in DroppedField._value2member_map_
    )
    cap = values.get("max_description")
    overrides: dict[tuple[FeatureKind, str], Override] = {}
    for item in values.get("overrides") or ():
        try:
            key = (FeatureKind(item["kind"]), str(item["name"]))
        except (KeyError, TypeError, ValueError):
            continue
        overrides[key] = Override(title=item.get("title"), description=item.get("description"))
    return MetadataFilter(
        drop=drop,
        max_description=cap if isinstance(cap, int) and cap >= 0 else None,
        overrides=MappingProxyType(overrides),
    )


def dump_filter(rules: MetadataFilter) -> dict[str, Any] | None:
    """The ``metadata_filter`` column for ``rules`` (None when it filters nothing)."""
    if rules.empty:
        return None
    return {
        "drop": sorted(d.value for d in rules.drop),
        "max_description": rules.max_description,
        "overrides": [
            {"kind": kind.value, "name": name, "title": o.title, "description": o.description}
            for (kind, name), o in sorted(rules.overrides.items())
        ],
    }


def load_approval(row: Mapping[str, Any]) -> Approval | None:
    """A ``feature_approvals`` row (by column name) as an ``Approval``; None when it holds a value
    this release does not know (logged)."""
    try:
        return Approval(
            id=row["id"],
            kind=FeatureKind(row["kind"]),
            name=row["name"],
            decision=Decision(row["decision"]),
            definition=load_json(row["definition"]),
            digest=row["digest"],
            pinned=frozenset(PinField(p) for p in load_json(row["pinned"])),
            teams=frozenset(int(t) for t in load_json(row["teams"])),
        )
    except (ValueError, TypeError):
        log.warning("feature approval %s holds a value this release does not know; it is ignored", row["id"])
        return None


def load_provisioning(modes: Any, metadata_filter: Any, approvals: Iterable[Approval]) -> Provisioning:
    """An assignment's ``Provisioning`` from its two columns and its approvals."""
    by_name: dict[tuple[FeatureKind, str], list[Approval]] = {}
    for approval in approvals:
        by_name.setdefault((approval.kind, approval.name), []).append(approval)
    return Provisioning(
        modes=load_modes(modes),
        approvals=MappingProxyType({key: tuple(found) for key, found in by_name.items()}),
        filter=load_filter(metadata_filter),
    )
