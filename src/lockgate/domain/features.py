"""Features (tools, prompts, resources, resource templates) and how a gateway names them."""

from __future__ import annotations

from enum import StrEnum

PREFIX_SEPARATOR = "__"
"""Joins an assignment's prefix to a tool or prompt name: prefix ``time`` exposes ``get_current_time``
as ``time__get_current_time``. Two underscores keep names inside the spec's recommended tool-name
alphabet ``[A-Za-z0-9_.-]`` (MCP 2025-11-25 server/tools §Tool Names)."""


class FeatureKind(StrEnum):
    """The four feature types and the list method and result key of each (MCP server/* pages)."""

    TOOL = "tools"
    PROMPT = "prompts"
    RESOURCE = "resources"
    RESOURCE_TEMPLATE = "resourceTemplates"

    @property
    def list_method(self) -> str:
        return _LIST_METHODS[self]

    @property
    def key(self) -> str:
        """The field that names a feature of this kind: ``name``, ``uri`` or ``uriTemplate``."""
        return _NAME_KEYS[self]

    @property
    def capability(self) -> str:
        """The server capability that announces features of this kind."""
        return "resources" if self in (FeatureKind.RESOURCE, FeatureKind.RESOURCE_TEMPLATE) else self.value


_LIST_METHODS = {
    FeatureKind.TOOL: "tools/list",
    FeatureKind.PROMPT: "prompts/list",
    FeatureKind.RESOURCE: "resources/list",
    FeatureKind.RESOURCE_TEMPLATE: "resources/templates/list",
}
_NAME_KEYS = {
    FeatureKind.TOOL: "name",
    FeatureKind.PROMPT: "name",
    FeatureKind.RESOURCE: "uri",
    FeatureKind.RESOURCE_TEMPLATE: "uriTemplate",
}
LIST_METHODS = {kind.list_method: kind for kind in FeatureKind}


def expose_name(prefix: str | None, name: str) -> str:
    """The name a front client sees for an upstream tool or prompt ``name``."""
    return f"{prefix}{PREFIX_SEPARATOR}{name}" if prefix else name


def split_name(prefix: str, exposed: str) -> str | None:
    """The upstream name behind ``exposed`` if it carries ``prefix``, else None."""
    head = prefix + PREFIX_SEPARATOR
    return exposed[len(head) :] if exposed.startswith(head) else None
