"""Every route × every kind of user: allowed or refused exactly as the capability table says, and
what lies outside their scope answered as if it did not exist.

The actors are the three built-in roles, a custom role inside the gateway's team, and an "outsider":
a custom role holding every capability except the two "view all" overrides, in no team. For each
operation the expectation is computed from what the route declares (``requires``) and the scope
its sample touches, never written by hand, so a route whose declaration and behaviour disagree
fails here.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from lockgate.api.operation import Context, Operation
from lockgate.api.table import OPERATIONS
from lockgate.domain.capabilities import BUILTIN_GRANTS, BuiltinRole, Capability
from lockgate.domain.declaration import Declaration
from lockgate.domain.features import FeatureKind
from lockgate.domain.model import Availability, IdentityKind
from lockgate.domain.provisioning import Approval, Decision
from lockgate.domain.rules import RuleEngine, Verdict, VerdictKind
from lockgate.policy.access_control import EVERYONE
from lockgate.policy.provisioning import definition_digest
from lockgate.settings import Settings
from lockgate.store.approvals import save_decisions
from lockgate.store.declarative import apply_declaration
from lockgate.store.identities import create_identity
from lockgate.store.people import bootstrap_super_admin, create_personal_access_token, ensure_user
from lockgate.store.schema import (
    api_tokens,
    gateway_servers,
    gateways,
    hosts,
    servers,
    team_members,
    teams,
    users,
)
from lockgate.store.tokens import create_token
from lockgate.store.webhooks import save_webhook
from tests.conftest import TEST_MASTER_KEY, TEST_VAULT, Api, People, RunningGateway, empty_store, in_process

SERVER = {
    "transport": "stdio",
    "command": sys.executable,
    "args": ["-m", "tests.fixtures.sdk_server", "--stdio"],
    "identity_env": ["API_KEY"],
}
OVERRIDES = {Capability.VIEW_AND_USE_ALL_GATEWAYS, Capability.VIEW_ALL_SERVERS}
SEED = Declaration.model_validate(
    {
        "servers": [{"name": "s", **SERVER}, {"name": "s2", "transport": "stdio", "command": "true"}],
        "teams": [{"name": "eng"}, {"name": "t2"}],
        "roles": [
            {"name": "Auditor", "capabilities": ["viewAndExportLogs", "viewAllServers"]},
            {"name": "Operator", "capabilities": sorted(c.value for c in set(Capability) - OVERRIDES)},
            {"name": "Empty", "capabilities": []},
        ],
        "hosts": [{"name": "h"}],
        "rule_engines": [{"name": "e", "url": "https://engine.example.com/check"}],
        "gateways": [
            {
                "name": "g",
                "servers": [{"server": "s", "provisioning": "allow_all"}],
                "teams": ["eng"],
                "rules": [
                    {"name": "r", "detection": {"method": "regex", "presets": ["email"]}, "action": "block"}
                ],
            }
        ],
    }
)
ACTORS = {  # email: (role, teams)
    "super@example.com": ("Super admin", ()),
    "administrator@example.com": ("Administrator", ()),
    "member@example.com": ("Member", ("eng",)),
    "auditor@example.com": ("Auditor", ("eng",)),
    "outsider@example.com": ("Operator", ()),
}
TARGET = "target@example.com"  # a user the people operations act on
ASSIGNMENT = {"gateway": "g", "assignment": "s"}


@dataclass
class World:
    lockgate: RunningGateway
    apis: dict[str, Api] = field(default_factory=dict)
    names: Iterator[int] = field(default_factory=itertools.count)

    def unique(self, stem: str) -> str:
        return f"{stem}-{next(self.names)}"

    def reseed(self) -> None:
        """Put back what the previous call changed: the declared objects and the memberships."""
        engine = self.lockgate.engine
        apply_declaration(engine, TEST_VAULT, SEED)
        with engine.begin() as conn:
            memberships = [(email, team) for email, (_, ts) in ACTORS.items() for team in ts] + [
                (TARGET, "t2")
            ]
            for email, team in memberships:
                user_id = ensure_user(conn, email)
                team_id = conn.execute(select(teams.c.id).where(teams.c.name == team)).scalar_one()
                known = select(team_members).where(
                    (team_members.c.team_id == team_id) & (team_members.c.user_id == user_id)
                )
                if conn.execute(known).first() is None:
                    conn.execute(insert(team_members).values(team_id=team_id, user_id=user_id))
            conn.execute(users.update().where(users.c.email == TARGET).values(active=True))

    def identity(self, email: str) -> str:
        """A new private identity of ``email`` for server s: theirs to manage."""
        name = self.unique("identity")
        with self.lockgate.engine.begin() as conn:
            create_identity(
                conn,
                TEST_VAULT,
                name=name,
                server_id=conn.execute(select(servers.c.id).where(servers.c.name == "s")).scalar_one(),
                owner_id=ensure_user(conn, email),
                kind=IdentityKind.HEADERS,
                availability=Availability.PRIVATE,
                headers={"API_KEY": "k"},
            )
        return name

    def token(self) -> str:
        return create_token(
            self.lockgate.engine, self.lockgate.settings.key_bytes(), "h", "g", None, minted_by=None
        )[0]

    def connection(self) -> int:
        public_id = self.token()
        with self.lockgate.engine.connect() as conn:
            query = select(api_tokens.c.connection_id).where(api_tokens.c.public_id == public_id)
            return int(conn.execute(query).scalar_one())

    def pat(self, email: str) -> str:
        with self.lockgate.engine.begin() as conn:
            user_id = conn.execute(select(users.c.id).where(users.c.email == email)).scalar_one()
            row, _ = create_personal_access_token(
                conn, self.lockgate.settings.key_bytes(), user_id, "x", None
            )
        return str(row["public_id"])

    def webhook(self) -> dict[str, Any]:
        """Host h with a webhook (so its signing secret can be rotated): the sample's inputs."""
        with self.lockgate.engine.begin() as conn:
            row = conn.execute(select(hosts).where(hosts.c.name == "h")).one()
            save_webhook(conn, TEST_VAULT, row, "https://agent.example/hook", None)
        return {"host": "h"}

    def approval(self) -> dict[str, Any]:
        """An approval of tool ``echo`` on g's assignment s: the sample's inputs to revoke it."""
        definition = {"name": "echo"}
        with self.lockgate.engine.begin() as conn:
            assignment = conn.execute(
                select(gateway_servers.c.id)
                .join(gateways, gateways.c.id == gateway_servers.c.gateway_id)
                .where((gateways.c.name == "g") & (gateway_servers.c.name == "s"))
            ).scalar_one()
            approval = Approval(
                FeatureKind.TOOL, "echo", Decision.APPROVED, definition, definition_digest(definition)
            )
            save_decisions(conn, assignment, [approval], "seed@example.com")
        return {"gateway": "g", "assignment": "s", "kind": "tools", "name": "echo"}

    def user(self) -> str:
        email = self.unique("someone") + "@example.com"
        with self.lockgate.engine.begin() as conn:
            ensure_user(conn, email)
        return email


Inputs = Callable[[World, str], dict[str, Any]]


@dataclass(frozen=True)
class Sample:
    """Inputs that make the operation succeed for an allowed actor, and the scope they touch:
    ``gateway`` (g), ``server`` (s, on g), ``team`` (eng) or None."""

    inputs: Inputs
    scope: str | None = None


def _fixed(values: dict[str, Any], scope: str | None = None) -> Sample:
    return Sample(lambda _w, _e: dict(values), scope)


SAMPLES: dict[str, Sample] = {
    "servers_list": _fixed({}),
    "servers_get": _fixed({"server": "s"}, "server"),
    "servers_create": Sample(
        lambda w, _e: {"name": w.unique("new"), "transport": "stdio", "command": "true"}
    ),
    "servers_update": _fixed({"server": "s", "enabled": True}, "server"),
    "servers_delete": _fixed({"server": "s"}, "server"),
    "servers_disable": _fixed({"server": "s"}, "server"),
    "servers_enable": _fixed({"server": "s"}, "server"),
    "servers_features": _fixed({"server": "s"}, "server"),
    "gateways_list": _fixed({}),
    "gateways_get": _fixed({"gateway": "g"}, "gateway"),
    "gateways_create": Sample(lambda w, _e: {"name": w.unique("new")}),
    "gateways_update": Sample(lambda w, _e: {"gateway": "g", "name": w.unique("renamed")}, "gateway"),
    "gateways_delete": _fixed({"gateway": "g"}, "gateway"),
    "gateways_disable": _fixed({"gateway": "g"}, "gateway"),
    "gateways_enable": _fixed({"gateway": "g"}, "gateway"),
    "gateways_archive": _fixed({"gateway": "g"}, "gateway"),
    "gateways_restore": _fixed({"gateway": "g"}, "gateway"),
    "gateways_assign": _fixed({"gateway": "g", "server": "s2"}, "gateway"),
    "gateways_unassign": _fixed({"gateway": "g", "assignment": "s"}, "gateway"),
    "gateways_set_identity_scheme": _fixed(
        {"gateway": "g", "assignment": "s", "scheme": "per_user"}, "gateway"
    ),
    "gateways_grant": _fixed({"gateway": "g", "team": "t2"}, "gateway"),
    "gateways_revoke": _fixed({"gateway": "g", "team": "eng"}, "gateway"),
    "provisioning_get": _fixed(ASSIGNMENT, "gateway"),
    "provisioning_set": _fixed({**ASSIGNMENT, "modes": {"tools": "allow_all"}}, "gateway"),
    "provisioning_filter": _fixed({**ASSIGNMENT, "drop": ["icons"], "max_description": 80}, "gateway"),
    "provisioning_revoke": Sample(lambda w, _e: w.approval(), "gateway"),
    "provisioning_reviews": _fixed(ASSIGNMENT, "gateway"),
    "provisioning_approve": _fixed(
        {**ASSIGNMENT, "kind": "tools", "name": "echo", "pins": ["description"]}, "gateway"
    ),
    "provisioning_reject": _fixed({**ASSIGNMENT, "kind": "prompts", "name": "greet"}, "gateway"),
    "provisioning_approve_current": _fixed({**ASSIGNMENT, "kinds": ["prompts", "resources"]}, "gateway"),
    "rules_list": _fixed({"gateway": "g"}, "gateway"),
    "rules_get": _fixed({"gateway": "g", "rule": "r"}, "gateway"),
    "rules_create": Sample(
        lambda w, _e: {"gateway": "g", "name": w.unique("rule"), "presets": ["email"], "action": "redact"},
        "gateway",
    ),
    "rules_update": _fixed({"gateway": "g", "rule": "r", "alerts": True}, "gateway"),
    "rules_move": _fixed({"gateway": "g", "rule": "r", "position": 0}, "gateway"),
    "rules_enable": _fixed({"gateway": "g", "rule": "r"}, "gateway"),
    "rules_disable": _fixed({"gateway": "g", "rule": "r"}, "gateway"),
    "rules_delete": _fixed({"gateway": "g", "rule": "r"}, "gateway"),
    "engines_list": _fixed({}),
    "engines_get": _fixed({"engine": "e"}),
    "engines_create": Sample(
        lambda w, _e: {"name": w.unique("engine"), "url": "https://engine.example.com/"}
    ),
    "engines_update": _fixed({"engine": "e", "retries": 1}),
    "engines_delete": _fixed({"engine": "e"}),
    "engines_test": _fixed({"engine": "e"}),
    "identities_list": _fixed({}),
    "identities_get": Sample(lambda w, email: {"identity": w.identity(email)}),
    "identities_create": Sample(
        lambda w, _e: {"server": "s", "name": w.unique("new"), "headers": {"API_KEY": "k"}}, "server"
    ),
    "identities_update": Sample(
        lambda w, email: {"identity": w.identity(email), "headers": {"API_KEY": "k2"}}
    ),
    "identities_delete": Sample(lambda w, email: {"identity": w.identity(email)}),
    "identities_disable": Sample(lambda w, email: {"identity": w.identity(email)}),
    "identities_enable": Sample(lambda w, email: {"identity": w.identity(email)}),
    "hosts_list": _fixed({}),
    "hosts_get": _fixed({"host": "h"}),
    "hosts_create": Sample(lambda w, _e: {"name": w.unique("new")}),
    "hosts_update": Sample(lambda w, _e: {"host": "h", "name": w.unique("renamed")}),
    "hosts_delete": _fixed({"host": "h"}),
    "hosts_disable": _fixed({"host": "h"}),
    "hosts_enable": _fixed({"host": "h"}),
    "hosts_rotate_webhook_secret": Sample(lambda w, _e: w.webhook()),
    "hosts_deliveries": _fixed({"host": "h"}),
    "connections_list": _fixed({}),
    "connections_get": Sample(lambda w, _e: {"connection": w.connection()}, "gateway"),
    "connections_disable": Sample(lambda w, _e: {"connection": w.connection()}, "gateway"),
    "connections_enable": Sample(lambda w, _e: {"connection": w.connection()}, "gateway"),
    "tokens_list": _fixed({}),
    "tokens_create": _fixed({"host": "h", "gateway": "g"}, "gateway"),
    "tokens_revoke": Sample(lambda w, _e: {"token": w.token()}, "gateway"),
    "declaration_export": _fixed({}),
    "declaration_plan": _fixed({"declaration": {}}),
    "declaration_apply": _fixed({"declaration": {}}),
    "users_list": _fixed({}),
    "users_get": _fixed({"email": TARGET}),
    "users_create": Sample(lambda w, _e: {"email": w.unique("invited") + "@example.com"}),
    "users_update": _fixed({"email": TARGET, "active": True}),
    "users_create_token": _fixed({"email": TARGET, "name": "handed-over"}),
    "roles_list": _fixed({}),
    "roles_get": _fixed({"role": "Empty"}),
    "roles_create": Sample(lambda w, _e: {"name": w.unique("role"), "capabilities": []}),
    "roles_update": _fixed({"role": "Empty", "capabilities": []}),
    "roles_delete": _fixed({"role": "Empty"}),
    "capabilities_list": _fixed({}),
    "teams_list": _fixed({}),
    "teams_get": _fixed({"team": "eng"}, "team"),
    "teams_create": Sample(lambda w, _e: {"name": w.unique("team")}),
    "teams_update": _fixed({"team": "t2", "name": "t2"}),
    "teams_delete": _fixed({"team": "t2"}),
    "teams_add_member": Sample(lambda w, _e: {"team": "t2", "email": w.user()}),
    "teams_remove_member": _fixed({"team": "t2", "email": TARGET}),
    "me_get": _fixed({}),
    "pats_list": _fixed({}),
    "pats_create": _fixed({"name": "laptop"}),
    "pats_revoke": Sample(lambda w, email: {"pat": w.pat(email)}),
    "events_list": _fixed({}),
    "logs_list": _fixed({}),
}


HIDDEN = "hidden"
"""The refusal of a resource outside the actor's scope: the 404 of one that does not exist."""


def _in_scope(scope: str | None, capabilities: set[Capability], teams_: tuple[str, ...]) -> bool:
    """Whether the actor sees what the sample touches."""
    in_eng = "eng" in teams_
    if scope == "gateway":
        return in_eng or Capability.VIEW_AND_USE_ALL_GATEWAYS in capabilities
    if scope == "server":
        return in_eng or bool(
            capabilities & {Capability.VIEW_ALL_SERVERS, Capability.VIEW_AND_USE_ALL_GATEWAYS}
        )
    if scope == "team":
        return in_eng or Capability.MANAGE_PEOPLE in capabilities
    return True


def expected_refusal(operation: Operation, email: str) -> Capability | str | None:
    """The capability a 403 names, ``HIDDEN`` for a 404, or None when the actor is allowed."""
    role, teams_ = ACTORS[email]
    capabilities = {c for c in Capability if c.value in _role_grants(role)}
    if operation.requires != EVERYONE and operation.requires not in capabilities:
        return Capability(operation.requires)
    return None if _in_scope(SAMPLES[operation.id].scope, capabilities, teams_) else HIDDEN


def _role_grants(role: str) -> set[str]:
    if role == "Super admin":
        return {c.value for c in Capability}
    if role in ("Administrator", "Member"):
        return {c.value for c in BUILTIN_GRANTS[BuiltinRole(role)]}
    return {c.value for spec in SEED.roles if spec.name == role for c in spec.capabilities}


def call(api: Api, operation: Operation, inputs: dict[str, Any]) -> Any:
    path = operation.path.format(**{p: inputs.pop(p) for p in operation.path_params})
    if operation.method in ("GET", "DELETE"):
        return api.request(operation.method, path, params=inputs)
    return api.request(operation.method, path, json=inputs)


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data_dir: Path = tmp_path_factory.mktemp("access")
    if os.environ.get("LOCKGATE_TEST_DATABASE", "sqlite") == "postgresql":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{data_dir / 'lockgate.db'}"
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        secret_key="test-secret-key",  # type: ignore[arg-type]
        master_key=TEST_MASTER_KEY,  # type: ignore[arg-type]
        upstream_timeout=10,
    )
    engine = empty_store(settings)
    with in_process(settings, engine) as running:
        api = running.app.api
        made = api.make_context
        api.make_context = lambda *args: _with_engines(made(*args))  # engines_test reaches a fake
        world = World(running)
        world.reseed()
        bootstrap_super_admin(engine, settings.key_bytes(), "bootstrap@example.com")
        people = People(running)
        for email, (role, _teams) in ACTORS.items():
            world.apis[email] = people.user(email, role)
        with engine.begin() as conn:
            ensure_user(conn, TARGET)
        world.reseed()
        yield world
    engine.dispose()


@dataclass(frozen=True)
class EngineAnswer:
    verdict: Verdict | None = field(default_factory=lambda: Verdict(VerdictKind.PASS))
    failure: str | None = None
    duration_ms: float = 1.0


class PassingEngines:
    """Every engine passes the Test."""

    async def test(self, _engine: RuleEngine) -> EngineAnswer:
        return EngineAnswer()


def _with_engines(ctx: Context) -> Context:
    ctx.engines = PassingEngines()
    return ctx


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.id for op in OPERATIONS])
def test_each_actor_is_allowed_or_refused_as_the_capability_table_says(
    world: World, operation: Operation
) -> None:
    mismatches = []
    world.reseed()
    for email, api in world.apis.items():
        refusal = expected_refusal(operation, email)
        answer = call(api, operation, SAMPLES[operation.id].inputs(world, email))
        if refusal is None and answer.status_code != operation.status:
            mismatches.append(f"{email}: expected {operation.status}, got {answer.status_code} {answer.text}")
        elif refusal == HIDDEN and answer.status_code != 404:
            mismatches.append(
                f"{email}: expected 404 as for nothing there, got {answer.status_code} {answer.text}"
            )
        elif isinstance(refusal, Capability) and (
            answer.status_code != 403 or answer.json()["error"]["capability"] != refusal.value
        ):
            mismatches.append(
                f"{email}: expected 403 naming {refusal.value}, got {answer.status_code} {answer.text}"
            )
        if operation.method != "GET":
            world.reseed()
    assert not mismatches, "\n".join(mismatches)


def test_every_operation_declares_a_capability_and_a_sample() -> None:
    for operation in OPERATIONS:
        assert operation.requires == EVERYONE or isinstance(operation.requires, Capability), operation.id
    assert set(SAMPLES) == {op.id for op in OPERATIONS}, "give every new operation a sample above"


def test_operation_ids_are_unique() -> None:
    ids = [op.id for op in OPERATIONS]
    assert len(ids) == len(set(ids))
