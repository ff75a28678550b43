"""The control plane's reads and writes of provisioning: an assignment's modes and metadata filter,
its approvals and rejections (``feature_approvals``), and the reviews the data plane opened
(``feature_reviews``, which ``store/reviews.py`` writes) that an administrator decides.

Values go through ``store/provisioning.py``'s load and dump, so what is written here reads back as the
data plane reads it.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy import Connection, Row, delete, insert, select, update

from lockgate.domain.declared_provisioning import MAX_APPROVALS, MAX_DEFINITION_BYTES
from lockgate.domain.features import FeatureKind
from lockgate.domain.provisioning import Approval, MetadataFilter, Mode
from lockgate.store.errors import LimitError, NotFoundError
from lockgate.store.provisioning import dump_filter, dump_modes, load_approval
from lockgate.store.records import page
from lockgate.store.schema import feature_approvals, feature_reviews, gateway_servers, teams

OPEN_STATUSES = ("open", "noted")
"""The statuses of a review nobody has decided yet (``store/reviews.py`` writes them)."""


def fetch_approvals(conn: Connection, assignment_id: int) -> list[Approval]:
    """The assignment's approvals and rejections, oldest first (entries this release cannot read
    are left out, as the data plane leaves them out)."""
    query = (
        select(feature_approvals)
        .where(feature_approvals.c.assignment_id == assignment_id)
        .order_by(feature_approvals.c.id)
    )
    found = (load_approval(dict(row._mapping)) for row in conn.execute(query))
    return [a for a in found if a is not None]


def save_modes(conn: Connection, assignment_id: int, modes: Mapping[FeatureKind, Mode]) -> None:
    conn.execute(
        update(gateway_servers)
        .where(gateway_servers.c.id == assignment_id)
        .values(provisioning=dump_modes(modes))
    )


def save_metadata_filter(conn: Connection, assignment_id: int, rules: MetadataFilter) -> None:
    conn.execute(
        update(gateway_servers)
        .where(gateway_servers.c.id == assignment_id)
        .values(metadata_filter=dump_filter(rules))
    )


def resolve_team_ids(conn: Connection, names: Iterable[str]) -> frozenset[int]:
    """The ids of the teams called ``names``.

    Raises:
        NotFoundError: naming the first team that does not exist.
    """
    wanted = set(names)
    if not wanted:
        return frozenset()
    query = select(teams.c.name, teams.c.id).where(teams.c.name.in_(wanted))
    found = {row.name: row.id for row in conn.execute(query)}
    missing = sorted(wanted - set(found))
    if missing:
        raise NotFoundError(f"no team named {missing[0]!r}")
    return frozenset(found.values())


def team_names(conn: Connection, ids: Collection[int]) -> dict[int, str]:
    """The names of the teams ``ids`` that still exist (a deleted team has none)."""
    if not ids:
        return {}
    query = select(teams.c.id, teams.c.name).where(teams.c.id.in_(ids))
    return {row.id: row.name for row in conn.execute(query)}


def forget_team(conn: Connection, team_id: int) -> None:
    """Take the deleted team ``team_id`` out of every approval's and rejection's teams, and delete
    those it was the last team of: SQLite reuses ids, so a kept id would pass the entry to the next
    team created, and an emptied list would read as everyone."""
    rows = conn.execute(select(feature_approvals.c.id, feature_approvals.c.teams))
    named = [(row.id, [t for t in row.teams if t != team_id]) for row in rows if team_id in row.teams]
    emptied = [entry_id for entry_id, kept in named if not kept]
    if emptied:
        conn.execute(delete(feature_approvals).where(feature_approvals.c.id.in_(emptied)))
    for entry_id, kept in named:
        if kept:
            conn.execute(
                update(feature_approvals).where(feature_approvals.c.id == entry_id).values(teams=kept)
            )


def save_decisions(
    conn: Connection, assignment_id: int, decisions: Iterable[Approval], decided_by: str
) -> None:
    """Record each of ``decisions`` (approvals or rejections) on the assignment, in order, replacing
    the entry of the same feature with exactly the same teams (everyone's entry replaces everyone's).
    A decision limited to some teams leaves other teams' entries alone; where a rejection and an
    approval both apply to a caller, the rejection wins (``policy.provisioning``). Reads the
    assignment's entries once.

    Raises:
        LimitError: a definition over ``MAX_DEFINITION_BYTES`` as compact JSON, or the assignment
            would hold more than ``MAX_APPROVALS`` entries.
    """
    stored = {(a.kind, a.name, a.teams): a for a in fetch_approvals(conn, assignment_id)}
    replaced: list[int] = []
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}  # the last decision of each feature and teams
    now = time.time()
    for approval in decisions:
        if len(orjson.dumps(approval.definition)) > MAX_DEFINITION_BYTES:
            what = f"{approval.kind.value} {approval.name!r}"
            raise LimitError(f"the definition of {what} is over {MAX_DEFINITION_BYTES} bytes as JSON")
        old = stored.pop((approval.kind, approval.name, approval.teams), None)
        if old is not None:
            replaced.append(old.id)
        kept[(approval.kind, approval.name, approval.teams)] = {
            "assignment_id": assignment_id,
            "kind": approval.kind.value,
            "name": approval.name,
            "decision": approval.decision.value,
            "definition": approval.definition,
            "digest": approval.digest,
            "pinned": sorted(p.value for p in approval.pinned),
            "teams": sorted(approval.teams),
            "decided_by": decided_by,
            "decided_at": now,
        }
    if len(stored) + len(kept) > MAX_APPROVALS:
        raise LimitError(
            f"an assignment holds at most {MAX_APPROVALS} approvals and rejections; this would make "
            f"{len(stored) + len(kept)}: revoke some first"
        )
    if replaced:
        conn.execute(delete(feature_approvals).where(feature_approvals.c.id.in_(replaced)))
    if kept:
        conn.execute(insert(feature_approvals), list(kept.values()))


def delete_decisions(conn: Connection, assignment_id: int, kind: FeatureKind, name: str) -> None:
    """Remove every approval and rejection of one feature.

    Raises:
        NotFoundError: there is none.
    """
    removed = [a for a in fetch_approvals(conn, assignment_id) if (a.kind, a.name) == (kind, name)]
    if not removed:
        raise NotFoundError(f"nothing is approved or rejected for {kind.value} {name!r} on this assignment")
    conn.execute(delete(feature_approvals).where(feature_approvals.c.id.in_([a.id for a in removed])))


def list_reviews(
    conn: Connection, assignment_id: int, statuses: Collection[str] | None, cursor: str | None, limit: int
) -> tuple[list[Row[Any]], str | None]:
    """A page of the assignment's reviews, oldest first, with one of ``statuses`` (None: any).

    Raises:
        ValueError: a malformed cursor.
    """
    query = select(feature_reviews).where(feature_reviews.c.assignment_id == assignment_id)
    if statuses is not None:
        query = query.where(feature_reviews.c.status.in_(statuses))
    return page(conn, query, feature_reviews.c.id, cursor, limit)


def fetch_review(conn: Connection, assignment_id: int, review_id: int) -> Row[Any]:
    """The assignment's review ``review_id``.

    Raises:
        NotFoundError: the assignment has none with that id.
    """
    query = select(feature_reviews).where(
        (feature_reviews.c.id == review_id) & (feature_reviews.c.assignment_id == assignment_id)
    )
    row = conn.execute(query).first()
    if row is None:
        raise NotFoundError(f"the assignment has no review {review_id}")
    return row


def close_reviews(
    conn: Connection,
    assignment_id: int,
    kind: FeatureKind,
    name: str,
    digest: str,
    status: str,
    decided_by: str,
) -> None:
    """Mark the undecided reviews of exactly this definition ``status`` (approved or rejected)."""
    conn.execute(
        update(feature_reviews)
        .where(
            (feature_reviews.c.assignment_id == assignment_id)
            & (feature_reviews.c.kind == kind.value)
            & (feature_reviews.c.name == name)
            & (feature_reviews.c.digest == digest)
            & feature_reviews.c.status.in_(OPEN_STATUSES)
        )
        .values(status=status, decided_by=decided_by, decided_at=time.time())
    )
