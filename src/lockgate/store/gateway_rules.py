"""Saving a gateway's rules in order: insert at a position, change, move, delete, or replace them all
(a declaration). Positions stay dense (0..n-1, the order rules run in); each write keeps them so.

The first rule a gateway gets also gets it its key for the ``hash`` action (``store.rules.hash_key``).
At most ``LIMITS.rules_per_gateway`` rules per gateway (``LimitError``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, select, update

from lockgate.domain.rules import LIMITS, EngineDetection, Rule, RuleEngine
from lockgate.store.errors import ConflictError, LimitError, NotFoundError
from lockgate.store.provisioning import load_json
from lockgate.store.records import delete_row, insert_row, update_row
from lockgate.store.rules import dump_rule, hash_key, load_detection
from lockgate.store.schema import gateway_servers, gateways, rules
from lockgate.vault import Vault


def fetch_rule_rows(conn: Connection, gateway_id: int) -> list[Row[Any]]:
    """The gateway's ``rules`` rows in the order they run."""
    query = select(rules).where(rules.c.gateway_id == gateway_id).order_by(rules.c.position, rules.c.id)
    return list(conn.execute(query))


def fetch_rule_row(conn: Connection, gateway_id: int, name: str) -> Row[Any]:
    """Raises NotFoundError when the gateway has no rule called ``name``."""
    row = conn.execute(select(rules).where(rules.c.gateway_id == gateway_id, rules.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no rule named {name!r} on this gateway")
    return row


def missing_assignments(conn: Connection, gateway_id: int, names: Collection[str]) -> list[str]:
    """Which of ``names`` are no assignment of the gateway, sorted."""
    found = conn.execute(
        select(gateway_servers.c.name).where(gateway_servers.c.gateway_id == gateway_id)
    ).scalars()
    return sorted(set(names) - set(found))


def insert_rule(
    conn: Connection, vault: Vault, gateway_id: int, rule: Rule, position: int | None
) -> Row[Any]:
    """Add ``rule`` at ``position`` (None or past the end: last); those from there on move down.

    Raises:
        LimitError: the gateway holds ``LIMITS.rules_per_gateway`` rules already.
        ConflictError: it has a rule of that name.
    """
    rows = fetch_rule_rows(conn, gateway_id)
    if len(rows) >= LIMITS.rules_per_gateway:
        raise LimitError(f"a gateway holds at most {LIMITS.rules_per_gateway} rules")
    values = dump_rule(rule) | {"gateway_id": gateway_id, "position": len(rows)}
    values.pop("version")
    row = insert_row(conn, rules, "rule", values)
    order = [r.id for r in rows]
    order.insert(len(order) if position is None else max(0, min(position, len(order))), row.id)
    _renumber(conn, order)
    hash_key(conn, vault, gateway_id, create=True)
    return conn.execute(select(rules).where(rules.c.id == row.id)).one()


def update_rule(conn: Connection, row: Row[Any], rule: Rule, expected: int | None) -> Row[Any]:
    """Store ``rule``'s definition on ``row`` (its position unchanged), bumping its version.

    Raises:
        StaleVersionError, ConflictError (a rule of the new name exists).
    """
    values = dump_rule(rule)
    for kept in ("position", "version"):
        values.pop(kept)
    return update_row(conn, rules, row, "rule", values, expected)


def move_rule(conn: Connection, row: Row[Any], position: int, expected: int | None) -> Row[Any]:
    """Put the rule at ``position`` (clamped to the order's ends), bumping its version.

    Raises:
        StaleVersionError.
    """
    moved = update_row(conn, rules, row, "rule", {}, expected)
    order = [r.id for r in fetch_rule_rows(conn, row.gateway_id) if r.id != row.id]
    order.insert(max(0, min(position, len(order))), row.id)
    _renumber(conn, order)
    return conn.execute(select(rules).where(rules.c.id == moved.id)).one()


def delete_rule(conn: Connection, row: Row[Any], expected: int | None) -> None:
    """Delete the rule; those after it move up.

    Raises:
        StaleVersionError.
    """
    delete_row(conn, rules, row, "rule", expected)
    _renumber(conn, [r.id for r in fetch_rule_rows(conn, row.gateway_id)])


def replace_rules(conn: Connection, vault: Vault, gateway_id: int, wanted: Sequence[Rule]) -> None:
    """Make the gateway's rules exactly ``wanted``, in that order: rules are matched by name and
    changed in place (keeping their id, so the audit's rule ids stay meaningful), the others
    deleted, the new ones inserted.

    Raises:
        LimitError: more than ``LIMITS.rules_per_gateway``.
    """
    if len(wanted) > LIMITS.rules_per_gateway:
        raise LimitError(f"a gateway holds at most {LIMITS.rules_per_gateway} rules")
    stored = {row.name: row for row in fetch_rule_rows(conn, gateway_id)}
    names = {rule.name for rule in wanted}
    gone = [row.id for name, row in stored.items() if name not in names]
    if gone:
        conn.execute(delete(rules).where(rules.c.id.in_(gone)))
    order = []
    for position, rule in enumerate(wanted):
        row = stored.get(rule.name)
        if row is None:
            values = dump_rule(rule) | {"gateway_id": gateway_id, "position": position}
            values.pop("version")
            order.append(insert_row(conn, rules, "rule", values).id)
        else:
            update_rule(conn, row, rule, None)
            order.append(row.id)
    _renumber(conn, order)
    if wanted:
        hash_key(conn, vault, gateway_id, create=True)


def engine_users(conn: Connection, engine: str) -> list[str]:
    """The rules naming the rule engine ``engine``, as ``<gateway>/<rule>``, sorted (a rule whose
    detection cannot be read names none)."""
    rows = conn.execute(
        select(gateways.c.name.label("gateway"), rules.c.name, rules.c.detection).join(
            gateways, gateways.c.id == rules.c.gateway_id
        )
    )
    return sorted(f"{row.gateway}/{row.name}" for row in rows if _names_engine(row.detection, engine))


def _names_engine(stored: Any, engine: str) -> bool:
    try:
        detection = load_detection(load_json(stored))
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(detection, EngineDetection) and detection.engine == engine


def _renumber(conn: Connection, order: Sequence[int]) -> None:
    """Positions 0..n-1 in ``order``, writing only those that change (no version bump: a rule's
    place is the gateway's order, not its definition)."""
    current = dict(
        conn.execute(select(rules.c.id, rules.c.position).where(rules.c.id.in_(list(order)))).all()
    )
    for position, rule_id in enumerate(order):
        if current.get(rule_id) != position:
            conn.execute(update(rules).where(rules.c.id == rule_id).values(position=position))


def require_unused_to_move(conn: Connection, stored: RuleEngine, changed: RuleEngine) -> None:
    """Raises ConflictError (409, naming the rules) when ``changed`` calls another destination than
    ``stored`` (``RuleEngine.destination``) while rules name the engine: the messages of their
    gateways would go there, so whoever manages integrations could send the traffic of gateways they
    may not use somewhere else. Point those rules at another engine first."""
    users = engine_users(conn, stored.name)
    if users and changed.destination() != stored.destination():
        raise ConflictError(
            f"rule engine {stored.name!r} is named by rules {', '.join(users)}: it cannot be moved to "
            "another destination while they do; point them at another engine first"
        )
