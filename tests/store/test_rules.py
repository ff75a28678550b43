"""Rules and rule engines at rest: round trips, sealed secrets, the gateway's hash key, and stored values
this release cannot read failing loudly (the data plane then fails closed). On either database."""

from __future__ import annotations

import dataclasses
import time

import pytest
from sqlalchemy import Engine, insert, select, update

from lockgate.domain.rules import (
    Action,
    ActionKind,
    EngineDetection,
    EngineKind,
    FailureMode,
    Hook,
    PresidioDetection,
    RegexDetection,
    Rule,
)
from lockgate.store.rules import (
    UnreadableRuleError,
    dump_rule,
    hash_key,
    load_gateway_rules,
    seal_engine_secrets,
)
from lockgate.store.schema import gateways, rule_engines, rule_keys, rules
from tests.conftest import TEST_VAULT

RULES = (
    Rule(
        0,
        "mask",
        2,
        RegexDetection(("/a+/i",), ("us_ssn",)),
        Action(ActionKind.MASK, mask_char="#", visible=2),
    ),
    Rule(
        0,
        "pii",
        1,
        PresidioDetection(("EMAIL_ADDRESS",), 0.5, ("ok@example.org",)),
        Action(ActionKind.REPLACE),
        hook=Hook.RESPONSE,
        failure_mode=FailureMode.OPEN,
        methods=frozenset({"tools/call", "prompts/get"}),
        assignments=frozenset({"files"}),
        tools=frozenset({"read"}),
        alerts=True,
    ),
    Rule(0, "hook", 3, EngineDetection("guard"), None, hook=Hook.BOTH, failure_mode=FailureMode.CLOSED),
)


def _gateway(engine: Engine) -> int:
    now = time.time()
    with engine.begin() as conn:
        return int(
            conn.execute(
                insert(gateways).values(
                    name="g", enabled=True, archived=False, version=1, created_at=now, updated_at=now
                )
            ).inserted_primary_key[0]
        )


def _save(engine: Engine, gateway_id: int) -> None:
    now = time.time()
    with engine.begin() as conn:
        for rule in RULES:
            conn.execute(
                insert(rules).values(gateway_id=gateway_id, created_at=now, updated_at=now, **dump_rule(rule))
            )
        engine_id = conn.execute(
            insert(rule_engines).values(
                name="guard",
                kind="webhook",
                url="https://guard.example/inspect",
                settings={},
                header_names=["Authorization"],
                timeout_s=5.0,
                retries=1,
                version=1,
                created_at=now,
                updated_at=now,
            )
        ).inserted_primary_key[0]
        sealed = seal_engine_secrets(TEST_VAULT, engine_id, "whsec_c2VjcmV0", {"Authorization": "Bearer t0k"})
        conn.execute(update(rule_engines).where(rule_engines.c.id == engine_id).values(secrets=sealed))
        hash_key(conn, TEST_VAULT, gateway_id, create=True)


def test_a_gateways_rules_load_in_order_with_the_engines_they_name_and_its_hash_key(engine: Engine) -> None:
    gateway_id = _gateway(engine)
    _save(engine, gateway_id)
    with engine.connect() as conn:
        loaded = load_gateway_rules(conn, TEST_VAULT, gateway_id)
    assert [r.name for r in loaded.rules] == ["pii", "mask", "hook"]
    assert {dataclasses.replace(r, id=0) for r in loaded.rules} == set(RULES)
    guard = loaded.engines["guard"]
    assert guard.kind is EngineKind.WEBHOOK and guard.secret == "whsec_c2VjcmV0"
    assert guard.headers == {"Authorization": "Bearer t0k"}
    assert len(loaded.hash_key) == 32


def test_engine_secrets_and_the_hash_key_are_sealed_at_rest(engine: Engine) -> None:
    gateway_id = _gateway(engine)
    _save(engine, gateway_id)
    with engine.connect() as conn:
        key = load_gateway_rules(conn, TEST_VAULT, gateway_id).hash_key
        stored = [str(v) for row in conn.execute(select(rule_engines)) for v in row]
        stored += [str(v) for row in conn.execute(select(rule_keys)) for v in row]
    dump = " ".join(stored)
    assert "t0k" not in dump and "c2VjcmV0" not in dump and key.hex() not in dump


def test_the_hash_key_is_made_once_and_only_when_asked(engine: Engine) -> None:
    gateway_id = _gateway(engine)
    with engine.begin() as conn:
        assert hash_key(conn, TEST_VAULT, gateway_id) == b""
        made = hash_key(conn, TEST_VAULT, gateway_id, create=True)
        assert hash_key(conn, TEST_VAULT, gateway_id, create=True) == made


@pytest.mark.parametrize(
    "column, value",
    [
        ("hook", "sideways"),
        ("detection", {"method": "telepathy"}),
        ("action", {"kind": "shred"}),
        ("failure_mode", "maybe"),
    ],
)
def test_a_stored_value_this_release_does_not_know_fails_loudly(
    engine: Engine, column: str, value: object
) -> None:
    gateway_id = _gateway(engine)
    _save(engine, gateway_id)
    with engine.begin() as conn:
        conn.execute(update(rules).where(rules.c.name == "mask").values({column: value}))
    with engine.connect() as conn, pytest.raises(UnreadableRuleError, match="cannot be read"):
        load_gateway_rules(conn, TEST_VAULT, gateway_id)
