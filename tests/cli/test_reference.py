"""docs/cli.md is the CLI's reference, generated from the command tree: it must match the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.cli.reference import REGENERATE, render_reference

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_the_cli_reference_is_up_to_date() -> None:
    if DOCS.read_text() != render_reference():
        pytest.fail(f"docs/cli.md is stale: regenerate it with `{REGENERATE}`", pytrace=False)


def test_the_reference_gives_each_commands_usage_arguments_and_options() -> None:
    section = render_reference().split("\n### lockgate gateways assign\n")[1].split("\n### ")[0]
    assert "lockgate gateways assign [OPTIONS] {GATEWAY} {SERVER}" in section
    assert "- `SERVER <str>`: " in section
    assert "- `--prefix <str>`: Namespaces the server's features." in section
    assert "Needs the capability 'Basic gateway management'." in section
