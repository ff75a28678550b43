"""Ending a request on the client's behalf, told apart from every other cancellation.

A client ends a request by going away (a closed response stream: cancellation in the modern era,
the end of a GET stream in the legacy era), by ``notifications/cancelled`` (MCP 2025-11-25
basic/utilities/cancellation) or by ending its session (``DELETE``). The gateway then cancels the
task serving it, with ``CLIENT_CANCELLED`` as the cancellation's message. That is the normal end of
the request, not a failure: the endpoint returns quietly instead of letting ``CancelledError``
reach the server, which would log it as an exception in the application. Any other cancellation
(the server shutting down) still propagates.
"""

from __future__ import annotations

import asyncio
from typing import Any

CLIENT_CANCELLED = "ended by the client"


def cancel_for_client(task: asyncio.Task[Any]) -> None:
    """Cancel the task serving a request because its client ended it."""
    task.cancel(CLIENT_CANCELLED)


def is_client_cancellation(exc: asyncio.CancelledError) -> bool:
    """True when ``exc`` comes from ``cancel_for_client`` and nothing else asked the current task
    to stop; it then counts as handled (``Task.uncancel``, Python 3.11+)."""
    task = asyncio.current_task()
    if exc.args[:1] != (CLIENT_CANCELLED,) or task is None:
        return False
    return task.uncancel() == 0
