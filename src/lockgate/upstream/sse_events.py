"""Server-sent events read from a streamed body (WHATWG HTML §9.2 event stream format).

One event (its lines, as buffered) may take at most ``max_event_bytes``; past it ``BodyTooLargeError``
is raised before more is buffered, so a stream never holds more than one bounded event.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

from lockgate.upstream.http_client import BodyTooLargeError


@dataclass(slots=True)
class Event:
    event: str
    data: str
    id: str | None
    retry: int | None


async def _lines(chunks: AsyncIterable[bytes], limit: int | None) -> AsyncIterator[str]:
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.rstrip(b"\r").decode()
        if limit is not None and len(buffer) > limit:
            raise BodyTooLargeError(limit)
    if buffer:
        yield buffer.rstrip(b"\r").decode()


async def iter_events(
    chunks: AsyncIterable[bytes], max_event_bytes: int | None = None
) -> AsyncIterator[Event]:
    """Yield each dispatched event; comments and unknown fields are skipped.

    Raises:
        BodyTooLargeError: one event's lines add up to more than ``max_event_bytes`` (None: unbounded).
    """
    event, event_id, retry = "message", None, None
    data: list[str] = []
    size = 0
    async for line in _lines(chunks, max_event_bytes):
        if not line:
            if data or event_id is not None:
                yield Event(event, "\n".join(data), event_id, retry)
            event, data, retry, size = "message", [], None, 0
            continue
        size += len(line) + 1
        if max_event_bytes is not None and size > max_event_bytes:
            raise BodyTooLargeError(max_event_bytes)
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
