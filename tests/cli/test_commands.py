"""The CLI: init, apply (idempotent, prints what changed), tokens shown once as the last line,
break-glass toggles, logs. Run in process against the test store."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from lockgate.cli import app
from lockgate.domain.audit import AuditEntry
from lockgate.domain.tokens import hash_token
from lockgate.settings import Settings
from lockgate.store.access import load_access
from lockgate.store.audit_log import save_entries

DECLARATION = """
servers:
  - {name: time, transport: stdio, command: python, args: ["-m", "mcp_server_time"]}
  - {name: everything, transport: http, url: "http://127.0.0.1:3001/mcp", headers: {X-Api-Key: "k"}}
gateways:
  - name: engineering
    servers:
      - {server: time, prefix: time}
      - {server: everything}
hosts:
  - {name: feedback-bot, kind: token}
"""


@pytest.fixture
def lockgate(settings: Settings, engine: object, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LOCKGATE_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("LOCKGATE_SECRET_KEY", "test-secret-key")
    runner = CliRunner()

    def run(*args: str, ok: bool = True):  # type: ignore[no-untyped-def]
        result = runner.invoke(app, list(args))
        assert (result.exit_code == 0) is ok, result.output
        return result

    (tmp_path / "lockgate.yaml").write_text(DECLARATION)
    return run


def test_apply_creates_then_reports_no_changes_the_second_time(lockgate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = lockgate("apply", "-f", str(tmp_path / "lockgate.yaml")).output
    assert "+ server time" in first and "+ gateway engineering" in first and "4 changed" in first
    second = lockgate("apply", "-f", str(tmp_path / "lockgate.yaml")).output
    assert "0 changed, 4 unchanged" in second


def test_apply_reports_exactly_what_an_edit_changed(lockgate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "lockgate.yaml"
    lockgate("apply", "-f", str(path))
    path.write_text(DECLARATION.replace("prefix: time", "prefix: clock"))
    output = lockgate("apply", "-f", str(path)).output
    assert "~ gateway engineering (servers)" in output and "1 changed, 3 unchanged" in output


def test_apply_refuses_a_bad_file_naming_the_field(lockgate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.yaml"
    path.write_text("servers:\n  - {name: web, transport: http}\n")
    result = lockgate("apply", "-f", str(path), ok=False)
    assert "servers.0" in result.output and "needs an http(s) 'url'" in result.output


def test_a_token_is_printed_once_as_the_last_line_and_stored_only_hashed(
    lockgate, tmp_path: Path, settings: Settings, engine
) -> None:  # type: ignore[no-untyped-def]
    lockgate("apply", "-f", str(tmp_path / "lockgate.yaml"))
    token = lockgate(
        "token", "create", "--host", "feedback-bot", "--gateway", "engineering"
    ).stdout.splitlines()[-1]
    assert token.startswith("lg_") and len(token) > 40
    access = load_access(engine, hash_token(settings.key_bytes(), token))
    assert access is not None and access.principal.host == "feedback-bot"
    listing = lockgate("token", "list").output
    assert token not in listing and "feedback-bot" in listing


def test_toggles_flip_and_report_and_unknown_names_fail(lockgate, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lockgate("apply", "-f", str(tmp_path / "lockgate.yaml"))
    lockgate("token", "create", "--host", "feedback-bot", "--gateway", "engineering")
    assert "server time disabled" in lockgate("servers", "disable", "time").output
    assert "already disabled" in lockgate("servers", "disable", "time").output
    assert "host feedback-bot was already enabled" in lockgate("hosts", "enable", "feedback-bot").output
    conn = lockgate("connections", "disable", "--host", "feedback-bot", "--gateway", "engineering").output
    assert "disabled" in conn
    assert "no gateway named 'nope'" in lockgate("gateways", "disable", "nope", ok=False).output


def test_revoking_an_unknown_token_fails_with_its_id(lockgate) -> None:  # type: ignore[no-untyped-def]
    assert "no token with id 'tok_missing'" in lockgate("token", "revoke", "tok_missing", ok=False).output


def test_logs_print_one_correlation_ids_legs_in_order_as_json_lines(lockgate, engine) -> None:  # type: ignore[no-untyped-def]
    legs = ["proxy_request_success", "mcp_request_success", "mcp_response_success", "proxy_response_success"]
    save_entries(engine, [AuditEntry("c-1", leg, float(i)) for i, leg in enumerate(legs)])
    save_entries(engine, [AuditEntry("c-2", "proxy_request_success", 9.0)])
    output = lockgate("logs", "-c", "c-1", "-o", "json").output
    assert [orjson.loads(line)["type"] for line in output.splitlines()] == legs
