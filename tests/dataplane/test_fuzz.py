"""Generated bodies against ``/mcp/{gateway}`` in process: whatever the nesting (to 300 levels), the
id, the size (to past the body limit) or the encoding, the gateway answers below 500 within the
deadline and every exchange leaves its legs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from lockgate.settings import Settings
from tests.conftest import DEADLINE
from tests.dataplane.conftest import InProcessGateway, in_process_gateway

EXAMPLES = 150
MAX_BODY_BYTES = Settings.model_fields["max_body_bytes"].default
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "fuzz", "version": "1"},
}
METHODS = [
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "prompts/get",
    "resources/read",
    "server/discover",
    "notifications/initialized",
    "notifications/cancelled",
    "no/such/method",
]
valid_ids = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=20),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just("i" * 200_000),
)
invalid_ids = st.one_of(
    st.booleans(),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.lists(st.integers(), max_size=2),
)
ENCODINGS = ["bom", "invalid-utf8", "utf-16", "truncated", "batch", "garbage", "oversize"]


@dataclass
class Exchange:
    body: bytes
    headers: dict[str, str]
    token: str | None


def _nest(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = {"a": leaf}
    return leaf


@st.composite
def exchanges(draw: st.DrawFn) -> Exchange:
    """One POST: three times in four a well-formed message with one thing possibly wrong, else one
    broken in every way drawn."""
    broken = draw(st.integers(0, 3)) == 0
    era = draw(st.sampled_from(["legacy-session", "legacy", "modern"]))
    message: dict[str, Any] = {"jsonrpc": draw(st.sampled_from(["1.0"] if broken else ["2.0"]))}
    method = draw(st.one_of(st.none(), st.integers()) if broken else st.sampled_from(METHODS))
    if method is not None:
        message["method"] = method
    if draw(st.booleans()):
        message["id"] = draw(invalid_ids if broken else valid_ids)
    leaf = draw(st.text(max_size=5)) + "x" * draw(st.sampled_from([0, 1_000, 1_000_000]))
    depth = draw(st.integers(100, 300) if broken else st.integers(0, 8))
    params = {"name": "echo", "arguments": _nest(depth, leaf)}
    if era == "modern":
        params["_meta"] = MODERN_META
    message["params"] = params
    body = json.dumps(message).encode()
    encoding = draw(st.sampled_from(ENCODINGS)) if broken else "plain"
    event(f"encoding {encoding}")
    if encoding == "bom":
        body = b"\xef\xbb\xbf" + body
    elif encoding == "invalid-utf8":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + b"\xff\xfe" + body[at:]
    elif encoding == "utf-16":
        body = body.decode().encode("utf-16")
    elif encoding == "truncated":
        body = body[: draw(st.integers(0, len(body) - 1))]
    elif encoding == "batch":
        body = b"[" + body + b"," + body + b"]"
    elif encoding == "garbage":
        body = draw(st.binary(max_size=64))
    elif encoding == "oversize":
        body += b" " * MAX_BODY_BYTES
    headers = {"Mcp-Session-Id": "SESSION"} if era == "legacy-session" else {}
    if era == "modern":
        headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": str(method), "Mcp-Name": "echo"}
    token = draw(st.sampled_from(["valid", "valid", "valid", None, "lg_not-a-token"]))
    return Exchange(body, headers, token)


@pytest.fixture
def running(settings: Settings, engine: Engine) -> Iterator[tuple[asyncio.Runner, InProcessGateway, str]]:
    """The gateway on an event loop of its own (hypothesis calls the test synchronously)."""
    with asyncio.Runner() as runner:
        context = in_process_gateway(settings, engine)
        gateway = runner.run(context.__aenter__())
        session = runner.run(gateway.initialize())
        try:
            yield runner, gateway, session
        finally:
            runner.run(context.__aexit__(None, None, None))


async def _exchange(gateway: InProcessGateway, session: str, exchange: Exchange) -> None:
    headers = {k: session if v == "SESSION" else v for k, v in exchange.headers.items()}
    async with asyncio.timeout(DEADLINE):
        response = await gateway.post(exchange.body, headers, token=exchange.token)
        legs = [leg["type"] for leg in await gateway.legs(response)]
    event(f"HTTP {response.status_code}")
    assert response.status_code < 500, response.text
    assert legs, f"no legs for a {response.status_code}"
    assert legs[0].startswith("proxy_request_"), legs
    assert legs[-1].startswith("proxy_response_"), legs


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(exchange=exchanges())
def test_no_generated_body_gets_a_server_error_a_hang_or_an_exchange_without_its_legs(
    running: tuple[asyncio.Runner, InProcessGateway, str], exchange: Exchange
) -> None:
    runner, gateway, session = running
    runner.run(_exchange(gateway, session, exchange))
