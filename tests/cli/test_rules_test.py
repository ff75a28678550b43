"""``lockgate rules test``: a rule from a file run locally over a sample message with the data
plane's own evaluation; exit code 0 passes, 1 blocked, 2 bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import yaml
from typer.testing import CliRunner

from lockgate.cli import app

SAMPLE = "SSN 123-45-6789, mail ann@example.com"
CALL = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "lookup", "arguments": {"q": SAMPLE}}}  # fmt: skip
RESULT = {"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": "ann@example.com"}]}}


def run(tmp_path: Path, rule: dict[str, Any], message: dict[str, Any] = CALL, *extra: str) -> Any:
    (tmp_path / "rule.yaml").write_text(yaml.safe_dump(rule))
    (tmp_path / "message.json").write_bytes(orjson.dumps(message))
    files = ["--rule-file", str(tmp_path / "rule.yaml"), "--message", str(tmp_path / "message.json")]
    return CliRunner().invoke(app, ["rules", "test", *files, *extra])


def regex(action: Any, **fields: Any) -> dict[str, Any]:
    return {"name": "ssn", "detection": {"method": "regex", "patterns": [r"/\d{3}-\d{2}-\d{4}/"]},
            "action": action, **fields}  # fmt: skip


def test_a_blocking_rule_exits_1_naming_the_rule_and_never_the_match(tmp_path: Path) -> None:
    result = run(tmp_path, regex("block"))
    assert result.exit_code == 1
    assert "blocked by rule 'ssn': matched 1 time" in result.stdout
    assert "rule 'ssn': block (1 match)" in result.stdout


def test_a_modifying_rule_exits_0_and_prints_the_message_after_it(tmp_path: Path) -> None:
    result = run(tmp_path, regex({"kind": "mask", "visible": 4}))
    assert result.exit_code == 0, result.output
    assert "*******6789" in result.stdout and "123-45-6789" not in result.stdout
    assert "passed (changed)" in result.stdout


def test_a_response_rule_runs_on_the_response_leg(tmp_path: Path) -> None:
    rule = {"name": "mail", "hook": "response", "detection": {"method": "regex", "presets": ["email"]},
            "action": "redact"}  # fmt: skip
    result = run(tmp_path, rule, RESULT)
    assert result.exit_code == 0 and "ann@example.com" not in result.stdout
    assert "does not apply" in run(tmp_path, rule, CALL).stdout


def test_a_notification_during_a_call_is_run_on_the_response_leg_over_its_own_strings(tmp_path: Path) -> None:
    note = {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": SAMPLE}}
    rule = regex("redact", hook="response")
    result = run(tmp_path, rule, note)
    assert result.exit_code == 0, result.output
    assert "123-45-6789" not in result.stdout and "passed (changed)" in result.stdout


def test_hash_says_its_key_is_a_throwaway(tmp_path: Path) -> None:
    result = run(tmp_path, regex("hash"))
    assert result.exit_code == 0 and "hash:" in result.stdout
    assert "throwaway key" in result.stderr


def test_a_pattern_that_cannot_run_is_bad_input_naming_the_construct(tmp_path: Path) -> None:
    rule = {**regex("block"), "detection": {"method": "regex", "patterns": ["(?<=SSN )\\d+"]}}
    result = run(tmp_path, rule)
    assert result.exit_code == 2
    assert "detection.patterns.0: lookbehind (?<=" in result.stderr


def test_an_engine_rule_is_not_run_locally_and_points_to_engines_test(tmp_path: Path) -> None:
    rule = {"name": "guard", "detection": {"method": "engine", "engine": "lakera"}}
    result = run(tmp_path, rule)
    assert result.exit_code == 2
    assert "not run locally" in result.stderr and "lockgate engines test lakera" in result.stderr


def test_a_message_that_is_no_json_rpc_is_bad_input(tmp_path: Path) -> None:
    assert run(tmp_path, regex("block"), {"hello": "world"}).exit_code == 2


def test_a_rule_file_and_a_gateway_together_are_bad_input(tmp_path: Path) -> None:
    assert run(tmp_path, regex("block"), CALL, "--gateway", "eng", "--rule", "ssn").exit_code == 2
