"""What ``lockgate demo`` prints works when pasted into a shell at the repository root, where
``./dev demo`` runs it: the MCP inspector command, and ``lockgate`` whether or not it is on PATH.
What the demo (and ``lockgate init``) sets up is recorded as admin events, as any change is."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from lockgate.api.table import BY_ID
from lockgate.cli import app
from lockgate.cli.client import operator_actor
from lockgate.cli.context import local_client
from lockgate.cli.demo import (
    GATEWAY,
    HOST,
    demo_declaration,
    find_node_modules,
    format_instructions,
    resolve_program,
    set_up,
)
from lockgate.settings import Settings
from tests.conftest import (
    ROOT,
    TEST_MASTER_KEY,
    RunningGateway,
    lockgate_on_a_socket,  # noqa: F401 - the printed commands run in a shell
)

BASE = "http://127.0.0.1:8080"


def printed(gateway: RunningGateway, token: str) -> str:
    base = gateway.url("demo").removesuffix("/mcp/demo")
    return format_instructions(base, token, None, "lockgate", find_node_modules().parent)


def section(text: str, title: str) -> str:
    """The indented lines under ``title:``."""
    return text.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0]


@pytest.mark.e2e
def test_the_inspector_command_the_demo_prints_lists_the_tools_pasted_at_the_repository_root(
    lockgate: RunningGateway, sdk_http_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lockgate.declare(
        {
            "servers": [{"name": "fixture", "transport": "http", "url": sdk_http_url}],
            "gateways": [
                {
                    "name": "demo",
                    "servers": [{"server": "fixture", "provisioning": "allow_all", "prefix": "fx"}],
                }
            ],
            "hosts": [{"name": "demo-agent"}],
        }
    )
    monkeypatch.chdir(ROOT)
    command = section(printed(lockgate, lockgate.token("demo-agent", "demo")), "MCP inspector")
    result = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"name": "fx__echo"' in result.stdout


def test_lockgate_is_named_by_a_path_that_runs_from_the_working_directory_when_not_on_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scripts = Path(sys.executable).parent
    monkeypatch.chdir(scripts.parents[1])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    program = resolve_program()
    assert program == f"{scripts.parent.name}/{scripts.name}/lockgate"  # .venv/bin/lockgate
    assert os.access(program, os.X_OK)
    text = format_instructions(BASE, "lg_t", "lgp_a", program, ROOT / "node_modules")
    assert f"LOCKGATE_TOKEN=lgp_a {program} gateways list" in text
    assert f"`. {Path(program).parent}/activate` puts it there" in text


def test_lockgate_is_named_plainly_when_path_finds_this_installation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:/usr/bin:/bin")
    assert resolve_program() == "lockgate"
    assert "not on PATH" not in format_instructions(BASE, "lg_t", None, "lockgate", ROOT / "node_modules")


def test_the_demos_set_up_is_recorded_as_admin_events_by_the_instance_operator(
    settings: Settings, engine: Engine
) -> None:
    client = local_client(settings, engine)
    declaration = demo_declaration(find_node_modules(), "http://127.0.0.1:9/mcp")
    changes, token = set_up(client, declaration)
    assert changes == [
        "+ server time",
        "+ server memory",
        "+ server everything",
        f"+ host {HOST}",
        f"+ gateway {GATEWAY}",  # its assignments open (a provisioning change), each shown
        *(
            f'    servers.{name}.provisioning: "allow_selected" → "allow_all"'
            for name in ("time", "memory", "everything")
        ),
    ]
    assert token.startswith("lg_")
    events = orjson.loads(client.call(BY_ID["events_list"], {}) or b"{}")["items"]
    recorded = {(e["operation"], e["kind"], e["name"]) for e in events}
    assert {("declaration_apply", "server", "time"), ("declaration_apply", "gateway", GATEWAY)} <= recorded
    assert any(operation == "tokens_create" for operation, _, _ in recorded)
    assert {e["actor"] for e in events} == {operator_actor().email}
    assert token not in orjson.dumps(events).decode()


def test_the_first_super_admin_is_recorded_as_an_admin_event_of_init(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LOCKGATE_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("LOCKGATE_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("LOCKGATE_MASTER_KEY", TEST_MASTER_KEY)
    monkeypatch.delenv("LOCKGATE_URL", raising=False)
    runner = CliRunner()
    token = runner.invoke(app, ["init", "--admin-email", "ada@example.com"]).stdout.splitlines()[-1]
    listed = runner.invoke(app, ["events", "list", "-o", "json"])
    events = orjson.loads(listed.stdout)["items"]
    assert [(e["actor"], e["operation"], e["kind"], e["name"]) for e in events] == [
        (operator_actor().email, "init", "user", "ada@example.com")
    ]
    assert events[0]["after"]["role"] == "Super admin" and token not in listed.stdout
    again = runner.invoke(app, ["init", "--admin-email", "bob@example.com"])
    assert again.exit_code == 0 and "already exists" in again.stderr
    assert len(orjson.loads(runner.invoke(app, ["events", "list", "-o", "json"]).stdout)["items"]) == 1
