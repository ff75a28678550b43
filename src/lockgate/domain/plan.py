"""What applying a declaration would change: a pure diff of two declarations.

``resolve_plan(current, desired, prune)`` compares by kind and name, field by field, and returns
the changes in the order they can be applied: creations and updates with what others refer to
first (roles, teams, users, servers, hosts, rule engines, then gateways), deletions (``prune``)
last and in reverse; users are never deleted. A creation names no fields but an assignment's
provisioning that is not fail-closed, so a new gateway's open assignment is a provisioning change
too. Values of server ``env`` and ``headers``, the OAuth client secret, and a rule engine's secret
and header values are never shown, only which of them change. An assignment's provisioning changes
are named per assignment (``servers.<assignment>.provisioning``, ``.approvals``,
``.metadata_filter``); a gateway's rules are one field, ``rules``, in their order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from lockgate.domain.capabilities import BuiltinRole
from lockgate.domain.declaration import AssignmentSpec, Declaration, DeclaredEngine, GatewaySpec
from lockgate.domain.declared_provisioning import MetadataFilterSpec
from lockgate.domain.provisioning import Mode
from lockgate.domain.rules import carried_secrets

KINDS = ("role", "team", "user", "server", "host", "rule_engine", "gateway")
SECRET_FIELDS = ("env", "headers")
"""Server fields whose values (a mapping's values) are secrets."""
SERVER_SECRET_VALUES = ("oauth_client_secret",)
SECRET_VALUES = (*SERVER_SECRET_VALUES, "secret")
"""Fields that are one secret value (a server's OAuth client secret, a rule engine's secret); None
in a declaration keeps the stored one."""
HIDDEN = "(secret)"
GOVERNED = {"provisioning", "approvals", "metadata_filter"}
"""An assignment's provisioning fields, which None keeps as stored."""
FAIL_CLOSED = {"provisioning": Mode.ALLOW_SELECTED, "approvals": [], "metadata_filter": MetadataFilterSpec()}
"""The provisioning fields of an assignment a declaration creates without them."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's old and new value (``(secret)`` for env and header values)."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class PlannedChange:
    action: Literal["create", "update", "delete"]
    kind: str
    name: str
    fields: tuple[FieldChange, ...] = ()

    def __str__(self) -> str:
        mark = {"create": "+", "update": "~", "delete": "-"}[self.action]
        tail = f" ({', '.join(f.field for f in self.fields)})" if self.action == "update" else ""
        return f"{mark} {self.kind} {self.name}{tail}"


class MissingSecretError(ValueError):
    """A declared env or header value is None (keep the stored one) but nothing is stored."""


class MovedSecretError(MissingSecretError):
    """A declared rule engine goes to another destination than the stored one but leaves secret or
    header values to be kept: they were given for the old destination only. ``field`` is the first
    (``rule_engines.<i>.secret`` or ``rule_engines.<i>.headers.<key>``); the message names all."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownTeamError(ValueError):
    """An approval is limited to a team that neither the store nor the declaration holds."""


def items_by_kind(declaration: Declaration) -> dict[str, dict[str, BaseModel]]:
    """The declaration's items, by kind then name."""
    lists: dict[str, list[Any]] = {
        "role": declaration.roles,
        "team": declaration.teams,
        "user": declaration.users,
        "server": declaration.servers,
        "host": declaration.hosts,
        "rule_engine": declaration.rule_engines,
        "gateway": declaration.gateways,
    }
    return {kind: {item.name: item for item in lists[kind]} for kind in KINDS}


def resolve_secrets(current: Declaration, desired: Declaration) -> Declaration:
    """``desired`` with every None env or header value replaced by the value ``current`` holds, and
    a None ``oauth_client_secret`` by the stored one while ``oauth_client_id`` is declared. A server
    declared at another destination than the stored one (``ServerSpec.destination``) keeps nothing:
    its stored secrets were given for the old destination only.

    Raises:
        MissingSecretError: naming ``servers.<i>.<env|headers>.<key>`` when nothing is stored for
            the server at its declared destination.
    """
    declared = {s.name: s.destination() for s in desired.servers}
    stored = {s.name: s for s in current.servers if declared.get(s.name) == s.destination()}
    servers = []
    for index, server in enumerate(desired.servers):
        values: dict[str, dict[str, str | None]] = {}
        for field in SECRET_FIELDS:
            kept = getattr(stored.get(server.name), field, {}) or {}
            resolved: dict[str, str | None] = {}
            for key, value in getattr(server, field).items():
                if value is None:
                    value = kept.get(key)
                    if value is None:
                        raise MissingSecretError(
                            f"servers.{index}.{field}.{key}: no value is stored for server "
                            f"{server.name!r} at its declared destination; give it in the file or "
                            "from the environment"
                        )
                resolved[key] = value
            values[field] = resolved
        kept_values: dict[str, str | None] = {}
        if server.oauth_client_id is not None:
            for field in SERVER_SECRET_VALUES:
                if getattr(server, field) is None:
                    kept_values[field] = getattr(stored.get(server.name), field, None)
        servers.append(server.model_copy(update=values | kept_values))
    return desired.model_copy(update={"servers": servers, "rule_engines": _engine_secrets(current, desired)})


def _engine_secrets(current: Declaration, desired: Declaration) -> list[DeclaredEngine]:
    """The declared engines with a None secret or header value replaced by the stored one.

    Raises:
        MovedSecretError: an engine declared at another destination keeps a stored value
            (``carried_secrets``).
        MissingSecretError: naming ``rule_engines.<i>.headers.<key>`` when nothing is stored.
    """
    stored = {e.name: e for e in current.rule_engines}
    engines = []
    for index, engine in enumerate(desired.rule_engines):
        kept = stored.get(engine.name)
        given = {f"headers.{k}" for k, v in engine.headers.items() if v is not None}
        if engine.secret is not None:
            given.add("secret")
        carried = carried_secrets(kept.to_engine(), engine.to_engine(), given) if kept else []
        if carried:
            fields = [f"rule_engines.{index}.{name}" for name in carried]
            raise MovedSecretError(
                f"rule engine {engine.name!r} is declared at another destination, so its stored "
                f"secrets do not follow: give {', '.join(fields)} in the file or from the environment",
                fields[0],
            )
        headers: dict[str, str | None] = {}
        for key, value in engine.headers.items():
            if value is None:
                value = (kept.headers if kept else {}).get(key)
                if value is None:
                    raise MissingSecretError(
                        f"rule_engines.{index}.headers.{key}: no value is stored for rule engine "
                        f"{engine.name!r}; give it in the file or from the environment"
                    )
            headers[key] = value
        secret = engine.secret if engine.secret is not None else (kept.secret if kept else None)
        engines.append(engine.model_copy(update={"headers": headers, "secret": secret}))
    return engines


def resolve_desired(current: Declaration, desired: Declaration) -> Declaration:
    """``desired`` as it is planned and applied: its secrets resolved (``resolve_secrets``) and
    every assignment's provisioning given (``resolve_provisioning``).

    Raises:
        MissingSecretError, UnknownTeamError.
    """
    return resolve_rules(current, resolve_provisioning(current, resolve_secrets(current, desired)))


def resolve_rules(current: Declaration, desired: Declaration) -> Declaration:
    """``desired`` with every gateway's ``rules`` given: the stored ones where it leaves them None
    (none for a new gateway)."""
    stored = {g.name: g.rules for g in current.gateways}
    gateways = [
        g if g.rules is not None else g.model_copy(update={"rules": stored.get(g.name) or []})
        for g in desired.gateways
    ]
    return desired.model_copy(update={"gateways": gateways})


def resolve_provisioning(current: Declaration, desired: Declaration) -> Declaration:
    """``desired`` with every assignment's ``provisioning``, ``approvals`` and ``metadata_filter``
    given: what the stored assignment of the same name and server has where the declaration leaves
    it None, and for a new assignment fail-closed (``allow_selected`` for every kind, nothing
    approved, nothing filtered), as ``gateways assign`` makes one.

    Raises:
        UnknownTeamError: naming ``gateways.<i>.servers.<j>.approvals.<k>.teams`` when an approval
            names a team that neither ``current`` nor ``desired`` holds.
    """
    stored = {(g.name, a.assignment_name): a for g in current.gateways for a in g.servers}
    known_teams = {t.name for t in current.teams} | {t.name for t in desired.teams}
    gateways = []
    for g_index, gateway in enumerate(desired.gateways):
        assignments = []
        for a_index, assignment in enumerate(gateway.servers):
            before = stored.get((gateway.name, assignment.assignment_name))
            same = before is not None and before.server == assignment.server
            kept = {f: getattr(before, f) for f in GOVERNED} if same else FAIL_CLOSED
            updates = {f: kept[f] for f in GOVERNED if getattr(assignment, f) is None}
            assignment = assignment.model_copy(update=updates)
            for index, approval in enumerate(assignment.approvals or ()):
                for team in approval.teams:
                    if team not in known_teams:
                        raise UnknownTeamError(
                            f"gateways.{g_index}.servers.{a_index}.approvals.{index}.teams: no team "
                            f"named {team!r}"
                        )
            assignments.append(assignment)
        gateways.append(gateway.model_copy(update={"servers": assignments}))
    return desired.model_copy(update={"gateways": gateways})


def resolve_plan(current: Declaration, desired: Declaration, prune: bool) -> list[PlannedChange]:
    """The changes that make ``current`` into ``desired`` (whose secrets are resolved).

    Without ``prune`` nothing ``desired`` does not name is deleted; built-in roles and users never
    are.
    """
    now, wanted = items_by_kind(current), items_by_kind(desired)
    changes: list[PlannedChange] = []
    for kind in KINDS:
        for name, item in wanted[kind].items():
            if name not in now[kind]:
                governed = tuple(f for f in _diff({}, _compared(item)) if _is_governed(f.field))
                changes.append(PlannedChange("create", kind, name, governed))
                continue
            fields = _diff(_compared_before(now[kind][name], item), _compared(item))
            if fields:
                changes.append(PlannedChange("update", kind, name, fields))
    if prune:
        builtin = {r.value for r in BuiltinRole}
        for kind in reversed(KINDS):
            if kind == "user":
                continue
            changes += [
                PlannedChange("delete", kind, name)
                for name in now[kind]
                if name not in wanted[kind] and not (kind == "role" and name in builtin)
            ]
    return changes


def _compared(item: BaseModel) -> dict[str, Any]:
    """The item's fields as a plan compares and shows them: the items of a list of models (a
    gateway's assignments) without their default fields, so a plan names only what is set. A
    gateway's assignments are compared without their provisioning, which is compared per
    assignment instead, as ``servers.<assignment>.<provisioning|approvals|metadata_filter>``
    (approvals shown with their definitions' digests)."""
    values = item.model_dump(mode="json")
    for field, value in item:
        if isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            values[field] = [
                v.model_dump(mode="json", exclude_defaults=True, exclude=GOVERNED) for v in value
            ]
    if isinstance(item, GatewaySpec):
        for assignment in item.servers:
            values.update(_governed(assignment))
    return values


def _compared_before(stored: BaseModel, wanted: BaseModel) -> dict[str, Any]:
    """``_compared(stored)`` without the provisioning of each assignment ``wanted`` gives another
    server: that assignment starts fail-closed (``resolve_provisioning``), so its provisioning is
    compared with the fail-closed default, not with what the old server was given."""
    values = _compared(stored)
    if isinstance(stored, GatewaySpec) and isinstance(wanted, GatewaySpec):
        servers = {a.assignment_name: a.server for a in wanted.servers}
        for assignment in stored.servers:
            if servers.get(assignment.assignment_name, assignment.server) != assignment.server:
                for field in _governed(assignment):
                    values.pop(field)
    return values


def _is_governed(field: str) -> bool:
    """Whether ``field`` is an assignment's provisioning field (``servers.<assignment>.<field>``)."""
    head, _, rest = field.partition(".")
    _, dot, last = rest.rpartition(".")
    return head == "servers" and bool(dot) and last in GOVERNED


def _governed(assignment: AssignmentSpec) -> dict[str, Any]:
    """An assignment's provisioning as a plan compares it, by field name."""
    shown = assignment.model_dump(mode="json", include=GOVERNED)
    if assignment.approvals is not None:
        shown["approvals"] = [a.summary() for a in assignment.approvals]
    if assignment.metadata_filter is not None:
        shown["metadata_filter"] = assignment.metadata_filter.model_dump(mode="json", exclude_defaults=True)
    return {f"servers.{assignment.assignment_name}.{field}": value for field, value in shown.items()}


def _unset(field: str) -> Any:
    """What a field absent before stands for: a new assignment's provisioning is fail-closed, so
    declaring it fail-closed changes nothing (and needs no provisioning capability, as by hand)."""
    return _FAIL_CLOSED_SHOWN.get(field.rpartition(".")[2]) if _is_governed(field) else None


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    changes = []
    for field in after:
        old, new = before.get(field, _unset(field)), after[field]
        if field in SECRET_FIELDS:
            for key in sorted(set(old or {}) | set(new or {})):
                if (old or {}).get(key) != (new or {}).get(key):
                    changes.append(FieldChange(f"{field}.{key}", _hidden(old, key), _hidden(new, key)))
        elif field in SECRET_VALUES:
            if old != new:
                changes.append(FieldChange(field, HIDDEN if old else None, HIDDEN if new else None))
        elif old != new:
            changes.append(FieldChange(field, old, new))
    return tuple(changes)


_FAIL_CLOSED_SHOWN = {
    field.rpartition(".")[2]: value
    for field, value in _governed(AssignmentSpec(server="fail-closed", **FAIL_CLOSED)).items()
}


def _hidden(values: Mapping[str, Any] | None, key: str) -> str | None:
    return HIDDEN if key in (values or {}) else None
