"""The text a managed engine judges: the strings rules see in a message (``rules.scan``), which the
managed services take as plain text rather than JSON-RPC."""

from __future__ import annotations

from lockgate.domain.rules import EngineRequest
from lockgate.rules.scan import Path, scanned_strings


def judged_strings(request: EngineRequest) -> list[tuple[Path, str]]:
    """The scanned strings of ``request.body`` with their paths, empty ones left out."""
    return [
        (path, text)
        for path, text in scanned_strings(request.method, request.direction, request.body)
        if text
    ]


def judged_text(request: EngineRequest) -> str | None:
    """The scanned strings of ``request.body``, one per line; None when there are none."""
    return "\n".join(text for _, text in judged_strings(request)) or None
