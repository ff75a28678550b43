"""stdio servers: one line per message, each bounded; what is over the bound never wedges the server."""

from __future__ import annotations

import logging
import sys

import anyio
import pytest

from lockgate.upstream.base import Client, JsonObject, ResponseTooLargeError
from lockgate.upstream.stdio import StdioUpstream

pytestmark = pytest.mark.anyio
LIMIT = 16 * 1024
DEADLINE = 20.0
# A legacy server whose one tool echoes ``text`` back (``server/discover`` is not a method it knows).
ECHO_SERVER = """
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if "id" not in message:
        continue
    if message["method"] == "initialize":
        reply = {"result": {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "e"}}}
    elif message["method"] == "tools/call":
        reply = {"result": {"content": [{"type": "text", "text": message["params"]["arguments"]["text"]}]}}
    else:
        reply = {"error": {"code": -32601, "message": "no such method"}}
    print(json.dumps({"jsonrpc": "2.0", "id": message["id"], **reply}), flush=True)
"""
# Answers every request with an empty result, after writing more stderr than a pipe holds (100 kB in
# 100 lines) and then a stderr line over the limit: a server whose stderr is no longer drained blocks
# on the next write. The second answer comes only once the first long line was read.
NOISY_SERVER = """
import json, sys
for line in sys.stdin:
    message = json.loads(line)
    if "id" not in message:
        continue
    sys.stderr.write(("n" * 999 + "\\n") * 100 + "x" * 20000 + "\\n")
    sys.stderr.flush()
    result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "noisy"}}
    print(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}), flush=True)
"""


async def ignore(_message: JsonObject) -> None:
    pass


def stdio(args: tuple[str, ...]) -> StdioUpstream:
    return StdioUpstream("local", sys.executable, args, {}, None, ignore, max_line_bytes=LIMIT)


async def test_a_line_over_the_limit_fails_the_call_is_logged_without_its_content_and_the_server_restarts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    upstream, client = stdio(("-c", ECHO_SERVER)), Client()
    try:
        with anyio.fail_after(DEADLINE):
            await upstream.connect(client)
            first_pid = upstream.pid
            with pytest.raises(ResponseTooLargeError) as refused:
                await upstream.request(
                    "tools/call", {"name": "echo", "arguments": {"text": "s3cr3t" * LIMIT}}, client
                )
            assert refused.value.limit == LIMIT and "'local'" in str(refused.value)
            warning = next(r for r in caplog.records if r.levelno == logging.WARNING and "over" in r.message)
            assert f"over {LIMIT} bytes" in warning.getMessage() and "s3cr3t" not in caplog.text
            answer = await upstream.request(
                "tools/call", {"name": "echo", "arguments": {"text": "ok"}}, client
            )
            assert answer["result"]["content"][0]["text"] == "ok"
            assert upstream.pid not in (None, first_pid)
    finally:
        await upstream.close()


async def test_a_stderr_line_over_the_limit_is_dropped_and_stderr_keeps_draining() -> None:
    upstream, client = stdio(("-c", NOISY_SERVER)), Client()
    try:
        with anyio.fail_after(DEADLINE):
            await upstream.connect(client)
            for _ in range(3):
                assert "result" in await upstream.request("ping", None, client)
        assert f"[a stderr line over {LIMIT} bytes, dropped]" in upstream.stderr_tail
    finally:
        await upstream.close()
