"""A gateway's rules (issue 12; product spec §2): list them in the order they run, show, create at a
position, change, move, enable, disable, delete.

Every operation needs "Basic gateway management" and a gateway the caller may use (one they may
not is answered as one that does not exist). A definition is judged by
``rules.validation.check_rule`` — the declaration's judge too — and its scoped assignments must
exist on the gateway (422 naming the field). Every change records one admin event of kind ``rule``
named ``<gateway>/<rule>``, whose before and after are the rule's view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import Connection, Row, select

from lockgate.api.errors import UnprocessableContent
from lockgate.api.operation import Context, Input, Operation, Versioned
from lockgate.api.operations.common import Name, Page
from lockgate.domain.capabilities import Capability
from lockgate.domain.rule_specs import (
    ActionSpec,
    DetectionSpec,
    EngineSpec,
    PresidioSpec,
    RegexSpec,
    RuleSpec,
)
from lockgate.domain.rules import LIMITS, ActionKind, FailureMode, Hook, Rule
from lockgate.rules.validation import RULE_NAME, RuleDefinitionError, check_rule
from lockgate.store import gateway_rules as store
from lockgate.store.records import fetch_named
from lockgate.store.rules import load_rule
from lockgate.store.schema import gateways, rule_engines

Position = Annotated[
    int, Field(ge=0, lt=LIMITS.rules_per_gateway, description="Where in the order (0: first).")
]


class RuleView(RuleSpec):
    """A rule of a gateway, where it runs in the gateway's order."""

    gateway: str
    id: int = Field(description="What the audit's rule outcomes name.")
    position: int = Field(description="Its place in the order rules run in, from 0.")
    version: int = Field(description="Bumped by every change; send it back as If-Match.")


RuleName = Annotated[
    str,
    Field(pattern=RULE_NAME, description="What people call the rule: spaces allowed, no '/', at most 128."),
]


class RulesOf(Input):
    gateway: Name


class RuleRef(RulesOf):
    rule: RuleName


class RuleChange(Versioned):
    gateway: Name
    rule: RuleName


class _Definition(Input):
    """A rule's fields as the API, the admin MCP and the CLI take them. ``detection`` may be left
    out for its shorthands: ``patterns``/``presets`` (regex), ``entities`` (Presidio) or ``engine``."""

    hook: Hook | None = Field(None, description="request, response or both. Default: request.")
    enabled: bool | None = None
    detection: DetectionSpec | None = Field(None, description="{method: regex|presidio|engine, ...}.")
    patterns: list[str] | None = Field(None, description="Shorthand: JavaScript regexes (regex rule).")
    presets: list[str] | None = Field(None, description="Shorthand: ready-made patterns (regex rule).")
    entities: list[str] | None = Field(None, description="Shorthand: Presidio entities (Presidio rule).")
    engine: Name | None = Field(None, description="Shorthand: a rule engine decides (engine rule).")
    action: ActionKind | ActionSpec | None = Field(
        None, description="block, redact, replace, mask or hash, or {kind, replacement, mask_char, ...}."
    )
    alerts: bool | None = None
    failure_mode: FailureMode | None = Field(
        None, description="Presidio and engine rules. Default: fail_closed."
    )
    methods: list[str] | None = Field(None, description="tools/call always; prompts/get, resources/read.")
    assignments: list[str] | None = Field(None, description="Only these assignments (default: all).")
    tools: list[str] | None = Field(None, description="Only these tools (default: all).")
    store_original: bool | None = None


class RuleCreate(_Definition):
    gateway: Name
    name: RuleName
    position: Position | None = None
    before: RuleName | None = Field(None, description="Put it just before this rule.")


class RuleUpdate(_Definition, Versioned):
    gateway: Name
    rule: RuleName
    name: RuleName | None = Field(None, description="A new name.")


class RuleMove(Versioned):
    gateway: Name
    rule: RuleName
    position: Position | None = None
    before: RuleName | None = Field(None, description="Put it just before this rule.")


def resolve_spec(args: _Definition, base: dict[str, Any], name: str) -> RuleSpec:
    """``base`` (a stored rule's spec, or nothing) with the fields ``args`` gives on top. A new
    detection of another method drops the stored failure mode and action unless given again (the
    new method's defaults apply: an engine rule has no action, a regex rule no failure mode).

    Raises:
        UnprocessableContent: no detection, or both ``detection`` and a shorthand, or two shorthands.
    """
    given = args.model_fields_set
    values = {**base, "name": name}
    for field in ("hook", "enabled", "alerts", "methods", "assignments", "tools", "store_original"):
        if field in given and getattr(args, field) is not None:
            values[field] = getattr(args, field)
    detection = _detection(args)
    if detection is not None:
        if base and base["detection"]["method"] != detection.method:
            values.pop("failure_mode", None)
            if detection.method == "engine":
                values.pop("action", None)
        values["detection"] = detection
    if "detection" not in values:
        raise UnprocessableContent(
            "a rule needs a detection (or patterns, presets, entities or an engine)", field="detection"
        )
    if "failure_mode" in given:
        values["failure_mode"] = args.failure_mode
    if "action" in given:
        values["action"] = (
            ActionSpec(kind=args.action) if isinstance(args.action, ActionKind) else args.action
        )
    return RuleSpec.model_validate(values)


def _detection(args: _Definition) -> DetectionSpec | None:
    shorthands: list[DetectionSpec] = []
    if args.patterns is not None or args.presets is not None:
        shorthands.append(RegexSpec(method="regex", patterns=args.patterns or [], presets=args.presets or []))
    if args.entities is not None:
        shorthands.append(PresidioSpec(method="presidio", entities=args.entities))
    if args.engine is not None:
        shorthands.append(EngineSpec(method="engine", engine=args.engine))
    if len(shorthands) + (args.detection is not None) > 1:
        raise UnprocessableContent(
            "give one detection: 'detection', or patterns/presets, entities or engine", field="detection"
        )
    return args.detection if args.detection is not None else (shorthands[0] if shorthands else None)


def require_valid_rule(ctx: Context, conn: Connection, gateway_id: int, rule: Rule, where: str = "") -> None:
    """Raises UnprocessableContent (the field prefixed with ``where``) unless ``check_rule`` accepts
    ``rule`` against the engines stored and the operator's Presidio model, and every assignment it
    names is on the gateway (``gateway_id`` None: a gateway the caller is creating; skipped)."""
    engines = set(conn.execute(select(rule_engines.c.name)).scalars())
    try:
        check_rule(rule, engines=engines, ner_model=ctx.ner_model)
    except RuleDefinitionError as exc:
        raise UnprocessableContent(f"{where}{exc}", field=f"{where}{exc.field}") from None
    missing = store.missing_assignments(conn, gateway_id, rule.assignments)
    if missing:
        raise UnprocessableContent(
            f"{where}assignments: the gateway has no assignment named {missing[0]!r}",
            field=f"{where}assignments",
        )


def _gateway(ctx: Context, conn: Connection, name: str) -> Row[Any]:
    row = fetch_named(conn, gateways, name, "gateway")
    ctx.require_gateway(row.id, row.name)
    return row


def _view(gateway: str, row: Row[Any]) -> RuleView:
    rule = load_rule(row)
    spec = RuleSpec.of(rule).model_dump()
    return RuleView(**spec, gateway=gateway, id=rule.id, position=rule.position, version=rule.version)


def _position(conn: Connection, gateway_id: int, position: int | None, before: str | None) -> int | None:
    if before is None:
        return position
    if position is not None:
        raise UnprocessableContent("give 'position' or 'before', not both", field="before")
    return int(store.fetch_rule_row(conn, gateway_id, before).position)


def list_rules(ctx: Context, args: RulesOf) -> Page[RuleView]:
    """The gateway's rules in the order they run: request rules in this order, then response rules."""
    with ctx.transaction() as conn:
        gateway = _gateway(ctx, conn, args.gateway)
        rows = store.fetch_rule_rows(conn, gateway.id)
    return Page[RuleView](items=[_view(gateway.name, r) for r in rows], next_cursor=None)


def get_rule(ctx: Context, args: RuleRef) -> RuleView:
    with ctx.transaction() as conn:
        gateway = _gateway(ctx, conn, args.gateway)
        return _view(gateway.name, store.fetch_rule_row(conn, gateway.id, args.rule))


def create_rule(ctx: Context, args: RuleCreate) -> RuleView:
    """Add a rule to the gateway: last, or at ``position``, or just ``before`` another rule. Raises
    422 naming the field for a definition that cannot run (a regex with lookbehind, an unknown
    preset, an entity needing a model none is configured for, an engine that does not exist, an
    assignment not on the gateway, more than the gateway may hold)."""
    spec = resolve_spec(args, {}, args.name)
    with ctx.transaction() as conn:
        gateway = _gateway(ctx, conn, args.gateway)
        rule = spec.to_rule()
        require_valid_rule(ctx, conn, gateway.id, rule)
        position = _position(conn, gateway.id, args.position, args.before)
        row = store.insert_rule(conn, ctx.vault, gateway.id, rule, position)
        after = _view(gateway.name, row)
        ctx.record(conn, "rule", f"{gateway.name}/{row.name}", None, after.model_dump(mode="json"))
    return after


def _change(
    ctx: Context,
    args: RuleChange | RuleUpdate | RuleMove,
    act: Callable[[Connection, Row[Any], Row[Any]], Row[Any]],
) -> RuleView:
    with ctx.transaction() as conn:
        gateway = _gateway(ctx, conn, args.gateway)
        row = store.fetch_rule_row(conn, gateway.id, args.rule)
        before = _view(gateway.name, row)
        after = _view(gateway.name, act(conn, gateway, row))
        ctx.record(
            conn,
            "rule",
            f"{gateway.name}/{after.name}",
            before.model_dump(mode="json"),
            after.model_dump(mode="json"),
        )
    return after


def update_rule(ctx: Context, args: RuleUpdate) -> RuleView:
    """Change some of a rule's fields; those left out keep their value. A new ``detection`` (or
    shorthand) or ``action`` replaces the old one whole. Checked as a new rule is."""

    def act(conn: Connection, gateway: Row[Any], row: Row[Any]) -> Row[Any]:
        base = RuleSpec.of(load_rule(row)).model_dump()
        spec = resolve_spec(args, base, args.name or row.name)
        rule = spec.to_rule(row.id, row.position, row.version)
        require_valid_rule(ctx, conn, gateway.id, rule)
        return store.update_rule(conn, row, rule, args.if_match)

    return _change(ctx, args, act)


def move_rule(ctx: Context, args: RuleMove) -> RuleView:
    """Put a rule at ``position`` (0: first; past the end: last) or just ``before`` another rule;
    the others keep their relative order."""

    def act(conn: Connection, gateway: Row[Any], row: Row[Any]) -> Row[Any]:
        if args.before is None and args.position is None:
            raise UnprocessableContent("give 'position' or 'before'", field="position")
        position = _position(conn, gateway.id, args.position, args.before)
        assert position is not None
        if args.before is not None and position > row.position:
            position -= 1  # the rule leaves its place first
        return store.move_rule(conn, row, position, args.if_match)

    return _change(ctx, args, act)


def _toggle(enabled: bool) -> Callable[[Context, RuleChange], RuleView]:
    def toggle(ctx: Context, args: RuleChange) -> RuleView:
        def act(conn: Connection, _gateway: Row[Any], row: Row[Any]) -> Row[Any]:
            return store.update_rule(conn, row, replace(load_rule(row), enabled=enabled), args.if_match)

        return _change(ctx, args, act)

    return toggle


def delete_rule(ctx: Context, args: RuleChange) -> None:
    """Delete a rule; those after it move up."""
    with ctx.transaction() as conn:
        gateway = _gateway(ctx, conn, args.gateway)
        row = store.fetch_rule_row(conn, gateway.id, args.rule)
        before = _view(gateway.name, row)
        store.delete_rule(conn, row, args.if_match)
        ctx.record(conn, "rule", f"{gateway.name}/{row.name}", before.model_dump(mode="json"), None)


enable_rule = _toggle(True)
enable_rule.__doc__ = "Turn a rule on: it inspects traffic again from the next message on."
disable_rule = _toggle(False)
disable_rule.__doc__ = "Turn a rule off, keeping it and its place in the order."

_R = "/gateways/{gateway}/rules"
_ONE = _R + "/{rule}"
_MANAGE = Capability.BASIC_GATEWAY_MANAGEMENT
OPERATIONS = [
    Operation("rules", "list", "GET", _R, "List a gateway's rules in order", _MANAGE, list_rules, RulesOf,
              Page[RuleView], columns=("position", "name", "hook", "enabled", "version")),
    Operation("rules", "get", "GET", _ONE, "Get a rule", _MANAGE, get_rule, RuleRef, RuleView),
    Operation("rules", "create", "POST", _R, "Add a rule to a gateway", _MANAGE, create_rule, RuleCreate,
              RuleView, status=201),
    Operation("rules", "update", "PATCH", _ONE, "Change a rule", _MANAGE, update_rule, RuleUpdate, RuleView),
    Operation("rules", "move", "POST", _ONE + "/move", "Move a rule in the order", _MANAGE, move_rule,
              RuleMove, RuleView),
    Operation("rules", "enable", "POST", _ONE + "/enable", "Enable a rule", _MANAGE, enable_rule, RuleChange,
              RuleView),
    Operation("rules", "disable", "POST", _ONE + "/disable", "Disable a rule", _MANAGE, disable_rule,
              RuleChange, RuleView),
    Operation("rules", "delete", "DELETE", _ONE, "Delete a rule", _MANAGE, delete_rule, RuleChange, None,
              status=204),
]  # fmt: skip
