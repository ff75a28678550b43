"""The bounded queue of notifications a long-lived stream (a legacy session's GET stream, a modern
``subscriptions/listen`` stream) sends its client.

A client that stops reading leaves its stream's writes waiting, and what is queued for it waits
too. Past ``STREAM_BACKLOG`` notifications the stream is ended instead of growing: what it holds is
dropped for the end marker (an empty message), so the client sees its stream close and opens a
new one (MCP basic/transports §Listening for Messages from the Server; a listen stream is re-sent,
2026-07-28 basic/patterns/subscriptions).
"""

from __future__ import annotations

import asyncio

from lockgate.domain.mcp import JsonObject

STREAM_BACKLOG = 1000  # notifications
END: JsonObject = {}


def new_backlog() -> asyncio.Queue[JsonObject]:
    return asyncio.Queue(maxsize=STREAM_BACKLOG)


def offer(backlog: asyncio.Queue[JsonObject], message: JsonObject) -> None:
    """Queue ``message``, or end the stream when its client has not taken ``STREAM_BACKLOG``."""
    try:
        backlog.put_nowait(message)
    except asyncio.QueueFull:
        end(backlog)


def end(backlog: asyncio.Queue[JsonObject]) -> None:
    """End the stream: drop what it holds and queue the end marker."""
    while not backlog.empty():
        backlog.get_nowait()
    backlog.put_nowait(END)
