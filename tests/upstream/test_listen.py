"""Keeping an upstream listen: waited out when it fails, given up only when the server refuses it."""

from __future__ import annotations

import pytest

from lockgate.domain.mcp import JsonObject
from lockgate.upstream.base import UpstreamError
from lockgate.upstream.listen import keep_listening

pytestmark = pytest.mark.anyio
NO_WAIT = (0.0, 0.0)


def listens(*outcomes: object) -> tuple[list[int], object]:
    """A listen that gives each outcome in turn (raising an exception), then reports its connection gone."""
    calls: list[int] = []

    async def listen() -> JsonObject | None:
        calls.append(len(calls))
        if len(calls) > len(outcomes):
            return None
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]

    return calls, listen


async def test_a_failing_or_busy_server_is_listened_to_again_until_its_connection_is_gone() -> None:
    busy = {"error": {"code": -32000, "message": "Service Unavailable"}}
    calls, listen = listens(UpstreamError("ended"), ValueError("a bug"), busy, {"result": {}})
    await keep_listening("s", listen, NO_WAIT)  # type: ignore[arg-type]
    assert len(calls) == 5


@pytest.mark.parametrize("code", [-32601, -32602])
async def test_a_server_that_refuses_the_listen_is_not_asked_again(code: int) -> None:
    calls, listen = listens({"error": {"code": code, "message": "no"}}, {"result": {}})
    await keep_listening("s", listen, NO_WAIT)  # type: ignore[arg-type]
    assert len(calls) == 1
