"""The published contract of webhook rule engines (docs/rule-engines.md): the JSON Schemas hold what
the client sends and what an engine may answer, and the doc's example engine really works."""

from __future__ import annotations

import importlib.util
import json
import re
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from types import ModuleType
from typing import Any

import jsonschema
import pytest
from pytest_httpserver import HTTPServer

from lockgate.domain.rules import Direction, EngineKind, VerdictKind
from lockgate.engines import EngineFailure, Engines
from lockgate.engines.settings import FIELDS
from tests.conftest import ROOT
from tests.engines.conftest import CALL, RESULT, SECRET, asking, webhook

pytestmark = pytest.mark.anyio

DOCS = ROOT / "docs"
EXAMPLE = DOCS / "examples" / "rule_engine.py"


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((DOCS / "schemas" / f"rule-engine-{name}.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


async def test_what_the_client_sends_validates_against_the_request_schema(
    server: HTTPServer, engines: Engines
) -> None:
    server.expect_request("/hook").respond_with_json({"verdict": "pass"})
    url = server.url_for("/hook")
    await engines.ask(webhook(url), asking())
    await engines.ask(webhook(url), asking(RESULT, Direction.RESPONSE))
    await engines.test(webhook(url))

    sent = [json.loads(request.get_data()) for request, _ in server.log]
    assert len(sent) == 3
    for envelope in sent:
        validator("request").validate(envelope)
    assert not validator("request").is_valid(
        {**sent[0], "metadata": {**sent[0]["metadata"], "direction": "up"}}
    )


@pytest.mark.parametrize(
    "answer",
    [
        {"verdict": "pass"},
        {"verdict": "block", "reason": "a card number"},
        {"verdict": "modify", "modifiedPayload": {"body": CALL}},
        {"verdict": "modify", "reason": "masked", "modifiedPayload": {"body": RESULT}},
        {"verdict": "error", "reason": "model overloaded"},
    ],
)
def test_the_response_schema_accepts_the_four_verdicts(answer: dict[str, Any]) -> None:
    validator("response").validate(answer)


@pytest.mark.parametrize(
    "answer",
    [
        {},
        {"verdict": "allow"},
        {"verdict": "block", "reason": 42},
        {"verdict": "modify"},
        {"verdict": "modify", "modifiedPayload": {}},
        {"verdict": "modify", "modifiedPayload": {"body": {"id": 7, "result": {}}}},
        {"verdict": "modify", "modifiedPayload": {"body": {"jsonrpc": "2.0", "id": 7}}},
        {
            "verdict": "modify",
            "modifiedPayload": {"body": {**RESULT, "result": {"content": [{"text": "x"}]}}},
        },
    ],
)
def test_the_response_schema_refuses_malformed_verdicts(answer: dict[str, Any]) -> None:
    assert not validator("response").is_valid(answer)


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rule_engine_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example() -> Iterator[str]:
    module = load_example()
    module.SECRET = SECRET
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), module.Engine)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


async def test_the_example_engine_passes_blocks_and_modifies_through_the_client(
    example: str, engines: Engines
) -> None:
    bluebird = {**CALL, "params": {"name": "send_email", "arguments": {"body": "Project Bluebird ships"}}}

    passed = await engines.ask(webhook(example), asking())
    blocked = await engines.ask(webhook(example), asking(bluebird))
    modified = await engines.ask(webhook(example), asking(RESULT, Direction.RESPONSE))

    assert passed.kind is VerdictKind.PASS
    assert (blocked.kind, blocked.reason) == (VerdictKind.BLOCK, "mentions project Bluebird")
    assert modified.kind is VerdictKind.MODIFY and modified.body is not None
    assert modified.body["result"]["content"][0]["text"] == "sent to [email]"


async def test_the_example_engine_refuses_a_request_it_cannot_verify(example: str, engines: Engines) -> None:
    other = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    with pytest.raises(EngineFailure, match="HTTP 401"):
        await engines.ask(webhook(example, secret=other), asking())


def test_the_doc_shows_the_example_engine_as_it_is_tested() -> None:
    guide = (DOCS / "rule-engines.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", guide, re.S)
    assert EXAMPLE.read_text() in blocks


def test_the_doc_points_at_both_schemas() -> None:
    guide = (DOCS / "rule-engines.md").read_text()
    assert "schemas/rule-engine-request.schema.json" in guide
    assert "schemas/rule-engine-response.schema.json" in guide


def test_the_doc_has_a_section_for_each_managed_kind_naming_each_of_its_settings() -> None:
    guide = (DOCS / "rule-engines.md").read_text()
    sections = re.split(r"\n### ", guide)
    for kind, fields in FIELDS.items():
        if kind is EngineKind.WEBHOOK:
            continue
        [section] = [s for s in sections if f"(`{kind.value}`)" in s.splitlines()[0]]
        for name in fields:
            assert f"| `{name}` |" in section, (kind, name)
