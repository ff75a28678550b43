"""Deciding on an assignment's features (issue 11 "Pins and re-approval"): approve one, reject one,
or approve exactly what the server offers now.

An approval records the definition it approves, as a review recorded it or as the server offers it
now (asked live, as an identity: ``api/offer.py``), pins the fields chosen (all by default) and may
be limited to teams. Each decision closes the open reviews of that definition and records one admin
event (``provisioning``, the view before and after).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import anyio.to_thread
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from lockgate.api.errors import NotFound, UnprocessableContent
from lockgate.api.offer import ask_server
from lockgate.api.operation import Context, Operation
from lockgate.api.operations.common import AssignmentTarget, Name, RowId, fetch_assignment_target
from lockgate.api.operations.provisioning import (
    ProvisioningRef,
    ProvisioningView,
    change_provisioning,
)
from lockgate.api.preview_identity import choose_preview_identity, open_preview_credential
from lockgate.domain.capabilities import Capability
from lockgate.domain.declared_provisioning import MAX_APPROVALS, MAX_TEAMS, FeatureName
from lockgate.domain.features import FeatureKind
from lockgate.domain.mcp import JsonObject
from lockgate.domain.model import Credential, IdentityScheme, Server
from lockgate.domain.provisioning import ALL_PINS, Approval, Decision, PinField, definition_digest
from lockgate.policy.screening import Neighbours, screen_feature
from lockgate.store import approvals as store
from lockgate.store.provisioning import load_json
from lockgate.store.schema import gateway_servers, identities, servers
from lockgate.store.servers import load_server
from lockgate.upstream.preview import Preview

MAX_APPROVED_AT_ONCE = MAX_APPROVALS
"""The most features ``approve-current`` approves in one go: as many as an assignment holds."""

_IDENTITY = (
    "Whose identity the server is asked as, for the definition it offers now: 'mine', 'global', "
    "'none' or an identity's name, as the features preview takes it. Default: the assignment's shared "
    "identity, else as the preview chooses."
)
_TEAMS = "Limit it to these teams (default: everyone on the gateway)."
_PINS = "The fields that must stay as approved besides the name (default: all)."


class Decide(ProvisioningRef):
    review: RowId | None = Field(None, description="A review's id: decide on the definition it recorded.")
    kind: FeatureKind | None = Field(None, description="Without review: the feature's kind.")
    name: FeatureName | None = Field(
        None, description="Without review: the feature, as the server offers it now."
    )
    teams: list[Name] = Field([], max_length=MAX_TEAMS, description=_TEAMS)
    identity: str | None = Field(None, max_length=160, description=_IDENTITY)


class Approve(Decide):
    pins: list[PinField] | None = Field(None, max_length=len(PinField), description=_PINS)


class ApproveCurrent(ProvisioningRef):
    kinds: list[FeatureKind] = Field(
        list(FeatureKind), max_length=len(FeatureKind), description="The feature kinds to approve."
    )
    pins: list[PinField] | None = Field(None, max_length=len(PinField), description=_PINS)
    teams: list[Name] = Field([], max_length=MAX_TEAMS, description=_TEAMS)
    identity: str | None = Field(None, max_length=160, description=_IDENTITY)
    include_flagged: bool = Field(
        False, description="Approve too what screening withholds (a high-severity finding); default: skip it."
    )


class Skipped(BaseModel):
    """A definition approve-current left unapproved because screening withholds it."""

    kind: FeatureKind
    name: str
    findings: list[str] = Field(description="The kinds of the withholding findings.")


class ApprovedCurrent(ProvisioningView):
    skipped: list[Skipped] = Field(
        description="What screening withheld and was not approved (see include_flagged)."
    )


def gateway_neighbours(conn: Connection, gateway_id: int, assignment_id: int | None) -> Neighbours:
    """What screening compares an offer with in the control plane: the server names of the gateway's
    other assignments (their features' names are the data plane's catalog's, not known here)."""
    query = (
        select(servers.c.name)
        .join(gateway_servers, gateway_servers.c.server_id == servers.c.id)
        .where((gateway_servers.c.gateway_id == gateway_id) & (gateway_servers.c.id != (assignment_id or 0)))
    )
    return Neighbours.of((), conn.execute(query).scalars())


def screen_offer(found: Preview, kinds: Iterable[FeatureKind], neighbours: Neighbours) -> list[Skipped]:
    """Every definition of ``kinds`` in ``found`` that screening withholds (``screen_feature`` with
    ``neighbours``), with the kinds of its withholding findings."""
    skipped = []
    for kind in dict.fromkeys(kinds):
        for definition in found[kind]:
            findings = [f for f in screen_feature(kind, definition, neighbours) if f.severity.withholds]
            if findings and isinstance(name := definition.get(kind.key), str):
                kinds_found = sorted({f.kind.value for f in findings})
                skipped.append(Skipped(kind=kind, name=name, findings=kinds_found))
    return skipped


def load_offer_source(
    ctx: Context, conn: Connection, target: AssignmentTarget, choice: str | None
) -> tuple[Server, Credential | None]:
    """The assignment's server and the credential it is asked as: ``choice`` as the features preview
    takes it; None: the assignment's shared identity (the gateway's service account) when it has one,
    else the preview's default."""
    row = conn.execute(select(servers).where(servers.c.id == target.assignment.server_id)).one()
    identity = None
    shared = target.assignment.identity_id
    if choice is None and target.assignment.identity_scheme == IdentityScheme.SHARED and shared is not None:
        identity = conn.execute(select(identities).where(identities.c.id == shared)).one()
    else:
        identity = choose_preview_identity(conn, ctx.actor, row.id, row.name, choice)
    credential = None if identity is None else open_preview_credential(ctx.vault, identity)
    return load_server(row, ctx.vault), credential


def find_offered(found: Preview, kind: FeatureKind, name: str, server: str) -> JsonObject:
    """The definition of ``kind`` called ``name`` among what the server offers.

    Raises:
        NotFound: it offers none.
    """
    for definition in found[kind]:
        if definition.get(kind.key) == name:
            return definition
    raise NotFound(f"server {server!r} offers no {kind.value} named {name!r} now")


def record_decisions(
    ctx: Context,
    conn: Connection,
    assignment_id: int,
    decisions: Iterable[Approval],
) -> None:
    """Save the decisions (``store.save_decisions``) and close the open reviews of each definition.

    Raises:
        LimitError: over the store's limits (422).
    """
    decisions = list(decisions)
    store.save_decisions(conn, assignment_id, decisions, ctx.actor.email)
    for decision in decisions:
        status = "approved" if decision.decision is Decision.APPROVED else "rejected"
        store.close_reviews(
            conn, assignment_id, decision.kind, decision.name, decision.digest, status, ctx.actor.email
        )


def approvals_of(
    found: Preview,
    kinds: Iterable[FeatureKind],
    pins: frozenset[PinField],
    teams: frozenset[int],
    skipped: Iterable[Skipped] = (),
) -> list[Approval]:
    """An approval of every feature of ``kinds`` in ``found`` but those ``skipped``, pinning ``pins``.

    Raises:
        UnprocessableContent: more than ``MAX_APPROVED_AT_ONCE`` of them.
    """
    left_out = {(s.kind, s.name) for s in skipped}
    decided = [
        _decision(kind, definition, Decision.APPROVED, pins, teams)
        for kind in dict.fromkeys(kinds)
        for definition in found[kind]
        if isinstance(definition.get(kind.key), str) and (kind, definition[kind.key]) not in left_out
    ]
    if len(decided) > MAX_APPROVED_AT_ONCE:
        raise UnprocessableContent(
            f"the server offers {len(decided)} features; approve at most {MAX_APPROVED_AT_ONCE} at once "
            "(one kind at a time)",
            field="kinds",
        )
    return decided


def _decision(
    kind: FeatureKind,
    definition: JsonObject,
    decision: Decision,
    pins: frozenset[PinField],
    teams: frozenset[int],
) -> Approval:
    return Approval(
        kind=kind,
        name=str(definition[kind.key]),
        decision=decision,
        definition=definition,
        digest=definition_digest(definition),
        pinned=pins,
        teams=teams,
    )


def _pins(given: list[PinField] | None) -> frozenset[PinField]:
    return ALL_PINS if given is None else frozenset(given)


@dataclass(frozen=True, slots=True)
class Offered:
    """One definition of a feature, as a review recorded it or as the server offers it now."""

    kind: FeatureKind
    definition: JsonObject


def _load_decision_source(ctx: Context, args: Decide) -> Offered | tuple[Server, Credential | None]:
    """The review decided on, or the server to ask for the named feature (and as whom). Checks the
    scope, the teams and the input first."""
    with ctx.transaction() as conn:
        target = fetch_assignment_target(ctx, conn, args.gateway, args.assignment)
        store.resolve_team_ids(conn, args.teams)  # an unknown team is refused before the server is asked
        if args.review is not None:
            if args.kind is not None or args.name is not None:
                raise UnprocessableContent("name a review, or a kind and a name, not both", field="review")
            row = store.fetch_review(conn, target.assignment.id, args.review)
            return Offered(FeatureKind(row.kind), load_json(row.definition))
        if args.kind is None or args.name is None:
            raise UnprocessableContent("name a review, or a kind and a name", field="kind")
        return load_offer_source(ctx, conn, target, args.identity)


async def _decide(
    ctx: Context, args: Decide, decision: Decision, pins: frozenset[PinField]
) -> ProvisioningView:
    source = await anyio.to_thread.run_sync(_load_decision_source, ctx, args)
    if isinstance(source, Offered):
        offered = source
    else:
        server, credential = source
        kind, name = FeatureKind(str(args.kind)), str(args.name)
        found = await ask_server(ctx, server, credential)
        offered = Offered(kind, find_offered(found, kind, name, server.name))

    def act(conn: Connection, target: AssignmentTarget) -> None:
        teams = store.resolve_team_ids(conn, args.teams)
        entry = _decision(offered.kind, offered.definition, decision, pins, teams)
        record_decisions(ctx, conn, target.assignment.id, [entry])

    decided = [(offered.kind, str(offered.definition.get(offered.kind.key)))]
    return await anyio.to_thread.run_sync(change_provisioning, ctx, args, act, decided)


async def approve_feature(ctx: Context, args: Approve) -> ProvisioningView:
    """Approve one feature's definition: the one a review recorded (``review``), or the one the server
    offers now (``kind`` and ``name``), pinning ``pins`` (default all) and limited to ``teams``
    (default everyone). It replaces the feature's decision for exactly the same teams only; where a
    rejection and an approval both apply to a caller, the rejection wins. Raises 404 for an unknown
    review, team, or a feature the server does not offer, 422 for neither or both of a review and a
    name."""
    return await _decide(ctx, args, Decision.APPROVED, _pins(args.pins))


async def reject_feature(ctx: Context, args: Decide) -> ProvisioningView:
    """Reject one feature's definition (a review's, or the one the server offers now): that exact
    definition stays withheld, whatever the mode, until it is approved or the rejection revoked."""
    return await _decide(ctx, args, Decision.REJECTED, ALL_PINS)


async def approve_current(ctx: Context, args: ApproveCurrent) -> ApprovedCurrent:
    """Approve, and pin, exactly what the server offers now for ``kinds`` (default all), but what
    screening withholds unless ``include_flagged`` (the answer's ``skipped`` says what and why): each
    feature's approval for the same teams is replaced, and the server is asked as ``identity``.
    Approvals of features it no longer offers stay until revoked. Raises 502 when the server cannot
    be reached."""

    def load(ctx: Context) -> tuple[Server, Credential | None, Neighbours]:
        with ctx.transaction() as conn:
            target = fetch_assignment_target(ctx, conn, args.gateway, args.assignment)
            store.resolve_team_ids(conn, args.teams)
            neighbours = gateway_neighbours(conn, target.gateway.id, target.assignment.id)
            return *load_offer_source(ctx, conn, target, args.identity), neighbours

    server, credential, neighbours = await anyio.to_thread.run_sync(load, ctx)
    found = await ask_server(ctx, server, credential)
    skipped = [] if args.include_flagged else screen_offer(found, args.kinds, neighbours)

    def act(conn: Connection, target: AssignmentTarget) -> None:
        teams = store.resolve_team_ids(conn, args.teams)
        approvals = approvals_of(found, args.kinds, _pins(args.pins), teams, skipped)
        record_decisions(ctx, conn, target.assignment.id, approvals)

    view = await anyio.to_thread.run_sync(change_provisioning, ctx, args, act)
    return ApprovedCurrent(**dict(view), skipped=skipped)


_P = "/gateways/{gateway}/assignments/{assignment}/provisioning"
_MANAGE = Capability.MANAGE_FEATURE_PROVISIONING
OPERATIONS = [
    Operation("provisioning", "approve", "POST", _P + "/approvals", "Approve a feature", _MANAGE,
              approve_feature, Approve, ProvisioningView),
    Operation("provisioning", "reject", "POST", _P + "/rejections", "Reject a feature's definition", _MANAGE,
              reject_feature, Decide, ProvisioningView),
    Operation("provisioning", "approve-current", "POST", _P + "/approve-current",
              "Approve what the server offers now", _MANAGE, approve_current, ApproveCurrent,
              ApprovedCurrent),
]  # fmt: skip
