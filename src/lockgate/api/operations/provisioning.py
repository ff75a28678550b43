"""Feature provisioning of an assignment (issue 11; product spec §3 "Provisioning is fail-closed by
default"): show it, set the mode of each feature kind, set the metadata filter, revoke a decision,
and list the reviews of features waiting for one. Approving and rejecting are in ``approvals.py``.

Every operation needs "Manage feature provisioning settings" and a gateway the caller may use (one
they may not is answered as one that does not exist). Every change records one admin event of kind
``provisioning`` whose before and after are the whole ``ProvisioningView``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection

from lockgate.api.errors import UnprocessableContent
from lockgate.api.operation import Context, Input, Operation
from lockgate.api.operations.common import (
    AssignmentTarget,
    ListInput,
    Name,
    Page,
    fetch_assignment_target,
)
from lockgate.domain.capabilities import Capability
from lockgate.domain.declared_provisioning import (
    MAX_OVERRIDES,
    FeatureName,
    MaxDescription,
    OverrideSpec,
)
from lockgate.domain.features import FeatureKind
from lockgate.domain.provisioning import (
    Approval,
    Decision,
    DroppedField,
    MetadataFilter,
    Mode,
    Override,
    PinField,
)
from lockgate.policy.provisioning import diff_definitions
from lockgate.store import approvals as store
from lockgate.store.provisioning import load_filter, load_json, load_modes
from lockgate.store.schema import servers

KINDS = ", ".join(kind.value for kind in FeatureKind)


class ApprovalView(BaseModel):
    """An approval or rejection of one definition of a feature."""

    id: int
    kind: FeatureKind
    name: str
    decision: Decision
    pinned: list[PinField] = Field(description="The fields besides the name that must stay as approved.")
    teams: list[str] = Field(description="The teams it is limited to (empty: everyone on the gateway).")
    digest: str = Field(description="SHA-256 of the approved definition's canonical JSON.")
    definition: dict[str, Any] | None = Field(
        None,
        description="The definition as the server offered it when decided; only in the answer to a "
        "decision on this feature (lists and admin events hold the digest).",
    )


class OverrideView(BaseModel):
    kind: FeatureKind
    name: FeatureName
    title: str | None = None
    description: str | None = None


class FilterView(BaseModel):
    """What agents are shown of the assignment's definitions."""

    drop: list[DroppedField] = Field(description="Fields left out of every definition.")
    max_description: int | None = Field(description="Descriptions are cut to this many characters.")
    overrides: list[OverrideView] = Field(
        description="Titles and descriptions shown instead of the server's."
    )


class ProvisioningView(BaseModel):
    """An assignment's provisioning: the mode of each feature kind, its approvals and rejections,
    and its metadata filter."""

    gateway: str
    assignment: str
    server: str
    modes: dict[str, Mode] = Field(description=f"The mode of each feature kind ({KINDS}).")
    approvals: list[ApprovalView]
    filter: FilterView


class ProvisioningRef(Input):
    gateway: Name
    assignment: Name = Field(description="The assignment's name (by default its server's).")


_EVERY_KIND = (
    "The mode of every feature kind: allow_all, allow_selected (only what is approved) or block_all."
)
_PER_KIND = f"The mode of one feature kind ({KINDS}), e.g. tools=allow_all; wins over provisioning."


class ModesChange(ProvisioningRef):
    provisioning: Mode | None = Field(None, description=_EVERY_KIND)
    modes: dict[str, Mode] = Field({}, description=_PER_KIND)


class FilterChange(ProvisioningRef):
    """The whole metadata filter; what is left out is cleared."""

    drop: list[DroppedField] = Field([], max_length=len(DroppedField), description="Fields to leave out.")
    max_description: MaxDescription | None = None
    overrides: list[OverrideSpec] = Field(
        [], max_length=MAX_OVERRIDES, description="Per feature: a title and/or description to show instead."
    )


class FeatureRef(ProvisioningRef):
    kind: FeatureKind
    name: FeatureName


ReviewStatus = Literal["open", "decided", "all"]
STATUSES: dict[str, tuple[str, ...] | None] = {
    "open": store.OPEN_STATUSES,
    "decided": ("approved", "rejected"),
    "all": None,
}


class ReviewList(ListInput):
    gateway: Name
    assignment: Name = Field(description="The assignment's name (by default its server's).")
    status: ReviewStatus = Field("open", description="open (nobody decided yet), decided or all.")


class FieldChangeView(BaseModel):
    field: str
    before: Any = Field(description="As approved (null: absent or nothing approved).")
    after: Any = Field(description="As offered (null: absent).")
    pinned: bool = Field(description="The approval pins this field: the change withholds the feature.")


class ReviewView(BaseModel):
    """A definition the gateway withheld or flagged, waiting for a decision, with what changed."""

    id: int
    kind: FeatureKind
    name: str
    reason: str | None = Field(description="Why it is withheld (not_provisioned, pin_mismatch, ...).")
    status: str
    digest: str
    definition: dict[str, Any] = Field(description="As the server offered it.")
    findings: list[dict[str, Any]] = Field(description="Screening findings: kind, severity, evidence.")
    diff: list[FieldChangeView] = Field(description="Field by field against the approved definition.")
    first_seen: float
    last_seen: float
    decided_by: str | None
    decided_at: float | None


def changed_modes(
    base: Mapping[FeatureKind, Mode], every: Mode | None, per_kind: Mapping[str, Mode]
) -> dict[FeatureKind, Mode]:
    """``base`` with ``every`` for each kind, then ``per_kind`` (by kind name) on top.

    Raises:
        UnprocessableContent: a key of ``per_kind`` names no feature kind.
    """
    modes = {kind: every or base[kind] for kind in FeatureKind}
    for key, mode in per_kind.items():
        if key not in FeatureKind._value2member_map_:
            raise UnprocessableContent(f"no feature kind is called {key!r}; one of {KINDS}", field="modes")
        modes[FeatureKind(key)] = mode
    return modes


def describe_provisioning(
    conn: Connection, target: AssignmentTarget, shown: Collection[tuple[FeatureKind, str]] = ()
) -> dict[str, Any]:
    """The ``ProvisioningView`` of ``target`` as JSON values (what admin events record): each
    approval by its summary, with its definition only for the features ``shown`` (kind, name)."""
    row = target.assignment
    approvals = store.fetch_approvals(conn, row.id)
    names = store.team_names(conn, {t for a in approvals for t in a.teams})
    rules = load_filter(row.metadata_filter)
    server = conn.execute(servers.select().where(servers.c.id == row.server_id)).one()
    view = ProvisioningView(
        gateway=target.gateway.name,
        assignment=row.name,
        server=server.name,
        modes={kind.value: mode for kind, mode in load_modes(row.provisioning).items()},
        approvals=[_approval_view(a, names, (a.kind, a.name) in shown) for a in approvals],
        filter=FilterView(
            drop=sorted(rules.drop),
            max_description=rules.max_description,
            overrides=[
                OverrideView(kind=kind, name=name, title=o.title, description=o.description)
                for (kind, name), o in sorted(rules.overrides.items())
            ],
        ),
    )
    return view.model_dump(mode="json")


def _approval_view(approval: Approval, names: dict[int, str], with_definition: bool) -> ApprovalView:
    return ApprovalView(
        id=approval.id,
        kind=approval.kind,
        name=approval.name,
        decision=approval.decision,
        pinned=sorted(approval.pinned),
        teams=sorted(names.get(t, f"(deleted team {t})") for t in approval.teams),
        digest=approval.digest,
        definition=approval.definition if with_definition else None,
    )


def change_provisioning(
    ctx: Context,
    args: ProvisioningRef,
    act: Callable[[Connection, AssignmentTarget], None],
    shown: Collection[tuple[FeatureKind, str]] = (),
) -> ProvisioningView:
    """Run ``act`` on the assignment in one transaction with its admin event (the view before and
    after, approvals by their summary); returns the view after, with the definitions of the
    features ``shown``."""
    with ctx.transaction() as conn:
        target = fetch_assignment_target(ctx, conn, args.gateway, args.assignment)
        before = describe_provisioning(conn, target)
        act(conn, target)
        target = fetch_assignment_target(ctx, conn, args.gateway, args.assignment)
        after = describe_provisioning(conn, target)
        ctx.record(conn, "provisioning", f"{args.gateway}/{args.assignment}", before, after)
        if shown:
            after = describe_provisioning(conn, target, shown)
    return ProvisioningView.model_validate(after)


def get_provisioning(ctx: Context, args: ProvisioningRef) -> ProvisioningView:
    """An assignment's modes, approvals and rejections (with their pins and teams) and metadata filter."""
    with ctx.transaction() as conn:
        target = fetch_assignment_target(ctx, conn, args.gateway, args.assignment)
        return ProvisioningView.model_validate(describe_provisioning(conn, target))


def set_modes(ctx: Context, args: ModesChange) -> ProvisioningView:
    """Set the mode of every feature kind (``provisioning``) and/or of single kinds (``modes``):
    allow_all lets every feature of the kind through, allow_selected only the approved ones,
    block_all none. Raises 422 for a kind that does not exist."""

    def act(conn: Connection, target: AssignmentTarget) -> None:
        current = load_modes(target.assignment.provisioning)
        store.save_modes(conn, target.assignment.id, changed_modes(current, args.provisioning, args.modes))

    return change_provisioning(ctx, args, act)


def set_filter(ctx: Context, args: FilterChange) -> ProvisioningView:
    """Set what agents are shown of the assignment's definitions: fields dropped, descriptions cut
    to ``max_description`` characters, per-feature title and description overrides. Replaces the
    whole filter; an empty one shows definitions as the server offers them. Raises 422 for two
    overrides of one feature."""
    overrides: dict[tuple[FeatureKind, str], Override] = {}
    for item in args.overrides:
        if (item.kind, item.name) in overrides:
            raise UnprocessableContent(f"two overrides of {item.kind.value} {item.name!r}", field="overrides")
        overrides[(item.kind, item.name)] = Override(title=item.title, description=item.description)
    rules = MetadataFilter(
        drop=frozenset(args.drop), max_description=args.max_description, overrides=overrides
    )
    return change_provisioning(
        ctx, args, lambda conn, target: store.save_metadata_filter(conn, target.assignment.id, rules)
    )


def revoke_decision(ctx: Context, args: FeatureRef) -> ProvisioningView:
    """Remove every approval and rejection of one feature: on an allow_selected assignment it waits
    for approval again. Raises 404 when nothing was decided for it."""

    def act(conn: Connection, target: AssignmentTarget) -> None:
        store.delete_decisions(conn, target.assignment.id, args.kind, args.name)

    return change_provisioning(ctx, args, act)


def list_reviews(ctx: Context, args: ReviewList) -> Page[ReviewView]:
    """The features the gateway withheld or flagged on this assignment (open ones by default), each
    with its screening findings and its field-by-field diff against the definition approved for it
    (every field when none was)."""
    with ctx.transaction() as conn:
        target = fetch_assignment_target(ctx, conn, args.gateway, args.assignment)
        rows, cursor = store.list_reviews(
            conn, target.assignment.id, STATUSES[args.status], args.cursor, args.limit
        )
        approvals = store.fetch_approvals(conn, target.assignment.id)
    return Page[ReviewView](items=[_review_view(row, approvals) for row in rows], next_cursor=cursor)


def _review_view(row: Any, approvals: list[Approval]) -> ReviewView:
    kind = FeatureKind(row.kind)
    approved = [a for a in approvals if (a.kind, a.name, a.decision) == (kind, row.name, Decision.APPROVED)]
    everyone = [a for a in approved if not a.teams]
    candidates = everyone or approved
    against = candidates[-1] if candidates else None
    definition = load_json(row.definition)
    return ReviewView(
        id=row.id,
        kind=kind,
        name=row.name,
        reason=row.reason,
        status=row.status,
        digest=row.digest,
        definition=definition,
        findings=load_json(row.findings),
        diff=[
            FieldChangeView(field=c.field, before=c.before, after=c.after, pinned=c.pinned)
            for c in diff_definitions(against, definition)
        ],
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


_P = "/gateways/{gateway}/assignments/{assignment}/provisioning"
_MANAGE = Capability.MANAGE_FEATURE_PROVISIONING
OPERATIONS = [
    Operation("provisioning", "get", "GET", _P, "Show an assignment's feature provisioning", _MANAGE,
              get_provisioning, ProvisioningRef, ProvisioningView),
    Operation("provisioning", "set", "PATCH", _P, "Set an assignment's provisioning modes", _MANAGE,
              set_modes, ModesChange, ProvisioningView),
    Operation("provisioning", "filter", "POST", _P + "/filter", "Set an assignment's metadata filter",
              _MANAGE, set_filter, FilterChange, ProvisioningView),
    Operation("provisioning", "revoke", "DELETE", _P + "/approvals",
              "Revoke the approvals and rejections of a feature", _MANAGE, revoke_decision, FeatureRef,
              ProvisioningView),
    Operation("provisioning", "reviews", "GET", _P + "/reviews", "List features waiting for a decision",
              _MANAGE, list_reviews, ReviewList, Page[ReviewView],
              columns=("id", "kind", "name", "reason", "status")),
]  # fmt: skip
