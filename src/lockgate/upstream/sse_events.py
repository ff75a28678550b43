"""Server-sent events read from a streamed body (WHATWG HTML §9.2 event stream format)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass


@dataclass(slots=True)
class Event:
    event: str
    data: str
    id: str | None
    retry: int | None


async def _lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r").decode()
    if buffer:
        yield buffer.rstrip(b"\r").decode()


async def iter_events(chunks: AsyncIterable[bytes]) -> AsyncIterator[Event]:
    """Yield each dispatched event; comments and unknown fields are skipped."""
    event, event_id, retry = "message", None, None
    data: list[str] = []
    async for line in _lines(chunks):
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
