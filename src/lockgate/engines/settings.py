"""What a rule engine's kind-specific settings may be, checked the same way on every surface that
saves an engine (JSON API, admin MCP, CLI, declaration)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lockgate.domain.rules import EngineKind

REQUIRED: Mapping[EngineKind, tuple[str, ...]] = {
    EngineKind.WEBHOOK: (),
    EngineKind.LAKERA: (),
    EngineKind.BEDROCK: ("guardrail_id", "guardrail_version", "region", "access_key_id"),
    EngineKind.MODEL_ARMOR: ("project", "location", "template"),
    EngineKind.PROMPT_SHIELDS: (),
}
NEEDS_URL = (EngineKind.WEBHOOK, EngineKind.PROMPT_SHIELDS)


def check_engine(kind: EngineKind, url: str | None, settings: Mapping[str, Any]) -> None:
    """Raises ValueError, naming the setting, unless ``settings`` hold the fields ``kind`` needs as
    strings and no other, and a ``url`` is given where the kind has no default one."""
    if kind in NEEDS_URL and not url:
        raise ValueError(f"url: a {kind.value} engine needs one")
    required = REQUIRED[kind]
    for name in required:
        if not isinstance(settings.get(name), str) or not settings[name]:
            raise ValueError(f"settings.{name}: a {kind.value} engine needs it, as text")
    unknown = sorted(set(settings) - set(required))
    if unknown:
        raise ValueError(f"settings.{unknown[0]}: a {kind.value} engine takes no such setting")
