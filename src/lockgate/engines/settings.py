"""Whether a rule engine's definition can be used: the check every surface (JSON API, CLI, admin
MCP, declaration) runs before saving one. ``settings`` holds exactly the fields of the kind.

Errors name the field, never a secret's value.
"""

from __future__ import annotations

from collections.abc import Mapping

from lockgate.domain.rules import EngineKind, RuleEngine

FIELDS: Mapping[EngineKind, Mapping[str, bool]] = {
    EngineKind.WEBHOOK: {},
    EngineKind.LAKERA: {"project_id": False},
    EngineKind.BEDROCK: {
        "region": True,
        "guardrail_id": True,
        "guardrail_version": True,
        "access_key_id": True,
    },
    EngineKind.MODEL_ARMOR: {"project": True, "location": True, "template": True},
    EngineKind.PROMPT_SHIELDS: {},
}
"""Per kind, each settings field and whether it is required."""
URL_REQUIRED = frozenset({EngineKind.WEBHOOK, EngineKind.PROMPT_SHIELDS})
SECRET_REQUIRED = frozenset(
    {EngineKind.LAKERA, EngineKind.BEDROCK, EngineKind.MODEL_ARMOR, EngineKind.PROMPT_SHIELDS}
)


class EngineDefinitionError(ValueError):
    """A rule engine definition that cannot be used; the message names the field and says why."""


def check(engine: RuleEngine) -> None:
    """Raises EngineDefinitionError unless ``engine`` has the URL, settings and secret its kind needs."""
    if engine.url is None and engine.kind in URL_REQUIRED:
        raise EngineDefinitionError(f"a {engine.kind.value} engine needs a url")
    fields = FIELDS[engine.kind]
    for name in engine.settings:
        if name not in fields:
            raise EngineDefinitionError(f"{name[:64]!r} is not a setting of a {engine.kind.value} engine")
    for name, required in fields.items():
        value = engine.settings.get(name)
        if value is None and required:
            raise EngineDefinitionError(f"a {engine.kind.value} engine needs the setting {name!r}")
        if value is not None and not isinstance(value, str):
            raise EngineDefinitionError(f"the setting {name!r} is text")
    if not engine.secret and engine.kind in SECRET_REQUIRED:
        raise EngineDefinitionError(f"a {engine.kind.value} engine needs a secret")
