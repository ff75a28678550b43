"""Capabilities: every permission a role can hold, with its name and what it allows."""

from __future__ import annotations

from pydantic import BaseModel, Field

from lockgate.api.operation import Context, NoInput, Operation
from lockgate.api.operations.common import Page
from lockgate.domain.capabilities import CAPABILITIES, Capability
from lockgate.policy.access_control import EVERYONE


class CapabilityView(BaseModel):
    key: Capability = Field(description="What roles store and 403s name, e.g. 'managePeople'.")
    label: str = Field(description="The name people read, e.g. 'Manage people'.")
    area: str
    description: str
    lockgate_name: bool = Field(
        description="True where MCP Manager's documentation names no such capability."
    )
    runs_commands: bool = Field(
        description="True when it lets its holder make Lockgate's host run a command of their choosing."
    )
    reaches_networks: str | None = Field(
        description="The setting naming the non-public networks it lets its holder make Lockgate "
        "connect to; null when none."
    )


def list_capabilities(_ctx: Context, _args: NoInput) -> Page[CapabilityView]:
    """Every capability, in the product's order; always one page."""
    items = [
        CapabilityView(
            key=key,
            label=info.title,
            area=info.area,
            description=info.description,
            lockgate_name=info.lockgate_name,
            runs_commands=info.runs_commands,
            reaches_networks=info.reaches_networks,
        )
        for key, info in CAPABILITIES.items()
    ]
    return Page[CapabilityView](items=items, next_cursor=None)


OPERATIONS = [
    Operation("capabilities", "list", "GET", "/capabilities", "List capabilities", EVERYONE,
              list_capabilities, NoInput, Page[CapabilityView], columns=("key", "label", "area")),
]  # fmt: skip
