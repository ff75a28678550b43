"""Governance of what a gateway lets through of its servers' features (issue 11; product spec §3).

``Governance.verdict`` answers, for an assignment, a kind, the caller's teams and what the server
offers (a catalog ``Entry`` or one page of items), which definitions the caller is shown (after the
metadata filter, names exposed with the assignment's prefix) and which are withheld and why
(``policy.provisioning.resolve_withheld``). What a definition holds is screened once per digest
(``policy.screening.screen_content``); what depends on the gateway (shadowing by name, mimicry:
``screen_names``) is screened against the neighbours the catalog knows now (the other
assignments' feature names and server names; a server is never listed to screen another), and
again when they change, so it does not matter which server answered first. A lookalike of an
approved name is the mimic, not the approved name. A high-severity finding quarantines the
definition. What is withheld for an administrator to decide, and findings that withhold nothing,
are noted as reviews (``store.reviews``).

A verdict over a catalog entry is kept (bounded) for that entry, that ``Provisioning`` value, those
teams and those neighbours (the catalog's ``names_version`` and the gateway's assignments): the
access read gives a new ``Provisioning`` whenever the access counter moves, and the catalog a new
entry whenever it lists again, so a kept verdict is never stale and ``tools/call`` does one
dictionary lookup on the hot path.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from lockgate.dataplane.catalog import Catalog, Entry, expose
from lockgate.dataplane.uri_templates import UriTemplate, template_pattern
from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import JsonObject
from lockgate.domain.model import Assignment
from lockgate.domain.provisioning import Approval, Decision, Mode, Withheld, sized_digest
from lockgate.policy.provisioning import filter_definition, resolve_withheld
from lockgate.policy.screening import (
    MAX_DEFINITION_BYTES,
    FeatureRef,
    Finding,
    Neighbours,
    combine,
    oversized_definition,
    screen_content,
    screen_names,
    withholds,
)
from lockgate.store.reviews import Review, ReviewWriter

log = logging.getLogger(__name__)

MAX_VERDICTS: Final = 2048
"""Verdicts kept (entry × provisioning × teams), least recently used dropped first."""
MAX_LAST_ENTRIES: Final = 4096
"""Last listings kept (assignment × identity × kind), to decide a call while its server cannot list."""
SCREENING_BUDGET: Final = 4 * MAX_DEFINITION_BYTES
"""Bytes of new definitions screened per listing (screening runs on the event loop, ~1 ms per KiB of
hostile text): past it, the listing's other new definitions are withheld as oversized until a later
listing screens them."""
MAX_SCREENED: Final = 16384
"""Screenings kept of each sort: content findings (by digest), name findings (by digest and
neighbours), neighbour sets."""
K = TypeVar("K")
V = TypeVar("V")
GatewayKey = tuple[tuple[int, int], ...]
"""(assignment id, id of its Provisioning) of each assignment of a gateway."""
VerdictKey = tuple[int, int, frozenset[int], int, FeatureKind, tuple[int, GatewayKey]]
"""(id of the catalog entry, id of the Provisioning, teams, assignment id, kind, (the catalog's
``names_version``, the gateway)): the last two fingerprint the neighbours screening compares with."""
NamedKey = tuple[str, bool, frozenset[str], frozenset[str]]
"""(digest, the name approved, the neighbours' names, those of them approved)."""
REVIEWED: Final = frozenset({Withheld.PIN_MISMATCH, Withheld.AWAITING_APPROVAL, Withheld.QUARANTINED})
"""Reasons an administrator is asked to decide (a review is opened)."""


@dataclass(frozen=True, slots=True)
class Offer:
    """One offered definition with its digest and screening findings."""

    name: str
    definition: JsonObject
    digest: str
    findings: tuple[Finding, ...]


@dataclass(slots=True)
class Verdict:
    """What a caller is shown of one server's features of one kind, and what is withheld.

    ``visible`` as the client sees them (filtered, exposed); ``withheld`` maps an upstream name to
    why; ``passing`` holds the upstream names let through; ``mode`` decides names nobody offered."""

    mode: Mode
    visible: list[JsonObject]
    passing: frozenset[str]
    withheld: Mapping[str, Withheld]
    _patterns: list[tuple[UriTemplate, Withheld | None]] | None = field(default=None)

    @property
    def hidden(self) -> Counter[Withheld]:
        return Counter(self.withheld.values())

    def reason(self, name: str) -> Withheld | None:
        """Why the feature ``name`` (an upstream name) is withheld, or None when it passes; a name
        the server did not offer passes only under ``allow_all``."""
        if name in self.passing:
            return None
        found = self.withheld.get(name)
        if found is not None:
            return found
        return None if self.mode is Mode.ALLOW_ALL else Withheld.NOT_PROVISIONED

    def offered(self, name: str) -> bool:
        return name in self.passing or name in self.withheld

    def template_reason(self, uri: str) -> Withheld | bool | None:
        """For resource templates: None when a passing template matches ``uri``, the reason of a
        withheld one that matches, or False when none matches."""
        if self._patterns is None:
            names = [(n, None) for n in self.passing] + list(self.withheld.items())
            self._patterns = [(template_pattern(n), r) for n, r in names]
        matched: Withheld | bool | None = False
        for pattern, reason in self._patterns:
            if pattern.match(uri):
                if reason is None:
                    return None
                matched = reason
        return matched


class Governance:
    """Verdicts and screening for the data plane; ``reviews`` records what needs a decision."""

    def __init__(self, catalog: Catalog, reviews: ReviewWriter | None) -> None:
        self._catalog = catalog
        self._reviews = reviews
        self._verdicts: OrderedDict[VerdictKey, tuple[Any, ...]] = OrderedDict()
        self._content: OrderedDict[str, tuple[Finding, ...]] = OrderedDict()
        self._named: OrderedDict[NamedKey, tuple[Finding, ...]] = OrderedDict()
        self._neighbour_sets: OrderedDict[tuple[int, int, GatewayKey], Neighbours] = OrderedDict()
        self._last: OrderedDict[tuple[int, int, FeatureKind], Entry] = OrderedDict()

    def verdict(
        self,
        assignment: Assignment,
        kind: FeatureKind,
        teams: frozenset[int],
        entry: Entry | None,
        gateway: Sequence[Assignment],
    ) -> Verdict:
        """The verdict over a catalog ``entry``, kept for that entry, the assignment's provisioning
        and ``teams``. ``gateway``: every assignment of the caller's gateway (the neighbours
        screening compares with).

        ``entry`` None (the server could not list): the verdict over the last entry seen for this
        assignment, identity and kind, so what was withheld (e.g. quarantined) stays withheld while
        its server fails to list; with none seen, over nothing offered (a name then passes only
        under ``allow_all``, when no quarantine can be known)."""
        entry = self._last_entry(assignment, kind, entry)
        around = self._catalog.names_version, _gateway_key(gateway)  # what the neighbours come from
        key = (id(entry), id(assignment.provisioning), teams, assignment.id, kind, around)
        kept = self._verdicts.get(key)
        if kept is not None:
            self._verdicts.move_to_end(key)
            verdict: Verdict = kept[0]
            return verdict
        items = entry.listing.items if entry is not None else ()
        verdict = self.judge(assignment, kind, teams, items, gateway)
        self._verdicts[key] = (verdict, entry, assignment.provisioning, gateway)  # holds what ids name
        while len(self._verdicts) > MAX_VERDICTS:
            self._verdicts.popitem(last=False)
        return verdict

    def _last_entry(self, assignment: Assignment, kind: FeatureKind, entry: Entry | None) -> Entry | None:
        key = (assignment.id, assignment.identity_key, kind)
        if entry is None:
            return self._last.get(key)
        self._last[key] = entry
        self._last.move_to_end(key)
        while len(self._last) > MAX_LAST_ENTRIES:
            self._last.popitem(last=False)
        return entry

    def judge(
        self,
        assignment: Assignment,
        kind: FeatureKind,
        teams: frozenset[int],
        items: Iterable[JsonObject],
        gateway: Sequence[Assignment],
    ) -> Verdict:
        """The verdict over ``items`` (one page of a server's list, upstream names), not kept."""
        provisioning = assignment.provisioning
        offers = self._offers(assignment, kind, items, gateway)
        shown: list[JsonObject] = []
        passing: set[str] = set()
        withheld: dict[str, Withheld] = {}
        for offer in offers:
            quarantined = withholds(offer.findings)
            reason = resolve_withheld(
                provisioning,
                kind,
                offer.definition,
                teams=teams,
                quarantined=quarantined,
                digest=offer.digest,
            )
            self._review(assignment, kind, offer, reason)
            if reason is None:
                passing.add(offer.name)
                shown.append(filter_definition(provisioning.filter, kind, offer.definition))
            else:
                withheld.setdefault(offer.name, reason)
        return Verdict(provisioning.mode(kind), expose(assignment, kind, shown), frozenset(passing), withheld)

    def _offers(
        self,
        assignment: Assignment,
        kind: FeatureKind,
        items: Iterable[JsonObject],
        gateway: Sequence[Assignment],
    ) -> list[Offer]:
        """The named items with their findings, within the listing's ``SCREENING_BUDGET``."""
        neighbours: Neighbours | None = None
        offers, budget = [], SCREENING_BUDGET
        for item in items:
            name = item.get(kind.key)
            if not isinstance(name, str):
                continue
            digest, size = sized_digest(item)
            if neighbours is None:
                neighbours = self._neighbours(assignment, gateway)
            established = _approved(assignment.provisioning.approvals.get((kind, name), ()))
            findings, cost = self._findings(kind, name, item, (digest, size), neighbours, established, budget)
            budget -= cost
            offers.append(Offer(name, item, digest, findings))
        return offers

    def _findings(
        self,
        kind: FeatureKind,
        name: str,
        item: JsonObject,
        sized: tuple[str, int],
        neighbours: Neighbours,
        established: bool,
        budget: int,
    ) -> tuple[tuple[Finding, ...], int]:
        """One definition's findings and the bytes screened for them. Content findings are kept by
        digest; name findings by digest and the neighbours they were found against, so they follow
        the gateway as it is now. A definition past ``MAX_DEFINITION_BYTES``, or past what is left
        of the listing's budget, is withheld as oversized unscreened (the latter not kept: a later
        listing screens it)."""
        digest, size = sized
        if size > MAX_DEFINITION_BYTES:
            return (oversized_definition(FeatureRef(kind, name), size),), 0
        content = self._content.get(digest)
        named_key = (digest, established, neighbours.names, neighbours.established)
        named = self._named.get(named_key)
        cost = (size if content is None else 0) + (size if named is None and neighbours.names else 0)
        if cost > budget:
            return (oversized_definition(FeatureRef(kind, name), size, budget),), 0
        if content is None:
            content = _keep(self._content, digest, screen_content(kind, item, size=size))
        if named is None:
            found = screen_names(kind, item, neighbours, established=established)
            named = _keep(self._named, named_key, found)
        return combine(content, named), cost

    def _neighbours(self, assignment: Assignment, gateway: Sequence[Assignment]) -> Neighbours:
        """The names of the other assignments' features the catalog knows, and their servers' names
        (approved: those with an approval, and every server name), kept while they cannot change."""
        key = (assignment.id, self._catalog.names_version, _gateway_key(gateway))
        kept = self._neighbour_sets.get(key)
        if kept is not None:
            return kept
        others = [a for a in gateway if a.id != assignment.id]
        features = [
            name for a in others for kind in FeatureKind for name in self._catalog.known_names(a, kind)
        ]
        servers = [a.server.name for a in others]
        approved = [
            name
            for a in others
            for (_, name), entries in a.provisioning.approvals.items()
            if _approved(entries)
        ]
        return _keep(self._neighbour_sets, key, Neighbours.of(features, servers, [*approved, *servers]))

    def _review(
        self, assignment: Assignment, kind: FeatureKind, offer: Offer, reason: Withheld | None
    ) -> None:
        if self._reviews is None or not (reason in REVIEWED or (reason is None and offer.findings)):
            return
        findings = tuple(finding_value(f) for f in offer.findings)
        self._reviews.note(
            Review(assignment.id, kind, offer.name, offer.digest, reason, offer.definition, findings)
        )


def _gateway_key(gateway: Sequence[Assignment]) -> GatewayKey:
    return tuple((a.id, id(a.provisioning)) for a in gateway)


def _approved(entries: Iterable[Approval]) -> bool:
    return any(entry.decision is Decision.APPROVED for entry in entries)


def _keep(kept: OrderedDict[K, V], key: K, value: V) -> V:
    """Keep ``value`` under ``key``, at most ``MAX_SCREENED`` entries (least recent dropped first)."""
    kept[key] = value
    while len(kept) > MAX_SCREENED:
        kept.popitem(last=False)
    return value


def finding_value(finding: Finding) -> dict[str, str]:
    """A finding as a review stores it: {kind, severity, location, rule, evidence}."""
    return {
        "kind": finding.kind.value,
        "severity": finding.severity.value,
        "location": finding.location,
        "rule": finding.rule,
        "evidence": finding.evidence,
    }


def describe_hidden(hidden: Counter[Withheld]) -> str:
    """How many were hidden and why, for a ``gateway_feature_filtered`` leg: ``3 hidden:
    awaiting_approval=2, quarantined=1``."""
    reasons = ", ".join(f"{reason.value}={count}" for reason, count in sorted(hidden.items()))
    return f"{sum(hidden.values())} hidden: {reasons}"
