"""The operation table: every control-plane operation, in one place.

The JSON API, its OpenAPI document, the admin MCP endpoint and the CLI are all generated from it.
"""

from __future__ import annotations

from lockgate.api.operation import Operation
from lockgate.api.operations import (
    approvals,
    capabilities,
    connections,
    declaration,
    engines,
    events,
    gateways,
    hosts,
    identities,
    logs,
    me,
    pats,
    provisioning,
    roles,
    rules,
    servers,
    teams,
    tokens,
    users,
)

OPERATIONS: tuple[Operation, ...] = (
    *servers.OPERATIONS,
    *gateways.OPERATIONS,
    *provisioning.OPERATIONS,
    *rules.OPERATIONS,
    *engines.OPERATIONS,
    *approvals.OPERATIONS,
    *identities.OPERATIONS,
    *hosts.OPERATIONS,
    *connections.OPERATIONS,
    *tokens.OPERATIONS,
    *declaration.OPERATIONS,
    *users.OPERATIONS,
    *roles.OPERATIONS,
    *capabilities.OPERATIONS,
    *teams.OPERATIONS,
    *me.OPERATIONS,
    *pats.OPERATIONS,
    *events.OPERATIONS,
    *logs.OPERATIONS,
)
"""Every operation; ids are unique (a test holds that)."""

BY_ID: dict[str, Operation] = {op.id: op for op in OPERATIONS}
