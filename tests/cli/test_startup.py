"""``lockgate --help`` starts without importing the store, the operation table or the server: the
root lists its commands from a light description and loads a command's module when it is used
(``cli/__init__.py``). Checked on the modules a fresh interpreter loaded, not on a clock."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer

from lockgate.api.table import OPERATIONS
from lockgate.cli import COMMANDS, app, load_command
from lockgate.cli.reference import walk
from tests.conftest import ROOT

HEAVY = (
    "sqlalchemy",
    "alembic",
    "starlette",
    "uvicorn",
    "mcp",
    "httpx",
    "authlib",
    "cryptography",
    "pydantic",
    "lockgate.api",
    "lockgate.store",
    "lockgate.app",
)
PROBE = """
import sys
from lockgate.cli import main
sys.argv = ["lockgate", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("\\n".join(sys.modules), file=sys.stderr)
"""


def loaded_by(*args: str) -> set[str]:
    """The modules a fresh ``lockgate ARGS`` had imported when it exited."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "Commands" in result.stdout, result.stdout
    return set(result.stderr.splitlines())


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_lockgate_help_imports_none_of_the_heavy_modules() -> None:
    assert heavy(loaded_by("--help")) == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_commands_line_in_the_root_is_its_short_help(name: str) -> None:
    command = load_command(name, COMMANDS[name])
    assert command.get_short_help_str(limit=200) == COMMANDS[name].help
    assert command.hidden == COMMANDS[name].hidden


def test_every_group_of_the_operation_table_has_a_root_command() -> None:
    groups = {op.group for op in OPERATIONS} - {"declaration"}  # plan, apply and export
    assert groups <= set(COMMANDS)


def test_the_reference_walks_the_lazily_loaded_commands() -> None:
    paths = [path for path, _, _ in walk(typer.main.get_command(app), "lockgate")]
    assert "lockgate servers features" in paths and "lockgate vault rotate" in paths
