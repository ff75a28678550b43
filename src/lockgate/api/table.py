"""The operation table: every control-plane operation, in one place.

The JSON API, its OpenAPI document, the admin MCP endpoint and the CLI are all generated from it.
"""

from __future__ import annotations

from lockgate.api.operation import Operation
from lockgate.api.operations import declaration, gateways

OPERATIONS: tuple[Operation, ...] = (
    *gateways.OPERATIONS,
    *declaration.OPERATIONS,
)
"""Every operation; ids are unique (a test holds that)."""

BY_ID: dict[str, Operation] = {op.id: op for op in OPERATIONS}
