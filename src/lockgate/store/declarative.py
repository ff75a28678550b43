"""The store as a declaration, and applying a plan to it (``lockgate export|plan|apply``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, delete, insert, select, update

from lockgate.domain.capabilities import BuiltinRole
from lockgate.domain.declaration import (
    Declaration,
    DeclaredEngine,
    DeclaredServer,
    GatewaySpec,
    HostSpec,
    RoleSpec,
    ServerSpec,
    TeamSpec,
    UserSpec,
)
from lockgate.domain.model import IdentityScheme
from lockgate.domain.plan import PlannedChange, items_by_kind, resolve_desired, resolve_plan
from lockgate.domain.rule_specs import RuleSpec
from lockgate.domain.rules import RuleEngine
from lockgate.store.declared_provisioning import load_declared_provisioning, save_declared_provisioning
from lockgate.store.errors import ConflictError
from lockgate.store.gateway_rules import engine_users, fetch_rule_rows, replace_rules, require_unused_to_move
from lockgate.store.gateways import describe_gateway, resolve_shared_identity
from lockgate.store.hosts import new_link_id
from lockgate.store.identities import delete_server_credentials
from lockgate.store.people import list_user_teams, role_id
from lockgate.store.records import delete_row, fetch_named, insert_row, update_row
from lockgate.store.rows import insert_returning_id
from lockgate.store.rules import load_engine, load_rule, save_engine
from lockgate.store.schema import (
    gateway_servers,
    gateways,
    hosts,
    roles,
    rule_engines,
    servers,
    team_gateways,
    team_members,
    teams,
    users,
)
from lockgate.store.servers import load_config, server_values
from lockgate.store.teams import delete_team
from lockgate.store.webhooks import save_webhook
from lockgate.vault import Vault

OnChange = Callable[[PlannedChange, BaseModel | None, BaseModel | None], None]
OnDeletedIdentities = Callable[[list[dict[str, Any]]], None]
_TABLES = {"role": roles, "team": teams, "server": servers, "host": hosts, "gateway": gateways}


def load_declaration(conn: Connection, vault: Vault) -> Declaration:
    """Everything the store holds that a declaration can name, ordered by name (so exports are
    stable), secrets included: callers that show it must hide them."""
    return Declaration(
        roles=[
            RoleSpec(name=r.name, capabilities=sorted(r.capabilities))
            for r in conn.execute(
                select(roles).where(roles.c.name != BuiltinRole.SUPER_ADMIN.value).order_by("name")
            )
        ],
        teams=[TeamSpec(name=t.name) for t in conn.execute(select(teams.c.name).order_by("name"))],
        servers=[_server(r, vault) for r in conn.execute(select(servers).order_by("name"))],
        hosts=[
            HostSpec(name=h.name, kind=h.kind, enabled=h.enabled, webhook_url=h.webhook_url)
            for h in conn.execute(select(hosts).order_by("name"))
        ],
        rule_engines=[
            _engine(load_engine(r, vault)) for r in conn.execute(select(rule_engines).order_by("name"))
        ],
        gateways=[_gateway(conn, g) for g in conn.execute(select(gateways).order_by("name"))],
        users=[
            UserSpec(email=u.email, role=u.role, teams=list_user_teams(conn, u.id))
            for u in conn.execute(
                select(users.c.id, users.c.email, roles.c.name.label("role"))
                .join(roles, roles.c.id == users.c.role_id)
                .order_by(users.c.email)
            )
        ],
    )


def _server(row: Any, vault: Vault) -> DeclaredServer:
    config = load_config(row, vault)
    return DeclaredServer(name=row.name, transport=row.transport, enabled=row.enabled, **config)


def _engine(engine: RuleEngine) -> DeclaredEngine:
    return DeclaredEngine(
        name=engine.name,
        kind=engine.kind,
        url=engine.url,
        settings=dict(engine.settings),
        headers=dict(engine.headers),
        secret=engine.secret,
        timeout_s=engine.timeout_s,
        retries=engine.retries,
    )


def _gateway(conn: Connection, row: Any) -> GatewaySpec:
    described = describe_gateway(conn, row)
    governed = load_declared_provisioning(conn, [a["id"] for a in described["servers"]])
    return GatewaySpec.model_validate(
        {
            "name": row.name,
            "enabled": row.enabled,
            "archived": row.archived,
            "servers": [_assignment(a) | governed[a["id"]] for a in described["servers"]],
            "teams": described["teams"],
            "rules": [RuleSpec.of(load_rule(r)) for r in fetch_rule_rows(conn, row.id)],
        }
    )


def apply_plan(
    conn: Connection,
    vault: Vault,
    current: Declaration,
    desired: Declaration,
    plan: Iterable[PlannedChange],
    on_change: OnChange,
    actor_id: int | None,
    on_deleted_identities: OnDeletedIdentities = lambda _deleted: None,
) -> None:
    """Make each planned change in ``conn`` (the caller's transaction) and report it to
    ``on_change(change, before, after)``. ``desired`` must have its secrets resolved; ``actor_id``
    is the user applying it (None: the instance operator), recorded as who set a webhook URL and
    who decided the approvals it adds. A server moved to another destination loses its identities
    and OAuth client registrations (``delete_server_credentials``), reported to
    ``on_deleted_identities``.

    Raises:
        NotFoundError: a gateway assigns a server or grants a team that does not exist, or a user
            holds a role or joins a team that does not exist.
        ConflictError: a role to delete is still held by users.
    """
    now, wanted = items_by_kind(current), items_by_kind(desired)
    actor = "operator"
    if actor_id is not None:
        actor = conn.execute(select(users.c.email).where(users.c.id == actor_id)).scalar_one()
    for change in plan:
        if change.kind == "user":
            user = wanted["user"][change.name]
            assert isinstance(user, UserSpec)  # users are created and updated, never deleted
            _save_user(conn, change.action == "create", user)
            on_change(change, now["user"].get(change.name), user)
            continue
        if change.kind == "rule_engine":
            _save_engine(conn, vault, change, wanted["rule_engine"].get(change.name))
            on_change(change, now["rule_engine"].get(change.name), wanted["rule_engine"].get(change.name))
            continue
        table = _TABLES[change.kind]
        if change.action == "delete" and table is teams:
            delete_team(conn, fetch_named(conn, teams, change.name, "team"), None)
            on_change(change, now["team"][change.name], None)
            continue
        if change.action == "delete":
            delete_row(conn, table, fetch_named(conn, table, change.name, change.kind), change.kind, None)
            on_change(change, now[change.kind][change.name], None)
            continue
        spec = wanted[change.kind][change.name]
        values = _values(change.kind, spec, vault)
        if change.action == "create":
            if table is hosts:
                values["link_id"] = new_link_id()
            row = insert_row(conn, table, change.kind, {"name": change.name, **values})
        else:
            row = fetch_named(conn, table, change.name, change.kind)
            row = update_row(conn, table, row, change.kind, values, None)
            if isinstance(spec, ServerSpec) and _moved(now["server"][change.name], spec):
                on_deleted_identities(delete_server_credentials(conn, row.id))
        if isinstance(spec, HostSpec) and spec.webhook_url != row.webhook_url:
            save_webhook(conn, vault, row, spec.webhook_url, actor_id)  # a secret only when it had none
        if isinstance(spec, GatewaySpec) and (
            change.action == "create" or {"servers", "teams"} & {f.field.split(".")[0] for f in change.fields}
        ):
            _set_assignments(conn, row.id, spec, actor)
        if isinstance(spec, GatewaySpec) and (
            change.action == "create" or "rules" in {f.field for f in change.fields}
        ):
            replace_rules(conn, vault, row.id, [rule.to_rule() for rule in spec.rules or ()])
        on_change(change, now[change.kind].get(change.name), spec)


def _save_engine(conn: Connection, vault: Vault, change: PlannedChange, spec: BaseModel | None) -> None:
    """Create, change or delete one rule engine (its secrets resolved).

    Raises:
        ConflictError: deleting an engine rules still name, or moving it to another destination.
    """
    row = None if change.action == "create" else fetch_named(conn, rule_engines, change.name, "rule engine")
    if row is not None and change.action == "delete":
        users = engine_users(conn, change.name)
        if users:
            raise ConflictError(f"rule engine {change.name!r} is named by rules {', '.join(users)}")
        delete_row(conn, rule_engines, row, "rule engine", None)
        return
    assert isinstance(spec, DeclaredEngine)
    engine = spec.to_engine()
    if row is not None:
        require_unused_to_move(conn, load_engine(row, vault), engine)
    save_engine(conn, vault, engine, row)


def _moved(before: BaseModel, after: ServerSpec) -> bool:
    return isinstance(before, ServerSpec) and before.destination() != after.destination()


def _values(kind: str, spec: BaseModel, vault: Vault) -> dict[str, Any]:
    if isinstance(spec, RoleSpec):
        if spec.name in {r.value for r in BuiltinRole}:
            return {"capabilities": sorted(c.value for c in spec.capabilities)}
        return {"builtin": False, "capabilities": sorted(c.value for c in spec.capabilities)}
    if isinstance(spec, ServerSpec):
        return server_values(spec, vault)
    if isinstance(spec, HostSpec):
        return {"kind": spec.kind.value, "enabled": spec.enabled}
    if isinstance(spec, GatewaySpec):
        return {"enabled": spec.enabled, "archived": spec.archived}
    if isinstance(spec, TeamSpec):
        return {}
    raise TypeError(f"cannot store a {kind}")


def _save_user(conn: Connection, new: bool, spec: UserSpec) -> None:
    """Add the user (active) or update them: their role and exactly the spec's teams.

    Raises:
        NotFoundError: no such role or team. ConflictError: the email is taken (on creation).
    """
    values = {"role_id": role_id(conn, spec.role)}
    if new:
        row = insert_row(conn, users, "user", {"email": spec.email, "active": True, **values})
    else:
        row = conn.execute(select(users).where(users.c.email == spec.email)).one()
        row = update_row(conn, users, row, "user", values, None)
    conn.execute(delete(team_members).where(team_members.c.user_id == row.id))
    for team in spec.teams:
        team_id = fetch_named(conn, teams, team, "team").id
        conn.execute(insert(team_members).values(team_id=team_id, user_id=row.id))


def _assignment(described: dict[str, Any]) -> dict[str, Any]:
    spec = {key: described[key] for key in ("server", "name", "prefix", "identity_scheme")}
    # a shared assignment whose identity was deleted exports without one (and fails to apply as is)
    shared = described["identity_scheme"] == IdentityScheme.SHARED.value
    return spec | ({"identity": described["identity"]} if shared else {})


def _set_assignments(conn: Connection, gateway_id: int, spec: GatewaySpec, actor: str) -> None:
    """Make the gateway's assignments, their provisioning and its team grants exactly the spec's.
    Assignments are matched by name and updated in place, so the identities users chose for them
    survive; those the spec no longer names are deleted. ``actor`` is recorded as who decided the
    approvals added.

    Raises:
        NotFoundError: no such server, identity or team. ValueError: an identity that does not fit
            its scheme (``resolve_shared_identity``).
    """
    stored = {
        r.name: r
        for r in conn.execute(select(gateway_servers).where(gateway_servers.c.gateway_id == gateway_id))
    }
    wanted = {a.assignment_name for a in spec.servers}
    gone = [r.id for name, r in stored.items() if name not in wanted]
    if gone:
        conn.execute(delete(gateway_servers).where(gateway_servers.c.id.in_(gone)))
    # prefixes are unique per gateway only by convention (no constraint), so updating in place
    # in any order is safe
    for position, assignment in enumerate(spec.servers):
        server_id = fetch_named(conn, servers, assignment.server, "server").id
        values = {
            "server_id": server_id,
            "prefix": assignment.prefix,
            "position": position,
            "identity_scheme": assignment.identity_scheme.value,
            "identity_id": resolve_shared_identity(
                conn, server_id, assignment.identity_scheme, assignment.identity
            ),
        }
        row = stored.get(assignment.assignment_name)
        if row is not None and row.server_id != server_id:  # another server: choices do not carry over
            conn.execute(delete(gateway_servers).where(gateway_servers.c.id == row.id))
            row = None
        if row is None:
            named = {"gateway_id": gateway_id, "name": assignment.assignment_name}
            assignment_id = insert_returning_id(conn, gateway_servers, named | values)
        else:
            assignment_id = row.id
            conn.execute(update(gateway_servers).where(gateway_servers.c.id == row.id).values(**values))
        save_declared_provisioning(conn, assignment_id, assignment, actor)
    conn.execute(delete(team_gateways).where(team_gateways.c.gateway_id == gateway_id))
    for team in spec.teams:
        team_id = fetch_named(conn, teams, team, "team").id
        conn.execute(insert(team_gateways).values(team_id=team_id, gateway_id=gateway_id))


def apply_declaration(
    engine: Engine, vault: Vault, declaration: Declaration, prune: bool = False
) -> list[PlannedChange]:
    """Plan and apply ``declaration`` in one transaction, recording no admin events (the CLI's
    local bootstrap and tests; the control plane's apply records them). Returns what changed.

    Raises:
        MissingSecretError, UnknownTeamError, NotFoundError, ConflictError: see ``resolve_desired``
            and ``apply_plan``.
    """
    with engine.begin() as conn:
        current = load_declaration(conn, vault)
        desired = resolve_desired(current, declaration)
        plan = resolve_plan(current, desired, prune)
        apply_plan(conn, vault, current, desired, plan, lambda *_: None, None)
    return plan
