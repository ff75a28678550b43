"""One HTTP request to the MCP endpoint as far as parsed: its ASGI types, its bounded body, and the
feature a message names (for its first audit leg)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from lockgate.audit.recorder import Leg

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class BodyTooLargeError(Exception):
    pass


@dataclass(slots=True)
class Incoming:
    """One HTTP request to the endpoint, as far as parsed; ``arrival`` its ``proxy_request`` leg while
    held back (``Exchange.arrival``)."""

    gateway: str
    headers: dict[str, str]
    raw_headers: list[tuple[str, str]]
    correlation_id: str
    receive: Receive
    arrival: Leg | None = None


async def read_body(receive: Receive, max_bytes: int) -> bytes:
    """The request body, read whole.

    Raises:
        BodyTooLargeError: it is longer than ``max_bytes``; reading stops there.
    """
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def feature_name(params: Any) -> str | None:
    """The tool or prompt ``name``, or resource ``uri``, a message's params name."""
    if not isinstance(params, dict):
        return None
    name = params.get("name", params.get("uri"))
    return name if isinstance(name, str) else None
