"""The feature catalog: what each server offers, kept whole, per server revision, identity and kind.

An entry is a server's complete ``Listing`` of one kind (every definition as the server gave it: name,
title, description, schemas, annotations, ``_meta``, ``uriTemplate``), keyed by (server id, server
revision, identity key, kind): what a server lists may depend on whose credential asks, and a new
revision is a new server. The catalog answers "what does assignment A expose" and "what is feature X's
definition" without asking the server again while it knows; the listing itself is passed in
(``ListFeatures``), so the catalog does no I/O of its own.

An entry is used for routing until the server announces ``notifications/*/list_changed`` (the hub
calls ``forget``), until a lookup misses (the caller forgets and asks again), or until it is
``max_age`` seconds old. It answers a client's list (``fresh``) only while the server's own cache
rules allow (MCP 2026-07-28 server/utilities/caching): for ``ttlMs`` milliseconds from when it was
listed. A server that gives no ``ttlMs`` (a legacy server) made no promise, so its lists are asked
for again each time: it may change without telling a gateway that holds no stream to it. Entries are
per identity key, so a ``private`` scope is never shared across the authorization contexts the
server sees.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from lockgate.domain.features import FeatureKind, expose_name
from lockgate.domain.mcp import Client, JsonObject
from lockgate.domain.mcp_headers import param_headers
from lockgate.domain.model import Assignment
from lockgate.domain.provisioning import definition_digest
from lockgate.upstream.listing import Listing

Changed = Callable[[int, int, FeatureKind], None]
"""Told (server id, identity key, kind) when a server lists definitions that differ from those the
catalog held for it: a change the server did not announce (e.g. a rug pull under the same name)."""
ListFeatures = Callable[[Assignment, FeatureKind, Client], Awaitable[Listing]]
"""Lists every feature of a kind a server offers an assignment's identity; raises on failure."""
MAX_AGE = 300.0
"""Seconds an entry is used for routing before the server is asked again."""
Key = tuple[int, str, int, FeatureKind]


@dataclass(slots=True)
class Entry:
    """One server's complete listing of one kind, as of ``listed_at`` (the catalog's clock, seconds)."""

    listing: Listing
    listed_at: float
    _by_name: dict[str, JsonObject] | None = None
    _params: dict[str, dict[str, str]] = field(default_factory=dict)

    def by_name(self, kind: FeatureKind) -> dict[str, JsonObject]:
        """The definitions by name (``name``, ``uri`` or ``uriTemplate``); the first of a name wins."""
        if self._by_name is None:
            found: dict[str, JsonObject] = {}
            for item in self.listing.items:
                name = item.get(kind.key)
                if isinstance(name, str):
                    found.setdefault(name, item)
            self._by_name = found
        return self._by_name

    def tool_params(self, tool: str) -> dict[str, str]:
        """A listed tool's ``x-mcp-header`` parameters (argument → header suffix), worked out once."""
        found = self._params.get(tool)
        if found is None:
            definition = self.by_name(FeatureKind.TOOL).get(tool)
            found = self._params[tool] = param_headers(definition) if definition is not None else {}
        return found

    def remaining_ms(self, now: float) -> int:
        """How much longer, in milliseconds, the server allows this listing to be kept."""
        ttl = self.listing.ttl_ms or 0
        return max(0, ttl - int((now - self.listed_at) * 1000))


def expose(assignment: Assignment, kind: FeatureKind, items: Iterable[JsonObject]) -> list[JsonObject]:
    """Definitions as a front client sees them: tool and prompt names carry the assignment's prefix."""
    if not assignment.prefix or kind not in (FeatureKind.TOOL, FeatureKind.PROMPT):
        return list(items)
    return [{**i, "name": expose_name(assignment.prefix, i["name"])} for i in items]


def _differ(before: Listing, after: Listing) -> bool:
    """Whether two listings hold different sets of definitions (by ``definition_digest``)."""
    if before.items == after.items:
        return False
    return {definition_digest(i) for i in before.items} != {definition_digest(i) for i in after.items}


def _key(assignment: Assignment, kind: FeatureKind) -> Key:
    return (assignment.server.id, assignment.server.revision, assignment.identity_key, kind)


class Catalog:
    """Feature definitions per (server id, server revision, identity key, kind).

    ``clock`` gives seconds (monotonic); ``max_age`` bounds how long an entry routes calls;
    ``on_changed`` is told of a relisting whose definitions differ.
    """

    def __init__(
        self,
        *,
        on_changed: Changed | None = None,
        max_age: float = MAX_AGE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: dict[Key, Entry] = {}
        self._max_age = max_age
        self._clock = clock
        self._on_changed = on_changed
        self.names_version = 0
        """Moves whenever the names the catalog knows may have changed (screening's neighbours)."""

    def store(self, assignment: Assignment, kind: FeatureKind, listing: Listing) -> Entry:
        """Keep ``listing`` as the assignment's features of ``kind``; older revisions are dropped.
        When its set of definitions differs from the listing held (even one past its age; the
        order a server lists them in is not a change), ``on_changed`` is told."""
        key = _key(assignment, kind)
        for stale in [k for k in self._entries if k[0] == key[0] and k[1] != key[1]]:
            del self._entries[stale]
        previous = self._entries.get(key)
        entry = Entry(listing, self._clock())
        self._entries[key] = entry
        if previous is None or previous.by_name(kind).keys() != entry.by_name(kind).keys():
            self.names_version += 1
        if self._on_changed is not None and previous is not None and _differ(previous.listing, listing):
            self._on_changed(key[0], key[2], kind)
        return entry

    def known_names(self, assignment: Assignment, kind: FeatureKind) -> Iterable[str]:
        """The names of the assignment's features of ``kind`` the catalog holds (never lists)."""
        entry = self._entries.get(_key(assignment, kind))
        return entry.by_name(kind).keys() if entry is not None else ()

    def forget(self, server_id: int, kind: FeatureKind | None = None) -> None:
        """Drop what is known of a server's features (of ``kind``, or of every kind)."""
        for key in [k for k in self._entries if k[0] == server_id and (kind is None or k[3] is kind)]:
            del self._entries[key]
            self.names_version += 1

    def known(self, assignment: Assignment, kind: FeatureKind) -> bool:
        return self._current(assignment, kind) is not None

    def fresh(self, assignment: Assignment, kind: FeatureKind) -> tuple[Entry, int] | None:
        """The entry a client's list may be answered from, and for how many more milliseconds the
        server allows it: only while the ``ttlMs`` the server gave is not past."""
        entry = self._entries.get(_key(assignment, kind))
        if entry is None or entry.listing.ttl_ms is None:
            return None
        remaining = entry.remaining_ms(self._clock())
        return (entry, remaining) if remaining > 0 else None

    async def entry(
        self, assignment: Assignment, kind: FeatureKind, client: Client, list_features: ListFeatures
    ) -> Entry:
        """The assignment's features of ``kind``, listed with ``list_features`` unless known.

        Raises:
            whatever ``list_features`` raises; nothing is stored then.
        """
        entry = self._current(assignment, kind)
        if entry is None:
            entry = self.store(assignment, kind, await list_features(assignment, kind, client))
        return entry

    async def definition(
        self,
        assignment: Assignment,
        kind: FeatureKind,
        name: str,
        client: Client,
        list_features: ListFeatures,
    ) -> JsonObject | None:
        """The server's definition of its feature ``name`` (an upstream name), or None."""
        entry = await self.entry(assignment, kind, client, list_features)
        return entry.by_name(kind).get(name)

    async def tool_params(
        self, assignment: Assignment, tool: str, client: Client, list_features: ListFeatures
    ) -> dict[str, str]:
        """A tool's ``x-mcp-header`` parameters (argument → header suffix), from its definition."""
        entry = await self.entry(assignment, FeatureKind.TOOL, client, list_features)
        return entry.tool_params(tool)

    def _current(self, assignment: Assignment, kind: FeatureKind) -> Entry | None:
        entry = self._entries.get(_key(assignment, kind))
        if entry is not None and self._clock() - entry.listed_at >= self._max_age:
            return None
        return entry
