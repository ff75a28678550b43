"""The public surface is documented: every setting appears in the README, every CLI command in the
CLI reference (docs/cli.md, which the README points at), and every command the README shows exists."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from lockgate.cli import app
from lockgate.cli.reference import walk
from lockgate.domain.declaration import AssignmentSpec, Declaration
from lockgate.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
REFERENCE = (ROOT / "docs" / "cli.md").read_text()


def command_paths(command: Any, prefix: str = "lockgate") -> list[tuple[str, Any]]:
    """Every command of the tree, groups included (the root's commands load on demand)."""
    return [(path, sub) for path, sub, _ in walk(command, prefix)]


def documented_commands(text: str) -> set[str]:
    """Every ``lockgate ...`` command line of the README, with ``{a,b}`` alternatives expanded."""
    lines = set()
    for line in re.findall(r"^\s*(lockgate [^#\n]*)", text, flags=re.MULTILINE):
        parts = [p.strip("{}").split(",") if p.startswith("{") else [p] for p in line.split()]
        lines.update(" ".join(words) for words in itertools.product(*parts))
    return lines


COMMANDS = command_paths(typer.main.get_command(app))
DOCUMENTED = documented_commands(README)


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_is_described_and_in_the_readme(name: str) -> None:
    assert Settings.model_fields[name].description
    assert f"`LOCKGATE_{name.upper()}`" in README


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_cli_command_has_help_and_is_in_the_cli_reference(path: str, command: Any) -> None:
    assert command.help
    assert f"\n### {path}\n" in REFERENCE, f"{path} is not in docs/cli.md"


def test_the_readme_points_at_the_cli_reference() -> None:
    assert "](docs/cli.md)" in README


@pytest.mark.parametrize("line", sorted(DOCUMENTED))
def test_every_command_the_readme_shows_exists(line: str) -> None:
    runnable = [p for p, c in COMMANDS if not hasattr(c, "commands") or c.invoke_without_command]
    assert any(line == path or line.startswith(path + " ") for path in runnable), (
        f"the README shows `{line}`, which is no command"
    )


def test_the_readmes_declaration_is_valid_and_documents_every_assignment_key() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README, flags=re.DOTALL)
    declared = [yaml.safe_load(b) for b in blocks if "gateways:" in b]
    assert declared, "the README shows no declaration"
    for data in declared:
        Declaration.model_validate(data)
    for key in AssignmentSpec.model_fields:
        assert f"`{key}`" in README or f" {key}:" in README, f"assignment key {key!r} is not in the README"
