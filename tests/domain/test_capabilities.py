"""The capability table: documented row by row, built-in grants as the README states them."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine, select

from lockgate.domain.capabilities import BUILTIN_GRANTS, CAPABILITIES, BuiltinRole, Capability
from lockgate.store.schema import roles

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_rows() -> dict[str, list[str]]:
    rows = {}
    for line in README.read_text().splitlines():
        found = re.match(
            r"^\| (.+?) \| `(\w+)` \| (.+?) \| (.+?) \| (.*?) \| (.*?) \| (.*?) \| (.*?) \|$", line
        )
        if found:
            rows[found.group(2)] = [cell.strip() for cell in found.groups()]
    return rows


def test_every_capability_is_documented_with_its_name_area_description_reach_and_grants() -> None:
    rows = _readme_rows()
    assert set(rows) == {c.value for c in Capability}
    for capability, info in CAPABILITIES.items():
        name, _key, area, allows, reach, super_admin, administrator, member = rows[capability.value]
        assert name == info.title + (r" \*" if info.lockgate_name else "")
        assert (area, allows, reach) == (info.area, info.description, info.reach)
        marks = [super_admin, administrator, member]
        assert marks == ["✓" if capability in BUILTIN_GRANTS[r] else "" for r in BuiltinRole]


def test_super_admin_holds_every_capability_and_member_none() -> None:
    assert BUILTIN_GRANTS[BuiltinRole.SUPER_ADMIN] == frozenset(Capability)
    assert BUILTIN_GRANTS[BuiltinRole.MEMBER] == frozenset()


def test_the_migration_seeds_the_grants_the_code_declares(engine: Engine) -> None:
    with engine.connect() as conn:
        stored = {r.name: set(r.capabilities) for r in conn.execute(select(roles))}
    assert stored == {role.value: {c.value for c in BUILTIN_GRANTS[role]} for role in BuiltinRole}


def test_the_capabilities_that_run_commands_or_reach_internal_networks_say_so() -> None:
    server = CAPABILITIES[Capability.BASIC_SERVER_MANAGEMENT]
    assert server.reach == "runs commands; reaches `LOCKGATE_SERVER_ALLOWED_NETWORKS`"
    assert "runs commands" in server.description
    tokens = CAPABILITIES[Capability.CREATE_AND_MANAGE_API_TOKENS]
    assert tokens.reach == "reaches `LOCKGATE_EGRESS_ALLOWED_NETWORKS`"
    engines = CAPABILITIES[Capability.MANAGE_INTEGRATIONS]
    assert engines.reach == "reaches `LOCKGATE_EGRESS_ALLOWED_NETWORKS`"
    reaching = {
        Capability.BASIC_SERVER_MANAGEMENT,
        Capability.CREATE_AND_MANAGE_API_TOKENS,
        Capability.MANAGE_INTEGRATIONS,
    }
    others = set(Capability) - reaching
    assert all(CAPABILITIES[c].reach == "" for c in others)
