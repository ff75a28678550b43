"""Which capabilities applying a planned change needs: the same ones as making it by hand."""

from __future__ import annotations

from collections.abc import Iterable

from lockgate.domain.capabilities import Capability
from lockgate.domain.declaration import RoleSpec

_BASIC = {
    "server": Capability.BASIC_SERVER_MANAGEMENT,
    "host": Capability.CREATE_AND_MANAGE_API_TOKENS,
    "gateway": Capability.BASIC_GATEWAY_MANAGEMENT,
    "rule_engine": Capability.MANAGE_INTEGRATIONS,
    "team": Capability.MANAGE_PEOPLE,
    "role": Capability.MANAGE_PEOPLE,
    "user": Capability.MANAGE_PEOPLE,
}
_BY_FIELD = {
    ("server", "enabled"): Capability.DISABLE_AND_ENABLE_SERVERS,
    ("host", "enabled"): Capability.DISABLE_AND_ENABLE_HOSTS,
    ("gateway", "enabled"): Capability.DISABLE_AND_ENABLE_GATEWAYS,
    ("gateway", "archived"): Capability.ARCHIVE_AND_RESTORE_GATEWAYS,
    ("gateway", "teams"): Capability.MANAGE_TEAM_GATEWAY_PROVISIONING,
    ("gateway", "rules"): Capability.BASIC_GATEWAY_MANAGEMENT,
}
_PROVISIONING_FIELDS = frozenset({"provisioning", "approvals", "metadata_filter"})
"""An assignment's fields (``servers.<assignment>.<field>`` of a gateway) that only *Manage feature
provisioning settings* may change, as through the ``provisioning`` operations."""


def _guard(kind: str, field: str) -> Capability:
    head, _, rest = field.partition(".")
    _, dot, last = rest.rpartition(".")
    if kind == "gateway" and head == "servers" and dot and last in _PROVISIONING_FIELDS:
        return Capability.MANAGE_FEATURE_PROVISIONING
    return _BY_FIELD.get((kind, head), _BASIC[kind])


def resolve_change_capabilities(
    kind: str, action: str, fields: Iterable[str], role: RoleSpec | None = None
) -> frozenset[Capability]:
    """The capabilities a change of ``kind`` needs: the kind's basic one to create or delete, and
    per changed field the one that guards it (``enabled`` needs the break-glass capability,
    ``teams`` the team-gateway one, an assignment's provisioning
    the feature provisioning one...). ``fields`` of a creation are its non-default fields. A
    role change also needs every capability the role will hold: no one grants what they lack.
    """
    needed = {_guard(kind, field) for field in fields}
    if action != "update" or not needed:
        needed.add(_BASIC[kind])
    if role is not None:
        needed |= set(role.capabilities)
    return frozenset(needed)
