"""The public surface is documented: every setting and every CLI command appears in the README."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest
import typer

from lockgate.cli import app
from lockgate.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def command_paths(command: Any, prefix: str = "lockgate") -> list[tuple[str, Any]]:
    if not hasattr(command, "commands"):
        return [(prefix, command)]
    return [p for name, sub in command.commands.items() for p in command_paths(sub, f"{prefix} {name}")]


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
def test_every_cli_command_has_help_and_is_in_the_readme(path: str, command: Any) -> None:
    assert command.help
    assert any(line == path or line.startswith(path + " ") for line in DOCUMENTED), (
        f"{path} is not in the README"
    )
