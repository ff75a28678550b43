"""Server-sent events read from an aiohttp response body (WHATWG HTML §9.2 event stream format)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp


@dataclass(slots=True)
class Event:
    event: str
    data: str
    id: str | None
    retry: int | None


async def iter_events(content: aiohttp.StreamReader) -> AsyncIterator[Event]:
    """Yield each dispatched event; comments and unknown fields are skipped."""
    event, event_id, retry = "message", None, None
    data: list[str] = []
    async for raw in content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data or event_id is not None:
                yield Event(event, "\n".join(data), event_id, retry)
            event, data, retry = "message", [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        elif field == "id":
            event_id = value
        elif field == "retry" and value.isdigit():
            retry = int(value)
    if data:
        yield Event(event, "\n".join(data), event_id, retry)
