"""Rule engine fixtures: a loopback HTTP server standing in for an engine, and ``Engines`` allowed to
reach it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from lockgate.domain.rules import Direction, EngineKind, EngineRequest, RuleEngine
from lockgate.engines import Engines

LOOPBACK = ["127.0.0.0/8"]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CALL = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "tools/call",
    "params": {"name": "send_email", "arguments": {"to": "ada@example.com", "body": "hello"}},
}
RESULT = {
    "jsonrpc": "2.0",
    "id": 7,
    "result": {"content": [{"type": "text", "text": "sent to ada@example.com"}], "isError": False},
}


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    """An engine server of the test's own: no request of another test's (a late retry, a handler
    still held) can reach it."""
    with HTTPServer(host="127.0.0.1", port=0) as http:
        yield http


@pytest.fixture
async def engines() -> AsyncIterator[Engines]:
    engines = Engines(LOOPBACK)
    yield engines
    await engines.aclose()


def webhook(url: str, **changes: Any) -> RuleEngine:
    values: dict[str, Any] = {
        "id": 3,
        "name": "screen",
        "kind": EngineKind.WEBHOOK,
        "url": url,
        "secret": SECRET,
    }
    return RuleEngine(**(values | changes))


def asking(
    body: Mapping[str, Any] = CALL, leg: Direction = Direction.REQUEST, method: str = "tools/call"
) -> EngineRequest:
    return EngineRequest(
        rule_id=11,
        rule="no secrets out",
        engine_id=3,
        engine="screen",
        user_id=5,
        user_email="ada@example.com",
        host="claude-desktop",
        gateway_id=2,
        gateway="finance",
        server="mail",
        tool="send_email",
        method=method,
        direction=leg,
        correlation_id="01JCORRELATION",
        time=1_796_000_000.25,
        body=body,
    )
