"""An assignment's provisioning as a declaration holds it, read from and written to the store
(``gateway_servers.provisioning`` and ``metadata_filter``, ``feature_approvals``), teams by name."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from lockgate.domain.declaration import AssignmentSpec
from lockgate.domain.declared_provisioning import (
    ApprovalSpec,
    MetadataFilterSpec,
    declared_modes,
    resolve_modes,
)
from lockgate.domain.provisioning import Approval, Decision
from lockgate.store.approvals import close_reviews
from lockgate.store.provisioning import dump_filter, dump_modes, load_approval, load_filter, load_modes
from lockgate.store.records import fetch_named
from lockgate.store.schema import feature_approvals, gateway_servers, teams

Governed = dict[str, Any]
"""``provisioning``, ``approvals`` and ``metadata_filter`` of one ``AssignmentSpec``."""


def load_declared_provisioning(conn: Connection, assignment_ids: Collection[int]) -> dict[int, Governed]:
    """The provisioning fields of each assignment, by assignment id, in their canonical spelling.

    A team-limited approval names only the teams that still exist; one whose teams are all gone
    applies to no one and is left out (what it named then waits for approval again)."""
    team_names = {row.id: row.name for row in conn.execute(select(teams.c.id, teams.c.name))}
    approvals: dict[int, list[ApprovalSpec]] = {i: [] for i in assignment_ids}
    rows = conn.execute(
        select(feature_approvals).where(feature_approvals.c.assignment_id.in_(list(assignment_ids)))
    )
    for row in rows.mappings():
        approval = load_approval(dict(row))
        spec = None if approval is None else _declared_approval(approval, team_names)
        if spec is not None:
            approvals[row["assignment_id"]].append(spec)
    columns = conn.execute(
        select(gateway_servers.c.id, gateway_servers.c.provisioning, gateway_servers.c.metadata_filter).where(
            gateway_servers.c.id.in_(list(assignment_ids))
        )
    )
    return {
        row.id: {
            "provisioning": declared_modes(load_modes(row.provisioning)),
            "approvals": approvals[row.id],
            "metadata_filter": MetadataFilterSpec.declare(load_filter(row.metadata_filter)),
        }
        for row in columns
    }


def _declared_approval(approval: Approval, team_names: dict[int, str]) -> ApprovalSpec | None:
    named = [team_names[t] for t in approval.teams if t in team_names]
    if approval.teams and not named:
        return None
    return ApprovalSpec(
        kind=approval.kind,
        name=approval.name,
        decision=approval.decision,
        pinned=list(approval.pinned),
        teams=named,
        definition=approval.definition,
    )


def save_declared_provisioning(
    conn: Connection, assignment_id: int, spec: AssignmentSpec, decided_by: str
) -> None:
    """Make the assignment's modes, metadata filter and approvals exactly ``spec``'s (whose fields
    must be given: ``domain.plan.resolve_provisioning``). Approvals already stored as declared keep
    who decided them and when; the others are deleted, and new ones recorded as ``decided_by`` now,
    closing the open reviews of the definitions they decide (as deciding through the API does).

    Raises:
        NotFoundError: an approval names a team that does not exist.
    """
    assert spec.provisioning is not None and spec.approvals is not None and spec.metadata_filter is not None
    conn.execute(
        update(gateway_servers)
        .where(gateway_servers.c.id == assignment_id)
        .values(
            provisioning=dump_modes(resolve_modes(spec.provisioning)),
            metadata_filter=dump_filter(spec.metadata_filter.resolve()),
        )
    )
    wanted = {}
    for approval in spec.approvals:
        team_ids = sorted(fetch_named(conn, teams, t, "team").id for t in approval.teams)
        wanted[_key(approval, team_ids)] = (approval, team_ids)
    stored = conn.execute(
        select(feature_approvals).where(feature_approvals.c.assignment_id == assignment_id)
    ).mappings()
    kept = set()
    for row in stored:
        found = load_approval(dict(row))
        key = None if found is None else _key(found, found.teams)
        if key in wanted and key not in kept:
            kept.add(key)
        else:
            conn.execute(delete(feature_approvals).where(feature_approvals.c.id == row["id"]))
    now = time.time()
    for key, (approval, team_ids) in wanted.items():
        if key not in kept:
            conn.execute(
                insert(feature_approvals).values(
                    assignment_id=assignment_id,
                    kind=approval.kind.value,
                    name=approval.name,
                    decision=approval.decision.value,
                    definition=approval.definition,
                    digest=approval.digest,
                    pinned=[p.value for p in approval.pinned],
                    teams=team_ids,
                    decided_by=decided_by,
                    decided_at=now,
                )
            )
            status = "approved" if approval.decision is Decision.APPROVED else "rejected"
            close_reviews(
                conn, assignment_id, approval.kind, approval.name, approval.digest, status, decided_by
            )


def _key(approval: Approval | ApprovalSpec, team_ids: Iterable[int]) -> tuple[Any, ...]:
    """What makes two approvals the same decision (who decided it and when aside)."""
    return (
        approval.kind,
        approval.name,
        approval.decision,
        approval.digest,
        frozenset(approval.pinned),
        frozenset(team_ids),
    )
