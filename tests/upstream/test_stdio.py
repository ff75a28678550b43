"""stdio servers' environment: an identity's values are data, never a loader's or interpreter's
configuration, and never override the server's own environment."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from lockgate.domain.upstream_values import UpstreamValueError
from lockgate.upstream.base import Client, JsonObject, UpstreamUnavailableError
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
