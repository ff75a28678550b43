"""Gateway rules end to end (issue 12): real servers from the registries, the Python SDK's client in both
eras, rules and rule engines as a declaration gives them, a real webhook engine on a socket.

- A request rule blocks an SSN in a tool's arguments: the client gets an error naming the rule, the
  audit a ``policy_enforced_abort`` leg, and npm's ``server-memory`` never receives it (its graph and its
  file stay empty).
- A Presidio response rule replaces an email in a result with ``<EMAIL_ADDRESS>``.
- Every action on each leg, through npm's ``server-everything`` ``echo`` (what the server echoes shows
  what it received).
- Order and chaining; a webhook engine's ``modify``; fail-open and fail-closed when the engine hangs,
  errs, answers garbage or more than 16 MiB; alert-only lets the call through and raises the alert.
- No matched value is at rest anywhere in the store (planted values, every text column searched).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError
from sqlalchemy import Engine, select

from lockgate.settings import Settings
from lockgate.store.schema import admin_events, audit_entries, metadata
from tests.conftest import NPM, Api, RunningGateway, child, free_port, mcp_client

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

ERAS = ["legacy", "2026-07-28"]
SSN = "078-05-1120"
EMAIL = "grace.hopper@example.org"
SECRET = "whsec_" + base64.b64encode(b"rule-engine-test-secret-32-bytes").decode()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, with loopback allowed as an operator would allow an internal engine."""
    return settings.model_copy(update={"egress_allowed_networks": ["127.0.0.0/8"]})


@pytest.fixture(scope="module")
def engine_url() -> Iterator[str]:
    """``tests/fixtures/rule_engine.py`` on a socket: one behaviour per path."""
    port = free_port()
    argv = [sys.executable, "-m", "tests.fixtures.rule_engine", str(port)]
    with child(argv, "^ready", env={"RULE_ENGINE_SECRET": SECRET}):
        yield f"http://127.0.0.1:{port}"


def regex_rule(
    name: str, pattern: str, action: dict[str, Any], hook: str = "request", **more: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "hook": hook,
        "detection": {"method": "regex", "patterns": [pattern]},
        "action": action,
        **more,
    }


def declare(
    lockgate: RunningGateway, server: dict[str, Any], rules: list[dict[str, Any]], **more: Any
) -> None:
    lockgate.declare(
        {
            "servers": [{"name": "upstream", **server}],
            "gateways": [
                {
                    "name": "g",
                    "servers": [{"server": "upstream", "provisioning": "allow_all"}],
                    "rules": rules,
                }
            ],
            "hosts": [{"name": "agent"}],
            **more,
        }
    )


def everything(everything_http_url: str) -> dict[str, Any]:
    return {"transport": "http", "url": everything_http_url}


async def echo(client: Client, message: str) -> str:
    result = await client.call_tool("echo", {"message": message})
    assert not result.is_error, result
    return str(result.content[0].text)  # type: ignore[union-attr]


def legs(lockgate: RunningGateway, kind: str | None = None) -> list[Any]:
    lockgate.flush_audit()
    query = select(audit_entries).order_by(audit_entries.c.id)
    if kind is not None:
        query = query.where(audit_entries.c.type == kind)
    with lockgate.engine.connect() as conn:
        return list(conn.execute(query))


def outcomes(lockgate: RunningGateway) -> list[dict[str, Any]]:
    """Every rule outcome any leg recorded, in order."""
    return [o for leg in legs(lockgate) if leg.rules for o in json.loads(leg.rules)]


def store_dump(engine: Engine) -> str:
    """Every value of every table, as text: what is at rest."""
    parts = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                parts.extend(str(value) for value in row)
    return "\n".join(parts)


# -- block on the request leg -----------------------------------------------------------------------
@pytest.mark.parametrize("era", ERAS)
async def test_a_request_rule_blocks_an_ssn_and_the_server_never_receives_it(
    lockgate: RunningGateway, tmp_path: Path, era: str
) -> None:
    memory_file = tmp_path / "memory.jsonl"
    server = {
        "transport": "stdio",
        "command": "node",
        "args": [str(NPM / "server-memory" / "dist" / "index.js")],
        "env": {"MEMORY_FILE_PATH": str(memory_file)},
    }
    rule = {
        "name": "no SSNs",
        "hook": "request",
        "detection": {"method": "regex", "presets": ["us_ssn"]},
        "action": {"kind": "block"},
    }
    declare(lockgate, server, [rule])
    entity = {"name": "Grace", "entityType": "person", "observations": [f"SSN {SSN}"]}
    async with mcp_client(lockgate.url("g"), lockgate.token("agent", "g"), mode=era) as client:
        with pytest.raises(MCPError) as blocked:
            await client.call_tool("create_entities", {"entities": [entity]})
        assert "no SSNs" in blocked.value.error.message and SSN not in str(blocked.value.error)
        graph = await client.call_tool("read_graph", {})
    assert SSN not in str(graph.content) and "Grace" not in str(graph.content)
    assert not memory_file.exists() or SSN not in memory_file.read_text()
    aborts = legs(lockgate, "policy_enforced_abort")
    assert len(aborts) == 1 and aborts[0].feature_name == "create_entities"
    correlation = aborts[0].correlation_id
    assert not [
        leg for leg in legs(lockgate) if leg.correlation_id == correlation and leg.type.startswith("mcp_")
    ]
    assert SSN not in store_dump(lockgate.engine)


# -- Presidio on the response leg -------------------------------------------------------------------
@pytest.mark.parametrize("era", ERAS)
async def test_a_presidio_response_rule_replaces_an_email_with_its_entity_type(
    lockgate: RunningGateway, everything_http_url: str, era: str
) -> None:
    rule = {
        "name": "redact emails in results",
        "hook": "response",
        "detection": {"method": "presidio", "entities": ["EMAIL_ADDRESS"]},
        "action": {"kind": "replace"},
        "failure_mode": "fail_closed",
    }
    declare(lockgate, everything(everything_http_url), [rule])
    async with mcp_client(lockgate.url("g"), lockgate.token("agent", "g"), mode=era) as client:
        answer = await echo(client, f"write to {EMAIL} today")
    assert answer == "Echo: write to <EMAIL_ADDRESS> today"
    assert [(o["rule"], o["action"], o["matches"]) for o in outcomes(lockgate)] == [
        ("redact emails in results", "replace", 1)
    ]


# -- every action on each leg -----------------------------------------------------------------------
KEY_TEXT = "AKIAIOSFODNN7EXAMPLE"
ACTIONS = {
    "redact": ({"kind": "redact"}, "key  here"),
    "replace": ({"kind": "replace", "replacement": "[aws key]"}, "key [aws key] here"),
    "mask": ({"kind": "mask", "mask_char": "#", "visible": 4}, "key " + "#" * 16 + "MPLE here"),
    "hash": ({"kind": "hash", "hash_chars": 12}, re.compile(r"^key hash:[0-9a-f]{12} here$")),
}


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("hook", ["request", "response"])
@pytest.mark.parametrize("action", [*ACTIONS, "block"])
async def test_each_action_acts_on_its_leg(
    lockgate: RunningGateway, everything_http_url: str, era: str, hook: str, action: str
) -> None:
    spec, expected = ACTIONS.get(action, ({"kind": "block"}, None))
    declare(
        lockgate, everything(everything_http_url), [regex_rule("aws keys", r"AKIA[0-9A-Z]{16}", spec, hook)]
    )
    async with mcp_client(lockgate.url("g"), lockgate.token("agent", "g"), mode=era) as client:
        if expected is None:
            with pytest.raises(MCPError) as blocked:
                await echo(client, f"key {KEY_TEXT} here")
            assert "aws keys" in blocked.value.error.message and KEY_TEXT not in str(blocked.value.error)
            assert len(legs(lockgate, "policy_enforced_abort")) == 1
            return
        answer = (await echo(client, f"key {KEY_TEXT} here")).removeprefix("Echo: ")
    if isinstance(expected, re.Pattern):
        assert expected.match(answer), answer
    else:
        assert answer == expected
    assert [(o["action"], o["matches"]) for o in outcomes(lockgate)] == [(action, 1)]
    if hook == "request":  # nothing holds it any more: the server was given the transformed text
        assert KEY_TEXT not in store_dump(lockgate.engine)
    else:  # the request carried it, untouched by a response rule; no leg of the answer does
        answers = [leg for leg in legs(lockgate) if leg.type.startswith(("mcp_response", "proxy_response"))]
        assert answers and not [leg for leg in answers if KEY_TEXT in (leg.body or "")]


async def test_a_hash_is_the_keyed_hmac_so_equal_values_correlate(
    lockgate: RunningGateway, everything_http_url: str
) -> None:
    declare(
        lockgate, everything(everything_http_url), [regex_rule("h", r"AKIA[0-9A-Z]{16}", {"kind": "hash"})]
    )
    async with mcp_client(lockgate.url("g"), lockgate.token("agent", "g")) as client:
        first, second = await echo(client, KEY_TEXT), await echo(client, f"again {KEY_TEXT}")
    digest = first.removeprefix("Echo: hash:")
    assert second == f"Echo: again hash:{digest}" and len(digest) == 16
    assert digest != hashlib.sha256(KEY_TEXT.encode()).hexdigest()[:16]  # keyed, not a bare hash
    assert digest != hmac.new(b"", KEY_TEXT.encode(), hashlib.sha256).hexdigest()[:16]


# -- order and chaining -----------------------------------------------------------------------------
@pytest.mark.parametrize("era", ERAS)
async def test_rules_run_in_order_and_each_sees_what_the_previous_one_produced(
    lockgate: RunningGateway, everything_http_url: str, era: str
) -> None:
    first = regex_rule("alpha to beta", "alpha", {"kind": "replace", "replacement": "beta"})
    second = regex_rule("mask beta", "beta", {"kind": "mask"}, hook="response")
    declare(lockgate, everything(everything_http_url), [first, second])
    async with mcp_client(lockgate.url("g"), lockgate.token("agent", "g"), mode=era) as client:
        assert await echo(client, "alpha") == "Echo: ****"
    declare(
        lockgate,
        everything(everything_http_url),
        [
            second,
            regex_rule("beta to alpha", "beta", {"kind": "replace", "replacement": "alpha"}, hook="response"),
        ],
    )
    async with mcp_client(lockgate.url("g"), lockgate.token("agent", "g"), mode=era) as client:
        assert await echo(client, "beta") == "Echo: ****"  # masked first: the second finds nothing


# -- webhook engines --------------------------------------------------------------------------------
def engine_rule(hook: str, failure_mode: str = "fail_closed", **more: Any) -> dict[str, Any]:
    return {
        "name": "engine rule",
        "hook": hook,
        "detection": {"method": "engine", "engine": "hook"},
        "failure_mode": failure_mode,
        **more,
    }


def with_engine(
    lockgate: RunningGateway, everything_http_url: str, url: str, rules: list[dict[str, Any]]
) -> None:
    engines = [
        {"name": "hook", "kind": "webhook", "url": url, "secret": SECRET, "timeout_s": 2, "retries": 1}
    ]
    declare(lockgate, everything(everything_http_url), rules, rule_engines=engines)


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("hook", ["request", "response"])
async def test_a_webhook_engines_modify_verdict_replaces_the_message(
    lockgate: RunningGateway, everything_http_url: str, engine_url: str, era: str, hook: str
) -> None:
    with_engine(lockgate, everything_http_url, f"{engine_url}/modify", [engine_rule(hook)])
    async with mcp_client(lockgate.url("g"), lockgate.token("agent", "g"), mode=era) as client:
        assert await echo(client, "a sensitive note") == "Echo: a [removed by engine] note"
    assert [(o["action"], o["matches"]) for o in outcomes(lockgate)] == [("modify", 1)]


@pytest.mark.parametrize("era", ERAS)
@pytest.mark.parametrize("behaviour", ["hang", "error", "garbage", "huge", "status500"])
@pytest.mark.parametrize("failure_mode", ["fail_open", "fail_closed"])
async def test_an_engine_that_cannot_decide_follows_the_rules_failure_mode(
    lockgate: RunningGateway,
    everything_http_url: str,
    engine_url: str,
    behaviour: str,
    failure_mode: str,
    era: str,
) -> None:
    with_engine(
        lockgate, everything_http_url, f"{engine_url}/{behaviour}", [engine_rule("request", failure_mode)]
    )
    async with mcp_client(lockgate.url("g"), lockgate.token("agent", "g"), mode=era) as client:
        if failure_mode == "fail_open":
            assert await echo(client, "hello") == "Echo: hello"
        else:
            with pytest.raises(MCPError) as blocked:
                await echo(client, "hello")
            assert "engine rule" in blocked.value.error.message
    assert [o["action"] for o in outcomes(lockgate)] == [failure_mode.replace("fail_", "failed_")]


@pytest.mark.parametrize("era", ERAS)
async def test_an_engine_block_verdict_stops_the_call_with_the_engines_reason(
    lockgate: RunningGateway, everything_http_url: str, engine_url: str, era: str
) -> None:
    with_engine(lockgate, everything_http_url, f"{engine_url}/block", [engine_rule("response")])
    async with mcp_client(lockgate.url("g"), lockgate.token("agent", "g"), mode=era) as client:
        with pytest.raises(MCPError) as blocked:
            await echo(client, "hello")
    expected = "Response blocked by the gateway's rule 'engine rule': the engine says no"
    assert blocked.value.error.message == expected
    assert len(legs(lockgate, "policy_enforced_abort")) == 1


@pytest.mark.parametrize(
    ("behaviour", "verdict", "failure"), [("block", "block", None), ("status500", None, "HTTP 500")]
)
def test_the_built_in_test_asks_the_engine_signed_and_shows_its_answer(
    lockgate: RunningGateway,
    admin: Api,
    engine_url: str,
    behaviour: str,
    verdict: str | None,
    failure: str | None,
) -> None:
    url = f"{engine_url}/{behaviour}"
    lockgate.declare(
        {"rule_engines": [{"name": "hook", "kind": "webhook", "url": url, "secret": SECRET, "retries": 0}]}
    )
    shown = admin.post("/engines/hook/test").json()
    assert (shown["ok"], shown["verdict"]) == (failure is None, verdict)
    assert failure is None or failure in shown["reason"]
    assert SECRET not in str(shown)


# -- alert-only ------------------------------------------------------------------------------------
@pytest.mark.parametrize("era", ERAS)
async def test_alert_only_lets_the_call_through_and_raises_the_alert(
    lockgate: RunningGateway, everything_http_url: str, era: str
) -> None:
    rule = regex_rule("watch SSNs", r"\d{3}-\d{2}-\d{4}", {"kind": "mask", "visible": 4}, alerts=True)
    declare(lockgate, everything(everything_http_url), [rule])
    async with mcp_client(lockgate.url("g"), lockgate.token("agent", "g"), mode=era) as client:
        assert await echo(client, f"ssn {SSN}") == "Echo: ssn *******1120"
    lockgate.flush_audit()
    lockgate.on_loop(lockgate.app.state.lockgate.alerts.flush())
    with lockgate.engine.connect() as conn:
        alerts = list(conn.execute(select(admin_events).where(admin_events.c.kind == "alert")))
    assert [(a.name, a.after["action"], a.after["matches"]) for a in alerts] == [("watch SSNs", "mask", 1)]
    assert SSN not in store_dump(lockgate.engine)
