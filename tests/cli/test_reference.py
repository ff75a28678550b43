"""docs/cli.md is the CLI's reference, generated from the command tree: it must match the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from lockgate.api.admin_mcp import describe_tool
from lockgate.api.openapi import build_openapi
from lockgate.api.table import OPERATIONS
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


def user_facing_texts() -> list[str]:
    """What people and agents read: the CLI reference, the OpenAPI document and the admin MCP
    tools, each operation's documentation and schemas included."""
    tools = [describe_tool(op).model_dump_json() for op in OPERATIONS]
    return [render_reference(), orjson.dumps(build_openapi(OPERATIONS)).decode(), *tools]


def test_no_help_text_cites_a_document_users_do_not_have() -> None:
    """Sections of RFCs and of the MCP specification are public; the product spec is not."""
    for text in user_facing_texts():
        assert "product spec" not in text
        for cited in re.finditer("§", text):
            before = text[max(0, cited.start() - 40) : cited.start()]
            assert "RFC" in before or "MCP" in before, text[cited.start() - 80 : cited.end() + 20]
