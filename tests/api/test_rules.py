"""A gateway's rules through the JSON API: created in order at a position, changed in part, moved,
toggled, deleted; every definition judged by the one validation (each refusal a 422 naming the
field), the capability and the gateway's scope checked, each change an admin event."""

from __future__ import annotations

import sys
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from lockgate.domain.capabilities import Capability
from lockgate.domain.rules import LIMITS
from lockgate.store.schema import admin_events, rule_keys
from tests.conftest import Api, People, RunningGateway

R = "/gateways/eng/rules"
SSN = {"method": "regex", "patterns": [r"/\d{3}-\d{2}-\d{4}/"]}


@pytest.fixture
def eng(admin: Api) -> Api:
    """Gateway ``eng`` with the fixture server assigned as ``local``."""
    fixture = {"transport": "stdio", "command": sys.executable, "args": ["-m", "tests.fixtures.sdk_server"]}
    assert admin.post("/servers", json={"name": "local", **fixture}).status_code == 201
    assert admin.post("/gateways", json={"name": "eng"}).status_code == 201
    assert admin.post("/gateways/eng/assignments", json={"server": "local"}).status_code == 201
    return admin


def create(api: Api, **fields: Any) -> dict[str, Any]:
    answer = api.post(R, json={"detection": SSN, "action": "block", **fields})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def refusal(answer: Any) -> tuple[int, str | None, str]:
    body = answer.json()["error"]
    return answer.status_code, body.get("field") or body.get("capability"), body["message"]


def names(api: Api) -> list[str]:
    return [r["name"] for r in api.get(R).json()["items"]]


def test_a_rule_is_created_with_its_defaults_and_shown_as_stored(eng: Api) -> None:
    made = create(eng, name="ssn")
    assert made["gateway"] == "eng" and made["position"] == 0 and made["version"] == 1
    assert made["hook"] == "request" and made["enabled"] is True and made["failure_mode"] is None
    assert made["methods"] == ["tools/call"] and made["action"]["kind"] == "block"
    assert eng.get(R + "/ssn").json() == made


def test_the_first_rule_of_a_gateway_makes_its_hash_key(eng: Api, lockgate: RunningGateway) -> None:
    create(eng, name="ssn", action={"kind": "hash", "hash_chars": 12})
    with lockgate.engine.begin() as conn:
        assert conn.execute(select(rule_keys.c.gateway_id)).scalars().all() != []


def test_rules_keep_a_dense_order_through_create_at_a_position_move_and_delete(eng: Api) -> None:
    for name in ("a", "b", "c"):
        create(eng, name=name)
    create(eng, name="first", position=0)
    create(eng, name="before-c", before="c")
    assert names(eng) == ["first", "a", "b", "before-c", "c"]
    assert eng.post(R + "/c/move", json={"position": 0}).status_code == 200
    assert eng.post(R + "/first/move", json={"before": "before-c"}).status_code == 200
    assert names(eng) == ["c", "a", "b", "first", "before-c"]
    assert eng.delete(R + "/a").status_code == 204
    items = eng.get(R).json()["items"]
    assert [(r["name"], r["position"]) for r in items] == [("c", 0), ("b", 1), ("first", 2), ("before-c", 3)]


def test_an_update_changes_only_what_it_gives_and_checks_the_version(eng: Api) -> None:
    create(eng, name="ssn", hook="both")
    changed = eng.patch(R + "/ssn", json={"action": {"kind": "mask", "visible": 4}})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["hook"] == "both" and body["action"]["kind"] == "mask" and body["version"] == 2
    stale = eng.patch(R + "/ssn", json={"alerts": True}, headers={"If-Match": "1"})
    assert stale.status_code == 412


def test_disable_and_enable_keep_the_rule_and_its_place(eng: Api) -> None:
    create(eng, name="ssn")
    assert eng.post(R + "/ssn/disable").json()["enabled"] is False
    assert eng.post(R + "/ssn/enable").json()["enabled"] is True


def test_shorthands_make_the_detection(eng: Api) -> None:
    answer = eng.post(R, json={"name": "mail", "presets": ["email"], "action": "redact"})
    assert answer.json()["detection"] == {"method": "regex", "patterns": [], "presets": ["email"]}
    presidio = eng.post(R, json={"name": "pii", "entities": ["EMAIL_ADDRESS"], "action": "replace"})
    assert presidio.json()["failure_mode"] == "fail_closed"


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        (
            {"detection": {"method": "regex", "patterns": ["(?<=a)b"]}},
            "detection.patterns.0",
            "lookbehind (?<=",
        ),
        (
            {"detection": {"method": "regex", "patterns": ["a", r"(a)\1"]}},
            "detection.patterns.1",
            "backreference",
        ),
        (
            {"detection": {"method": "regex", "presets": ["nope"]}},
            "detection.presets.0",
            "unknown ready-made",
        ),
        ({"detection": {"method": "regex"}}, "detection", "a pattern or a preset"),
        (
            {"detection": {"method": "presidio", "entities": ["PERSON"]}},
            "detection.entities.0",
            "spaCy model",
        ),
        (
            {"detection": {"method": "presidio", "entities": ["SHOE_SIZE"]}},
            "detection.entities.0",
            "no entity",
        ),
        ({"detection": {"method": "presidio", "threshold": 1.5}}, "detection.threshold", "from 0 to 1"),
        ({"detection": {"method": "engine", "engine": "ghost"}, "action": None}, "detection.engine", "ghost"),
        ({"action": {"kind": "mask", "mask_char": "ab"}}, "action.mask_char", "exactly one"),
        ({"action": {"kind": "mask", "mask_char": " "}}, "action.mask_char", "not a space"),
        ({"action": {"kind": "mask", "visible": LIMITS.visible_max + 1}}, "action.visible", "from 0"),
        ({"action": {"kind": "hash", "hash_chars": 4}}, "action.hash_chars", "from 8"),
        ({"action": {"kind": "hash", "hash_prefix": "a\nb"}}, "action.hash_prefix", "printable"),
        ({"action": {"kind": "replace", "replacement": "x" * 300}}, "action.replacement", "at most"),
        ({"failure_mode": "fail_open"}, "failure_mode", "regex rule"),
        ({"methods": ["prompts/get"]}, "methods", "tools/call"),
        ({"methods": ["tools/call", "tools/list"]}, "methods", "tools/list"),
        ({"assignments": ["elsewhere"]}, "assignments", "elsewhere"),
        ({"presets": ["email"]}, "detection", "one detection"),
    ],
)
def test_a_definition_that_cannot_run_is_a_422_naming_the_field(
    eng: Api, fields: dict[str, Any], field: str, words: str
) -> None:
    answer = eng.post(R, json={"name": "bad", "detection": SSN, "action": "block", **fields})
    status, named, message = refusal(answer)
    assert (status, named) == (422, field), message
    assert words in message
    assert names(eng) == []


def test_an_engine_rule_has_no_action(eng: Api) -> None:
    made = eng.post("/engines", json={"name": "guard", "url": "https://guard.example.com/check"})
    assert made.status_code == 201, made.text
    ok = eng.post(R, json={"name": "g", "engine": "guard"})
    assert ok.status_code == 201 and ok.json()["failure_mode"] == "fail_closed"
    refused = eng.post(R, json={"name": "h", "engine": "guard", "action": "block"})
    assert refusal(refused)[:2] == (422, "action")


def test_a_gateway_holds_a_bounded_number_of_rules(eng: Api) -> None:
    for index in range(LIMITS.rules_per_gateway):
        create(eng, name=f"r{index}")
    assert eng.post(R, json={"name": "one-more", "detection": SSN, "action": "block"}).status_code == 422


def test_a_taken_name_is_a_409(eng: Api) -> None:
    create(eng, name="ssn")
    assert eng.post(R, json={"name": "ssn", "detection": SSN, "action": "block"}).status_code == 409


def test_rules_need_basic_gateway_management(eng: Api, people: People) -> None:
    people.role("Viewer", [Capability.VIEW_AND_USE_ALL_GATEWAYS])
    viewer = people.user("vic@example.com", "Viewer")
    status, capability, _ = refusal(viewer.get(R))
    assert (status, capability) == (403, Capability.BASIC_GATEWAY_MANAGEMENT.value)


def test_a_gateway_the_caller_may_not_use_is_a_404(eng: Api, people: People) -> None:
    people.role("Keeper", [Capability.BASIC_GATEWAY_MANAGEMENT])
    keeper = people.user("kim@example.com", "Keeper")
    assert keeper.get(R).status_code == 404
    assert keeper.post(R, json={"name": "x", "detection": SSN, "action": "block"}).status_code == 404


def test_without_a_token_the_api_answers_401(eng: Api) -> None:
    assert Api(eng.base, "", eng.http).get(R).status_code == 401


def test_each_change_records_an_admin_event(eng: Api, lockgate: RunningGateway) -> None:
    create(eng, name="ssn")
    eng.patch(R + "/ssn", json={"alerts": True})
    eng.delete(R + "/ssn")
    with lockgate.engine.begin() as conn:
        rows = conn.execute(select(admin_events).where(admin_events.c.kind == "rule")).all()
    assert [(r.operation, r.name) for r in rows] == [
        ("rules_create", "eng/ssn"),
        ("rules_update", "eng/ssn"),
        ("rules_delete", "eng/ssn"),
    ]


def test_a_new_detection_of_another_method_drops_what_only_the_old_one_had(eng: Api) -> None:
    eng.post("/engines", json={"name": "guard", "url": "https://guard.example.com/check"})
    eng.post(R, json={"name": "pii", "entities": ["EMAIL_ADDRESS"], "action": "replace"})
    to_engine = eng.patch(R + "/pii", json={"engine": "guard"})
    assert to_engine.status_code == 200, to_engine.text
    assert to_engine.json()["action"] is None and to_engine.json()["failure_mode"] == "fail_closed"
    to_regex = eng.patch(R + "/pii", json={"presets": ["email"], "action": "redact"})
    assert to_regex.status_code == 200, to_regex.text
    assert to_regex.json()["failure_mode"] is None


def test_an_explicit_null_failure_mode_goes_back_to_the_default(eng: Api) -> None:
    eng.post(
        R, json={"name": "pii", "entities": ["EMAIL_ADDRESS"], "action": "mask", "failure_mode": "fail_open"}
    )
    assert eng.patch(R + "/pii", json={"failure_mode": None}).json()["failure_mode"] == "fail_closed"


def test_the_admin_mcp_refuses_a_pattern_with_the_same_words(eng: Api) -> None:
    arguments = {"gateway": "eng", "name": "bad", "patterns": ["(?<=a)b"], "action": "block"}
    answer = eng.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
              "params": {"name": "rules_create", "arguments": arguments}},
        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"},
    )  # fmt: skip
    result = answer.json()["result"]
    assert result["isError"] is True
    error = orjson.loads(result["content"][0]["text"])["error"]
    assert error["field"] == "detection.patterns.0" and "lookbehind (?<=" in error["message"]


def test_a_rule_named_as_people_name_it_is_addressed_by_that_name_on_every_operation(eng: Api) -> None:
    name = "Redact emails in results"
    made = eng.post(R, json={"name": name, "presets": ["email"], "action": "redact"})
    assert made.status_code == 201, made.text
    assert eng.get(f"{R}/{name}").json()["name"] == name
    assert eng.patch(f"{R}/{name}", json={"alerts": True}).status_code == 200
    assert eng.delete(f"{R}/{name}").status_code == 204
    refused = eng.post(R, json={"name": "a/b", "presets": ["email"], "action": "redact"})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "name"


def test_an_assignment_a_rule_is_limited_to_cannot_be_unassigned_until_the_rule_lets_go(eng: Api) -> None:
    made = eng.post(
        R, json={"name": "local only", "presets": ["email"], "action": "redact", "assignments": ["local"]}
    )
    assert made.status_code == 201, made.text
    refused = eng.delete("/gateways/eng/assignments/local")
    assert refused.status_code == 409 and "local only" in refused.json()["error"]["message"]
    assert eng.patch(f"{R}/local only", json={"assignments": []}).status_code == 200
    assert eng.delete("/gateways/eng/assignments/local").status_code == 200
