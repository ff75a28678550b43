"""Provisioning decisions: whether a feature an assignment's server offers is let through, pure.

The rules (issue 11; product spec §3 "Provisioning is fail-closed by default"):

- ``block_all``: nothing of the kind passes (``not_provisioned``).
- An approval applies to a caller when it names no teams or one of the caller's teams. A rejection
  that applies and has the offered definition's digest withholds it (``not_provisioned``).
- ``allow_selected``: a feature passes only if an approval of its name applies to the caller and
  every field that approval pins is as approved (else ``pin_mismatch``). A name approved only for
  other teams is ``not_provisioned``; any other name (new, or offered anew after a rejection) is
  ``awaiting_approval``.
- ``allow_all``: every feature passes.
- Under every mode, a definition with a high-severity screening finding (``quarantined``) passes only
  if an applying approval approved exactly that definition (its digest).

A ``resources/read`` of a URI passes when the resource itself passes, or when a template that
matches the URI passes; under ``allow_all`` for resources a URI the server does not list passes too
(the server answers for it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import JsonObject
from lockgate.domain.provisioning import (
    Approval,
    Decision,
    DroppedField,
    MetadataFilter,
    Mode,
    Provisioning,
    Withheld,
    definition_digest,
)


def pins_hold(approval: Approval, definition: JsonObject) -> bool:
    """Whether ``definition`` keeps every field ``approval`` pins as it approved them (the name is the
    lookup key, so it always matches)."""
    approved = approval.definition
    for pin in approval.pinned:
        for key in pin.keys:
            if approved.get(key) != definition.get(key):
                return False
    return True


def applying(approvals: Iterable[Approval], teams: frozenset[int]) -> list[Approval]:
    """The approvals that apply to a caller in ``teams``: those naming no team or one of theirs."""
    return [a for a in approvals if not a.teams or a.teams & teams]


def resolve_withheld(
    provisioning: Provisioning,
    kind: FeatureKind,
    definition: JsonObject,
    *,
    teams: frozenset[int],
    quarantined: bool,
    digest: str | None = None,
) -> Withheld | None:
    """Why the offered ``definition`` of ``kind`` is withheld from a caller in ``teams``, or None
    when it passes. ``quarantined``: screening found a high-severity finding in it; ``digest`` its
    ``definition_digest`` when the caller already knows it."""
    mode = provisioning.mode(kind)
    if mode is Mode.BLOCK_ALL:
        return Withheld.NOT_PROVISIONED
    name = definition.get(kind.key)
    entries = provisioning.approvals.get((kind, name), ()) if isinstance(name, str) else ()
    if not entries and mode is Mode.ALLOW_ALL and not quarantined:
        return None  # the common case: nothing decided on this name, nothing to compute
    digest = digest or definition_digest(definition)
    mine = applying(entries, teams)
    if any(a.decision is Decision.REJECTED and a.digest == digest for a in mine):
        return Withheld.NOT_PROVISIONED
    approved = [a for a in mine if a.decision is Decision.APPROVED]
    if mode is Mode.ALLOW_SELECTED:
        if not approved:
            others = any(a.decision is Decision.APPROVED for a in entries)  # for other teams only
            return Withheld.NOT_PROVISIONED if others else Withheld.AWAITING_APPROVAL
        if not any(pins_hold(a, definition) for a in approved):
            return Withheld.PIN_MISMATCH
    if quarantined and not any(a.digest == digest for a in approved):
        return Withheld.QUARANTINED
    return None


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One top-level field of a definition as approved (``before``) and as offered now (``after``);
    None where the field is absent. ``pinned``: the approval pins it."""

    field: str
    before: Any
    after: Any
    pinned: bool


def diff_definitions(approved: Approval | None, offered: JsonObject) -> list[FieldChange]:
    """The fields that differ between what ``approved`` recorded and ``offered``, sorted by name
    (every field of ``offered`` when nothing was approved)."""
    before = approved.definition if approved is not None else {}
    pinned_keys = {key for pin in approved.pinned for key in pin.keys} if approved is not None else set()
    changes = []
    for key in sorted(set(before) | set(offered)):
        if before.get(key) != offered.get(key):
            changes.append(FieldChange(key, before.get(key), offered.get(key), key in pinned_keys))
    return changes


def filter_definition(rules: MetadataFilter, kind: FeatureKind, definition: JsonObject) -> JsonObject:
    """``definition`` as agents are shown it: overrides applied, fields dropped, the description cut
    to ``max_description`` characters (with an ellipsis). Returns ``definition`` itself when nothing
    changes."""
    if rules.empty:
        return definition
    shown = {k: v for k, v in definition.items() if k not in rules.drop}
    name = definition.get(kind.key)
    override = rules.overrides.get((kind, name)) if isinstance(name, str) else None
    if override is not None:
        if override.title is not None and DroppedField.TITLE not in rules.drop:
            shown["title"] = override.title
        if override.description is not None:
            shown["description"] = override.description
    description = shown.get("description")
    cap = rules.max_description
    if cap is not None and isinstance(description, str) and len(description) > cap:
        shown["description"] = description[: max(cap - 1, 0)] + "…"
    return shown
