"""stdio servers: an identity's values are data, never a loader's or interpreter's configuration, and
never override the server's own environment; one line per message, each bounded, and what is over the
bound never wedges the server."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import anyio
import pytest

from lockgate.domain.mcp import Client, JsonObject
from lockgate.domain.upstream_values import UpstreamValueError
from lockgate.upstream.base import ResponseTooLargeError, UpstreamUnavailableError
from lockgate.upstream.stdio import StdioUpstream, server_environment

pytestmark = pytest.mark.anyio
SECRET = "sk-planted-stdio-77c1"


async def _ignore(_message: JsonObject) -> None:
    return None


def _dumping_env(out: Path) -> tuple[str, ...]:
    """A process that writes its environment to ``out`` and exits (it is no MCP server)."""
    code = f"import json, os; open({str(out)!r}, 'w').write(json.dumps(dict(os.environ)))"
    return ("-c", code)


def test_an_identity_sets_only_declared_variables_and_never_overrides_the_servers_own() -> None:
    env = server_environment(
        {"MODE": "server", "API_URL": "https://api"}, {"API_TOKEN": SECRET}, {"API_TOKEN"}
    )
    assert env["API_TOKEN"] == SECRET and env["MODE"] == "server"
    assert env.get("PATH") == os.environ.get("PATH")
    with pytest.raises(UpstreamValueError, match="'OTHER' is not one this server's identities may set"):
        server_environment({}, {"OTHER": SECRET}, {"API_TOKEN"})


@pytest.mark.parametrize("name", ["LD_PRELOAD", "PYTHONWARNINGS", "NODE_OPTIONS", "BROWSER", "PATH"])
def test_a_denied_variable_is_refused_even_when_declared(name: str) -> None:
    with pytest.raises(UpstreamValueError) as refused:
        server_environment({}, {name: SECRET}, {name})
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize("name", ["LD_PRELOAD", "PYTHONSTARTUP", "PATH", "UNDECLARED"])
async def test_a_stdio_server_never_starts_with_an_identity_setting_a_refused_variable(
    tmp_path: Path, name: str
) -> None:
    out = tmp_path / "env.json"
    upstream = StdioUpstream(
        "local",
        sys.executable,
        _dumping_env(out),
        {},
        None,
        _ignore,
        identity={name: str(tmp_path / "payload")},
        identity_env={"API_TOKEN", name} - {"UNDECLARED"},
    )
    with pytest.raises(UpstreamUnavailableError, match="was not started") as refused:
        await upstream.connect(Client())
    assert refused.value.sent is False
    assert not out.exists() and upstream.pid is None
    await upstream.close()


async def test_a_stdio_server_starts_with_its_identitys_declared_variable_under_its_own(
    tmp_path: Path,
) -> None:
    out = tmp_path / "env.json"
    upstream = StdioUpstream(
        "local",
        sys.executable,
        _dumping_env(out),
        {"MODE": "server"},
        None,
        _ignore,
        identity={"API_TOKEN": SECRET},
        identity_env={"API_TOKEN"},
    )
    with pytest.raises(UpstreamUnavailableError):  # it exits without answering initialize
        await upstream.connect(Client())
    await upstream.close()
    seen = json.loads(out.read_text())
    assert (seen["API_TOKEN"], seen["MODE"]) == (SECRET, "server")
    assert "LD_PRELOAD" not in seen


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
