"""The MCP inspector CLI (npm, legacy era) lists and calls a tool through the gateway with a bearer header."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import ROOT, RunningGateway

pytestmark = pytest.mark.e2e
INSPECTOR = ROOT / "node_modules" / ".bin" / "mcp-inspector-cli"


def inspect(url: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    # The CLI finds its own package.json through the working directory's parent: run it from node_modules.
    argv = [
        str(INSPECTOR),
        "--cli",
        url,
        "--transport",
        "http",
        "--header",
        f"Authorization: Bearer {token}",
        *args,
    ]
    return subprocess.run(
        argv, cwd=ROOT / "node_modules", capture_output=True, text=True, timeout=60, check=False
    )


def json_output(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout[result.stdout.index("{") :])


@pytest.fixture
def gateway(lockgate: RunningGateway, sdk_http_url: str) -> RunningGateway:
    lockgate.declare(
        {
            "servers": [{"name": "fixture", "transport": "http", "url": sdk_http_url}],
            "gateways": [
                {"name": "g", "servers": [{"server": "fixture", "provisioning": "allow_all", "prefix": "fx"}]}
            ],
            "hosts": [{"name": "inspector"}],
        }
    )
    return lockgate


def test_inspector_cli_lists_and_calls_a_tool_with_a_bearer_header(gateway: RunningGateway) -> None:
    token = gateway.token("inspector", "g")
    listed = json_output(inspect(gateway.url("g"), token, "--method", "tools/list"))
    assert "fx__echo" in {tool["name"] for tool in listed["tools"]}  # type: ignore[union-attr]
    called = json_output(
        inspect(
            gateway.url("g"),
            token,
            "--method",
            "tools/call",
            "--tool-name",
            "fx__echo",
            "--tool-arg",
            "text=hello",
        )
    )
    assert called["content"] == [{"type": "text", "text": "hello"}]


def test_inspector_cli_is_refused_without_a_valid_token(gateway: RunningGateway) -> None:
    result = inspect(gateway.url("g"), "lg_wrong", "--method", "tools/list")
    assert result.returncode != 0
    assert "the API token is not valid" in result.stdout + result.stderr
