"""How rules and rule engines are stored: the ``rules``, ``rule_engines`` and ``rule_keys`` rows, to
and from ``domain.rules`` values, and the read the data plane makes of one gateway's rules.

A stored value the code cannot read (a detection method, hook or action from a newer release, or a
hand edit) raises ``UnreadableRuleError``: the data plane then fails closed on that gateway's
inspected traffic rather than letting it pass uninspected. Engine secrets and header values are
sealed in the vault (``place("rule_engines", id, "secrets")``); the hash key of a gateway likewise.
"""

from __future__ import annotations

import secrets as random
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select, update

from lockgate.domain.rules import (
    Action,
    ActionKind,
    Detection,
    EngineDetection,
    EngineKind,
    FailureMode,
    GatewayRules,
    Hook,
    PresidioDetection,
    RegexDetection,
    Rule,
    RuleEngine,
)
from lockgate.store.provisioning import load_json
from lockgate.store.records import insert_row, update_row
from lockgate.store.schema import rule_engines, rule_keys, rules
from lockgate.vault import Vault, place

HASH_KEY_BYTES = 32
COUNTED_TABLES = (rules, rule_engines, rule_keys)
"""What ``load_gateway_rules`` reads: the access counter's triggers watch them (migration 0008)."""


class UnreadableRuleError(ValueError):
    """A stored rule or engine holds a value this release does not know."""


def load_rule(row: Any) -> Rule:
    """A ``rules`` row as a ``Rule``.

    Raises:
        UnreadableRuleError: a value is unknown or malformed.
    """
    try:
        action = load_json(row.action)
        return Rule(
            id=row.id,
            name=row.name,
            position=row.position,
            detection=load_detection(load_json(row.detection)),
            action=load_action(action) if action is not None else None,
            hook=Hook(row.hook),
            enabled=bool(row.enabled),
            alerts=bool(row.alerts),
            failure_mode=FailureMode(row.failure_mode) if row.failure_mode is not None else None,
            methods=frozenset(load_json(row.methods)),
            assignments=frozenset(load_json(row.assignments)),
            tools=frozenset(load_json(row.tools)),
            store_original=bool(row.store_original),
            version=row.version,
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise UnreadableRuleError(f"rule {row.id} cannot be read: {exc}") from None


def load_detection(values: Mapping[str, Any]) -> Detection:
    """``{"method": "regex" | "presidio" | "engine", ...}`` as a detection.

    Raises:
        ValueError, KeyError, TypeError: the method is unknown or a field malformed.
    """
    method = values["method"]
    if method == "regex":
        return RegexDetection(tuple(values.get("patterns", ())), tuple(values.get("presets", ())))
    if method == "presidio":
        return PresidioDetection(
            tuple(values.get("entities", ())),
            float(values.get("threshold", 0.2)),
            tuple(values.get("allowlist", ())),
        )
    if method == "engine":
        return EngineDetection(str(values["engine"]))
    raise ValueError(f"unknown detection method {method!r}")


def dump_detection(detection: Detection) -> dict[str, Any]:
    if isinstance(detection, RegexDetection):
        return {"method": "regex", "patterns": list(detection.patterns), "presets": list(detection.presets)}
    if isinstance(detection, PresidioDetection):
        return {
            "method": "presidio",
            "entities": list(detection.entities),
            "threshold": detection.threshold,
            "allowlist": list(detection.allowlist),
        }
    return {"method": "engine", "engine": detection.engine}


def load_action(values: Mapping[str, Any]) -> Action:
    """``{"kind": ..., settings}`` as an ``Action``.

    Raises:
        ValueError, KeyError, TypeError: the kind is unknown or a setting malformed.
    """
    return Action(
        kind=ActionKind(values["kind"]),
        replacement=values.get("replacement"),
        mask_char=str(values.get("mask_char", "*")),
        visible=int(values.get("visible", 0)),
        hash_chars=int(values.get("hash_chars", 16)),
        hash_prefix=str(values.get("hash_prefix", "hash:")),
    )


def dump_action(action: Action) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": action.kind.value}
    if action.kind is ActionKind.REPLACE and action.replacement is not None:
        out["replacement"] = action.replacement
    if action.kind is ActionKind.MASK:
        out |= {"mask_char": action.mask_char, "visible": action.visible}
    if action.kind is ActionKind.HASH:
        out |= {"hash_chars": action.hash_chars, "hash_prefix": action.hash_prefix}
    return out


def dump_rule(rule: Rule) -> dict[str, Any]:
    """The columns of a ``rules`` row (without ``id``, ``gateway_id`` and the timestamps)."""
    return {
        "name": rule.name,
        "position": rule.position,
        "enabled": rule.enabled,
        "hook": rule.hook.value,
        "detection": dump_detection(rule.detection),
        "action": dump_action(rule.action) if rule.action is not None else None,
        "alerts": rule.alerts,
        "failure_mode": rule.failure_mode.value if rule.failure_mode is not None else None,
        "methods": sorted(rule.methods),
        "assignments": sorted(rule.assignments),
        "tools": sorted(rule.tools),
        "store_original": rule.store_original,
        "version": rule.version,
    }


def engine_place(engine_id: int) -> bytes:
    return place("rule_engines", engine_id, "secrets")


def load_engine(row: Any, vault: Vault) -> RuleEngine:
    """A ``rule_engines`` row as a ``RuleEngine``, its secrets opened.

    Raises:
        UnreadableRuleError: the kind is unknown.
        VaultError: the secrets cannot be opened.
    """
    try:
        kind = EngineKind(row.kind)
    except ValueError:
        raise UnreadableRuleError(f"rule engine {row.name!r} has an unknown kind {row.kind!r}") from None
    opened = vault.open(row.secrets, engine_place(row.id)) if row.secrets else {}
    return RuleEngine(
        id=row.id,
        name=row.name,
        kind=kind,
        url=row.url,
        settings=load_json(row.settings) or {},
        headers=dict(opened.get("headers") or {}),
        secret=opened.get("secret"),
        timeout_s=row.timeout_s,
        retries=row.retries,
        version=row.version,
    )


def seal_engine_secrets(
    vault: Vault, engine_id: int, secret: str | None, headers: Mapping[str, str]
) -> str | None:
    """The ``secrets`` column of an engine: ``{"secret", "headers"}`` sealed, None when both are empty."""
    if secret is None and not headers:
        return None
    return vault.seal({"secret": secret, "headers": dict(headers)}, engine_place(engine_id))


def hash_key(conn: Connection, vault: Vault, gateway_id: int, *, create: bool = False) -> bytes:
    """The gateway's key for the ``hash`` action (32 random bytes, sealed at rest); made when
    ``create`` and missing, else b"" when missing."""
    where = place("rule_keys", gateway_id, "sealed")
    sealed = conn.execute(select(rule_keys.c.sealed).where(rule_keys.c.gateway_id == gateway_id)).scalar()
    if sealed is not None:
        return bytes.fromhex(vault.open(sealed, where))
    if not create:
        return b""
    key = random.token_bytes(HASH_KEY_BYTES)
    conn.execute(rule_keys.insert().values(gateway_id=gateway_id, sealed=vault.seal(key.hex(), where)))
    return key


def load_gateway_rules(conn: Connection, vault: Vault, gateway_id: int) -> GatewayRules:
    """One gateway's rules in order (position, then id), the engines they name, and its hash key.

    Raises:
        UnreadableRuleError: a rule or engine cannot be read.
    """
    rows = conn.execute(
        select(rules).where(rules.c.gateway_id == gateway_id).order_by(rules.c.position, rules.c.id)
    ).all()
    loaded = tuple(load_rule(row) for row in rows)
    named = {r.detection.engine for r in loaded if isinstance(r.detection, EngineDetection)}
    engines: dict[str, RuleEngine] = {}
    if named:
        for row in conn.execute(select(rule_engines).where(rule_engines.c.name.in_(sorted(named)))).all():
            engines[row.name] = load_engine(row, vault)
    return GatewayRules(gateway_id, loaded, engines, hash_key(conn, vault, gateway_id) if loaded else b"")


def save_engine(
    conn: Connection, vault: Vault, engine: RuleEngine, row: Any | None, expected: int | None = None
) -> Any:
    """Insert ``engine`` (``row`` None) or store it over ``row``, its secret and header values sealed
    (``seal_engine_secrets``), its header names in clear. Returns the row as stored.

    Raises:
        ConflictError: the name is taken. StaleVersionError: ``row`` is no longer at ``expected``.
    """
    values = {
        "name": engine.name,
        "kind": engine.kind.value,
        "url": engine.url,
        "settings": dict(engine.settings),
        "header_names": sorted(engine.headers),
        "timeout_s": engine.timeout_s,
        "retries": engine.retries,
    }
    if row is None:
        row = insert_row(conn, rule_engines, "rule engine", values | {"secrets": None})
        sealed = seal_engine_secrets(vault, row.id, engine.secret, engine.headers)
        conn.execute(update(rule_engines).where(rule_engines.c.id == row.id).values(secrets=sealed))
        return conn.execute(select(rule_engines).where(rule_engines.c.id == row.id)).one()
    sealed = seal_engine_secrets(vault, row.id, engine.secret, engine.headers)
    return update_row(conn, rule_engines, row, "rule engine", values | {"secrets": sealed}, expected)
