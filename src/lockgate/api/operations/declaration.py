"""Configuration as code: export the store as a declaration, plan a declaration, apply it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from lockgate.api.errors import Forbidden, UnprocessableContent
from lockgate.api.operation import Context, Input, NoInput, Operation
from lockgate.api.operations.common import fetch_visible_server
from lockgate.api.operations.engines import require_valid_engine
from lockgate.api.operations.hosts import require_webhook_change
from lockgate.api.operations.roles import require_grantable
from lockgate.api.operations.servers import record_deleted_identities
from lockgate.api.operations.users import keep_a_super_admin
from lockgate.domain.capabilities import Capability
from lockgate.domain.declaration import (
    Declaration,
    DeclaredEngine,
    DeclaredServer,
    GatewaySpec,
    RoleSpec,
    ServerSpec,
    UserSpec,
)
from lockgate.domain.plan import (
    SECRET_FIELDS,
    SERVER_SECRET_VALUES,
    MovedSecretError,
    PlannedChange,
    items_by_kind,
    resolve_desired,
    resolve_plan,
)
from lockgate.domain.rules import LIMITS
from lockgate.policy.access_control import resolve_refusal
from lockgate.policy.declaration import resolve_change_capabilities
from lockgate.rules.validation import RuleDefinitionError, check_rule
from lockgate.store.declarative import apply_plan, load_declaration
from lockgate.store.errors import NotFoundError
from lockgate.store.people import fetch_user, role_capabilities
from lockgate.store.records import fetch_named
from lockgate.store.schema import gateways, hosts, roles


class FieldChange(BaseModel):
    field: str
    before: Any = Field(description="The old value; '(secret)' stands for a secret value.")
    after: Any


class Change(BaseModel):
    action: Literal["create", "update", "delete"]
    kind: Literal["role", "team", "user", "server", "host", "rule_engine", "gateway"]
    name: str
    fields: list[FieldChange]


class Plan(BaseModel):
    """The changes, in the order they are (or would be) made; empty when nothing differs."""

    changes: list[Change]
    applied: bool


class DeclarationInput(Input):
    declaration: Declaration
    prune: bool = Field(False, description="Delete what the declaration does not name.")


def export_declaration(ctx: Context, _args: NoInput) -> Declaration:
    """The whole configuration as a declaration; env and header values and OAuth client secrets
    come back null."""
    with ctx.transaction() as conn:
        return hide_secrets(load_declaration(conn, ctx.vault))


def plan_declaration(ctx: Context, args: DeclarationInput) -> Plan:
    """What applying the declaration would create, change and delete. Changes nothing."""
    with ctx.transaction() as conn:
        plan = _plan(ctx, conn, args)[2]
    return _answer(plan, applied=False)


def apply_declaration(ctx: Context, args: DeclarationInput) -> Plan:
    """Make the store match the declaration, in one transaction, one admin event per change. A
    server declared at another destination (transport and url, or a stdio server's command, args
    and cwd) keeps none of its stored secrets and loses its identities, as an edit does."""

    def on_change(change: PlannedChange, before: BaseModel | None, after: BaseModel | None) -> None:
        ctx.record(conn, change.kind, change.name, _shown(before), _shown(after))

    with ctx.transaction() as conn:
        current, desired, plan = _plan(ctx, conn, args)
        apply_plan(
            conn,
            ctx.vault,
            current,
            desired,
            plan,
            on_change,
            ctx.actor.user_id,
            on_deleted_identities=lambda d: record_deleted_identities(ctx, conn, d),
        )
    return _answer(plan, applied=True)


def _plan(
    ctx: Context, conn: Connection, args: DeclarationInput
) -> tuple[Declaration, Declaration, list[PlannedChange]]:
    current = load_declaration(conn, ctx.vault)
    try:
        desired = resolve_desired(current, args.declaration)
    except MovedSecretError as exc:
        raise UnprocessableContent(str(exc), field=exc.field) from None
    plan = resolve_plan(current, desired, args.prune)
    stored, wanted = items_by_kind(current), items_by_kind(desired)
    created = {c.name for c in plan if c.kind == "server" and c.action == "create"}
    _check_rules(ctx, current, desired)
    for change in plan:
        spec = wanted[change.kind].get(change.name)
        _authorize(ctx, conn, change, spec, wanted["role"])
        if isinstance(spec, GatewaySpec):
            _authorize_assignments(ctx, conn, stored["gateway"].get(change.name), spec, created)
    return current, desired, plan


def _check_rules(ctx: Context, current: Declaration, desired: Declaration) -> None:
    """Each declared rule engine and each gateway's rules judged as ``engines create`` and ``rules
    create`` judge them (422 naming ``rule_engines.<i>.<field>`` or ``gateways.<i>.rules.<j>.<field>``);
    a rule's engine is one stored or declared, its assignments the gateway's declared ones."""
    for index, declared in enumerate(desired.rule_engines):
        require_valid_engine(ctx, declared.to_engine(), f"rule_engines.{index}.")
    engines = {e.name for e in current.rule_engines} | {e.name for e in desired.rule_engines}
    for g_index, gateway in enumerate(desired.gateways):
        assignments = {a.assignment_name for a in gateway.servers}
        if len(gateway.rules or ()) > LIMITS.rules_per_gateway:
            field = f"gateways.{g_index}.rules"
            raise UnprocessableContent(f"{field}: at most {LIMITS.rules_per_gateway}", field=field)
        for r_index, spec in enumerate(gateway.rules or ()):
            where = f"gateways.{g_index}.rules.{r_index}."
            rule = spec.to_rule()
            try:
                check_rule(rule, engines=engines, ner_model=ctx.ner_model)
            except RuleDefinitionError as exc:
                raise UnprocessableContent(f"{where}{exc}", field=f"{where}{exc.field}") from None
            missing = sorted(rule.assignments - assignments)
            if missing:
                raise UnprocessableContent(
                    f"{where}assignments: gateway {gateway.name!r} has no assignment named {missing[0]!r}",
                    field=f"{where}assignments",
                )


def _authorize(
    ctx: Context,
    conn: Connection,
    change: PlannedChange,
    spec: BaseModel | None,
    declared_roles: Mapping[str, BaseModel],
) -> None:
    """The actor needs, for each change, what making it by hand needs: the capabilities, the
    gateway's or the server's scope, every gateway a host serves to move its webhook, and for a
    user's role what ``users create|update`` checks."""
    if change.action == "create" and spec is not None:
        fields = list(spec.model_dump(exclude_defaults=True, exclude={"name"}))
        fields += [f.field for f in change.fields]  # a new gateway's open assignments
    else:
        fields = [f.field for f in change.fields]
    if isinstance(spec, ServerSpec):
        ctx.require_reachable(spec)
    role = spec if isinstance(spec, RoleSpec) else None
    for capability in sorted(resolve_change_capabilities(change.kind, change.action, fields, role)):
        refusal = resolve_refusal(ctx.actor, capability)
        if refusal is not None:
            raise Forbidden(f"{change}: {refusal.message}", capability=capability.value)
    if change.kind == "gateway" and change.action != "create":
        row = fetch_named(conn, gateways, change.name, "gateway")
        ctx.require_gateway(row.id, row.name)
    if change.kind == "server" and change.action != "create":
        fetch_visible_server(ctx, conn, change.name)
    changed = {f.field for f in change.fields}
    if change.kind == "host" and change.action == "update" and "webhook_url" in changed:
        require_webhook_change(ctx, conn, fetch_named(conn, hosts, change.name, "host"))
    if isinstance(spec, UserSpec) and (change.action == "create" or "role" in changed):
        _authorize_role(ctx, conn, change, spec, declared_roles)


def _authorize_role(
    ctx: Context,
    conn: Connection,
    change: PlannedChange,
    spec: UserSpec,
    declared_roles: Mapping[str, BaseModel],
) -> None:
    """As ``users create|update``: the actor holds every capability of the role given and, on a
    change, of the role held; the last active Super admin stays one.

    Raises:
        Forbidden, Conflict, NotFoundError (no such role, declared or stored).
    """
    declared = declared_roles.get(spec.role)
    stored = conn.execute(select(roles).where(roles.c.name == spec.role)).first()
    if isinstance(declared, RoleSpec):
        given = frozenset(declared.capabilities)
    elif stored is not None:
        given = role_capabilities(stored.name, stored.capabilities)
    else:
        raise NotFoundError(f"{change}: no role named {spec.role!r}")
    require_grantable(ctx, given, f"{change}: giving role {spec.role!r}")
    if change.action == "update":
        row = fetch_user(conn, spec.email)
        held = conn.execute(select(roles).where(roles.c.id == row.role_id)).one()
        what = f"{change}: changing {row.email!r}, who holds role {held.name!r}"
        require_grantable(ctx, role_capabilities(held.name, held.capabilities), what)
        keep_a_super_admin(conn, row, {"role_id": None if stored is None else stored.id})


def _authorize_assignments(
    ctx: Context, conn: Connection, before: BaseModel | None, after: GatewaySpec, created: set[str]
) -> None:
    """Each server the declaration newly assigns to the gateway must be one the actor sees, as
    assigning it by hand needs; one this declaration creates is on no gateway yet, so only "View
    all servers" sees it."""
    assigned = {a.server for a in before.servers} if isinstance(before, GatewaySpec) else set()
    for server in sorted({a.server for a in after.servers} - assigned):
        if server in created:
            ctx.require_server([], server)
        else:
            fetch_visible_server(ctx, conn, server)


def hide_secrets(declaration: Declaration) -> Declaration:
    """The declaration with every env and header value, OAuth client secret and rule engine secret
    replaced by null."""
    return declaration.model_copy(
        update={
            "servers": [_hidden(s) for s in declaration.servers],
            "rule_engines": [_hidden_engine(e) for e in declaration.rule_engines],
        }
    )


def _hidden_engine(engine: DeclaredEngine) -> DeclaredEngine:
    return engine.model_copy(update={"headers": dict.fromkeys(engine.headers), "secret": None})


def _hidden(server: DeclaredServer) -> DeclaredServer:
    hidden: dict[str, Any] = {f: dict.fromkeys(getattr(server, f)) for f in SECRET_FIELDS}
    return server.model_copy(update=hidden | dict.fromkeys(SERVER_SECRET_VALUES))


def _shown(spec: BaseModel | None) -> dict[str, Any] | None:
    """What an admin event holds of a declared item: a server without its env and header values, a
    gateway's approvals by their summary (the definition as its digest)."""
    if isinstance(spec, DeclaredServer):
        spec = _hidden(spec)
    if isinstance(spec, DeclaredEngine):
        spec = _hidden_engine(spec)
    if spec is None:
        return None
    shown = spec.model_dump(mode="json")
    if isinstance(spec, GatewaySpec):
        for assignment, dumped in zip(spec.servers, shown["servers"], strict=True):
            if assignment.approvals is not None:
                dumped["approvals"] = [a.summary() for a in assignment.approvals]
    return shown


def _answer(plan: list[PlannedChange], applied: bool) -> Plan:
    changes = [
        Change(
            action=c.action,
            kind=c.kind,
            name=c.name,
            fields=[FieldChange(field=f.field, before=f.before, after=f.after) for f in c.fields],
        )
        for c in plan
    ]
    return Plan(changes=changes, applied=applied)


_NEEDS = Capability.EXPORT_AND_APPLY_CONFIGURATION
OPERATIONS = [
    Operation("declaration", "export", "GET", "/declaration", "Export the configuration", _NEEDS,
              export_declaration, NoInput, Declaration),
    Operation("declaration", "plan", "POST", "/declaration/plan", "Plan a declaration", _NEEDS,
              plan_declaration, DeclarationInput, Plan),
    Operation("declaration", "apply", "POST", "/declaration/apply", "Apply a declaration", _NEEDS,
              apply_declaration, DeclarationInput, Plan),
]  # fmt: skip
