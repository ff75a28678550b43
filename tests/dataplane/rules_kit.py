"""Writing gateway rules and rule engines straight to the store, as any writer (API, CLI, SQL) would, and
reading back everything the store holds, for the in-process rules tests."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, select

from lockgate.domain.rules import (
    TOOLS_CALL,
    Action,
    ActionKind,
    Detection,
    EngineDetection,
    EngineKind,
    FailureMode,
    Hook,
    RegexDetection,
    Rule,
)
from lockgate.store.rules import dump_rule, hash_key
from lockgate.store.schema import admin_events, audit_entries, gateways, rule_engines, rules
from tests.conftest import TEST_VAULT

SSN = "123-45-6789"
API_KEY = "sk-live0123456789abcdefghijKLMN"
API_KEY_PATTERN = "/sk-live[A-Za-z0-9]{20,}/"
SECRETS = (SSN, API_KEY)
SSN_ONLY = RegexDetection(presets=("us_ssn",))
BOTH_SECRETS = RegexDetection(patterns=(API_KEY_PATTERN,), presets=("us_ssn",))


def gateway_id(engine: Engine, name: str = "g") -> int:
    with engine.connect() as conn:
        found: int = conn.execute(select(gateways.c.id).where(gateways.c.name == name)).scalar_one()
        return found


def add_rule(
    engine: Engine,
    name: str,
    action: ActionKind | Action | None,
    *,
    detection: Detection = SSN_ONLY,
    hook: Hook = Hook.REQUEST,
    position: int | None = None,
    methods: Iterable[str] = (TOOLS_CALL,),
    gateway: str = "g",
    **fields: Any,
) -> int:
    """Save a rule on ``gateway`` (and its hash key, as the first rule saved makes it); its id."""
    if isinstance(action, ActionKind):
        action = Action(action, visible=4) if action is ActionKind.MASK else Action(action)
    target = gateway_id(engine, gateway)
    rule = Rule(
        id=0,
        name=name,
        position=position if position is not None else _next_position(engine, target),
        detection=detection,
        action=action,
        hook=hook,
        methods=frozenset(methods),
        **fields,
    )
    now = time.time()
    with engine.begin() as conn:
        hash_key(conn, TEST_VAULT, target, create=True)
        values = dump_rule(rule) | {"gateway_id": target, "created_at": now, "updated_at": now}
        inserted: int = conn.execute(rules.insert().values(**values)).inserted_primary_key[0]
    return inserted


def add_engine(engine: Engine, name: str) -> int:
    """Save a webhook rule engine named ``name``; its id."""
    now = time.time()
    with engine.begin() as conn:
        values = {
            "name": name,
            "kind": EngineKind.WEBHOOK.value,
            "url": "https://engine.example/check",
            "settings": {},
            "header_names": [],
            "secrets": None,
            "timeout_s": 5.0,
            "retries": 0,
            "created_at": now,
            "updated_at": now,
        }
        inserted: int = conn.execute(rule_engines.insert().values(**values)).inserted_primary_key[0]
    return inserted


def engine_rule(engine: Engine, name: str, engine_name: str, failure_mode: FailureMode, **fields: Any) -> int:
    return add_rule(
        engine, name, None, detection=EngineDetection(engine_name), failure_mode=failure_mode, **fields
    )


def gateway_key(engine: Engine, gateway: str = "g") -> bytes:
    with engine.connect() as conn:
        return hash_key(conn, TEST_VAULT, gateway_id(engine, gateway))


def stored_text(engine: Engine) -> str:
    """Every column of every row of ``audit_entries`` and ``admin_events``, as one text."""
    with engine.connect() as conn:
        rows = [
            *conn.execute(select(audit_entries)).all(),
            *conn.execute(select(admin_events)).all(),
        ]
    return "\n".join(repr(tuple(row)) for row in rows)


def alert_events(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        query = select(admin_events).where(admin_events.c.operation == "rules_alert")
        return [dict(row) for row in conn.execute(query.order_by(admin_events.c.id)).mappings()]


def _next_position(engine: Engine, target: int) -> int:
    with engine.connect() as conn:
        positions = conn.execute(select(rules.c.position).where(rules.c.gateway_id == target)).scalars()
        return max(positions, default=0) + 1
