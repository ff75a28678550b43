"""The command lines from before the operation table keep working: a token shown once as the last
line, break-glass toggles by name, connections by host and gateway, logs as JSON lines. Run in
process against the test store."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from click.testing import Result
from typer.testing import CliRunner

from lockgate.cli import app
from lockgate.domain.audit import AuditEntry
from lockgate.domain.tokens import hash_token
from lockgate.settings import Settings
from lockgate.store.access import load_access
from lockgate.store.audit_log import save_entries
from tests.conftest import TEST_MASTER_KEY, TEST_VAULT

Cli = Callable[..., Result]


@pytest.fixture
def lockgate(settings: Settings, engine: object, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI on the test store, with a server, a gateway carrying it and a token-based host."""
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LOCKGATE_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("LOCKGATE_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("LOCKGATE_MASTER_KEY", TEST_MASTER_KEY)
    monkeypatch.delenv("LOCKGATE_URL", raising=False)
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(app, list(args))
        assert (result.exit_code == 0) is ok, result.output
        return result

    run(
        "servers", "create", "time", "stdio", "--command", "python", "--arg", "-m", "--arg", "mcp_server_time"
    )
    run("gateways", "create", "engineering")
    run("gateways", "assign", "engineering", "time", "--prefix", "time")
    run("hosts", "create", "feedback-bot")
    return run


def shown(result: Result) -> dict[str, str]:
    """The ``key: value`` lines a command printed for one object."""
    pairs = (line.split(":", 1) for line in result.stdout.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def test_a_token_is_printed_once_as_the_last_line_and_stored_only_hashed(
    lockgate: Cli, settings: Settings, engine: object
) -> None:
    result = lockgate("token", "create", "--host", "feedback-bot", "--gateway", "engineering")
    token = result.stdout.splitlines()[-1]
    assert token.startswith("lg_") and len(token) > 40
    assert "shown once" in result.stderr
    access = load_access(engine, TEST_VAULT, hash_token(settings.key_bytes(), token))  # type: ignore[arg-type]
    assert access is not None and access.principal.host == "feedback-bot"
    listing = lockgate("token", "list").output
    assert token not in listing and "feedback-bot" in listing


def test_toggles_flip_by_name_and_unknown_names_fail(lockgate: Cli) -> None:
    assert shown(lockgate("servers", "disable", "time"))["enabled"] == "false"
    assert shown(lockgate("hosts", "enable", "feedback-bot"))["enabled"] == "true"
    listing = lockgate("servers", "list").stdout.splitlines()
    assert listing[0].split() == ["NAME", "TRANSPORT", "ENABLED", "VERSION"]
    assert listing[1].split()[:3] == ["time", "stdio", "false"]
    refused = lockgate("gateways", "disable", "nope", ok=False)
    assert refused.exit_code == 1 and refused.stderr == "error: no gateway named 'nope'\n"


def test_a_connection_is_toggled_by_its_host_and_gateway(lockgate: Cli) -> None:
    lockgate("token", "create", "--host", "feedback-bot", "--gateway", "engineering")
    disabled = lockgate("connections", "disable", "--host", "feedback-bot", "--gateway", "engineering")
    assert shown(disabled)["enabled"] == "false"
    listing = lockgate("connections", "list", "--host", "feedback-bot").stdout
    assert listing.splitlines()[1].split()[-1] == "false"
    enabled = lockgate(
        "connections", "enable", "--host", "feedback-bot", "--gateway", "engineering", "-o", "json"
    )
    assert orjson.loads(enabled.stdout)["enabled"] is True


def test_revoking_an_unknown_token_fails_with_its_id(lockgate: Cli) -> None:
    refused = lockgate("token", "revoke", "tok_000000000000", ok=False)
    assert refused.exit_code == 1 and "no token with id 'tok_000000000000'" in refused.stderr


def test_logs_print_one_correlation_ids_legs_in_order_as_json_lines(lockgate: Cli, engine: object) -> None:
    legs = ["proxy_request_success", "mcp_request_success", "mcp_response_success", "proxy_response_success"]
    save_entries(engine, [AuditEntry("c-1", leg, float(i)) for i, leg in enumerate(legs)])  # type: ignore[arg-type]
    save_entries(engine, [AuditEntry("c-2", "proxy_request_success", 9.0)])  # type: ignore[arg-type]
    output = lockgate("logs", "-c", "c-1", "-o", "json").stdout
    assert [orjson.loads(line)["type"] for line in output.splitlines()] == legs
    recent = lockgate("logs", "--limit", "2").stdout.splitlines()
    assert recent[0].split()[:2] == ["CREATED_AT", "TYPE"] and "c-2" in recent[1]


def test_a_hosts_connection_link_is_built_on_the_public_url(
    lockgate: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKGATE_PUBLIC_URL", "https://gw.example.com")
    link = shown(lockgate("hosts", "get", "feedback-bot"))["link"]
    assert link.startswith("https://gw.example.com/connect/") and len(link) > len(
        "https://gw.example.com/connect/"
    )
