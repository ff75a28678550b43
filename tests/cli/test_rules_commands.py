"""The generated ``rules`` and ``engines`` commands as people type them, on both transports, and
``lockgate rules test`` fetching a gateway's rule through the same client."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from lockgate.settings import Settings
from tests.cli.test_operations import Cli, local, remote  # noqa: F401 - the fixtures
from tests.conftest import admin, people  # noqa: F401 - the fixtures

SECRET = "whsec_Y2xpLXNlY3JldC10aGF0LWlzLWxvbmctZW5vdWdo"
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "lookup", "arguments": {"q": "SSN 123-45-6789"}}}  # fmt: skip


@pytest.fixture(params=["local", "remote"])
def cli(request: pytest.FixtureRequest) -> Cli:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def test_rules_are_created_with_options_listed_in_order_and_tested_from_the_gateway(
    cli: Cli, tmp_path: Path, settings: Settings
) -> None:
    cli("gateways", "create", "eng")
    cli(
        "rules",
        "create",
        "eng",
        "ssn",
        "--pattern",
        r"/\d{3}-\d{2}-\d{4}/",
        "--action",
        "mask",
        "--hook",
        "both",
    )
    hashed = '{"kind": "hash", "hash_chars": 10}'
    cli("rules", "create", "eng", "mail", "--preset", "email", "--action", hashed, "--position", "0")
    (tmp_path / "rule.yaml").write_text(
        yaml.safe_dump(
            {"name": "keys", "detection": {"method": "regex", "presets": ["email"]}, "action": "block"}
        )
    )
    cli("rules", "create", "eng", "keys", "--json", f"@{tmp_path / 'rule.yaml'}")
    listed = orjson.loads(cli("rules", "list", "eng", "-o", "json").stdout)["items"]
    assert [(r["name"], r["position"]) for r in listed] == [("mail", 0), ("ssn", 1), ("keys", 2)]
    assert listed[1]["action"] == {"kind": "mask", "replacement": None, "mask_char": "*", "visible": 0,
                                   "hash_chars": 16, "hash_prefix": "hash:"}  # fmt: skip
    (tmp_path / "call.json").write_bytes(orjson.dumps(CALL))
    tested = cli(
        "rules", "test", "--gateway", "eng", "--rule", "ssn", "--message", str(tmp_path / "call.json")
    )
    assert "***********" in tested.stdout and "passed (changed)" in tested.stdout


def test_a_refused_pattern_names_the_field_and_the_construct(cli: Cli) -> None:
    cli("gateways", "create", "eng")
    refused = cli("rules", "create", "eng", "bad", "--pattern", "(?<=x)y", "--action", "block", code=1)
    assert "detection.patterns.0: lookbehind (?<=" in refused.output


def test_engines_are_created_and_shown_without_their_secret(cli: Cli) -> None:
    cli("engines", "create", "guard", "--url", "https://guard.example.com/check", "--secret", SECRET,
        "--header", "X-Key: hidden-value")  # fmt: skip
    shown = cli("engines", "get", "guard", "-o", "json").stdout
    assert SECRET not in shown and "hidden-value" not in shown
    assert orjson.loads(shown)["header_names"] == ["X-Key"]


def test_testing_a_rule_the_gateway_does_not_have_is_bad_input(cli: Cli, tmp_path: Path) -> None:
    cli("gateways", "create", "eng")
    (tmp_path / "call.json").write_bytes(orjson.dumps(CALL))
    message = str(tmp_path / "call.json")
    missing = cli("rules", "test", "--gateway", "eng", "--rule", "nope", "--message", message, code=2)
    assert "no rule named 'nope'" in missing.output
