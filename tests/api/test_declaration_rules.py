"""Rules and rule engines in the declaration: planned, applied in list order, exported without
secrets and round-tripped; judged as the API judges them; guarded by the same capabilities."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from lockgate.domain.capabilities import Capability
from lockgate.domain.rules import LIMITS
from lockgate.store.schema import admin_events
from tests.conftest import Api, People, RunningGateway

SECRET = "whsec_ZGVjbGFyZWQtc2VjcmV0LW5ldmVyLXNob3du"
ENGINE = {"name": "guard", "url": "https://guard.example.com/check", "secret": SECRET,
          "headers": {"X-Key": "declared-header-value"}}  # fmt: skip
RULES = [
    {"name": "ssn", "detection": {"method": "regex", "patterns": [r"\d{3}-\d{2}-\d{4}"]}, "action": "block"},
    {"name": "mail", "hook": "response", "detection": {"method": "regex", "presets": ["email"]},
     "action": {"kind": "mask", "visible": 4}, "assignments": ["time"]},
    {"name": "checked", "detection": {"method": "engine", "engine": "guard"}, "failure_mode": "fail_open"},
]  # fmt: skip


def declaration(rules: list[dict[str, Any]] | None = RULES, **engine: Any) -> dict[str, Any]:
    gateway: dict[str, Any] = {"name": "g", "servers": [{"server": "time"}]}
    if rules is not None:
        gateway["rules"] = rules
    return {
        "servers": [{"name": "time", "transport": "http", "url": "https://time.example.com/mcp"}],
        "rule_engines": [{**ENGINE, **engine}],
        "gateways": [gateway],
    }


def apply(api: Api, document: dict[str, Any]) -> Any:
    return api.post("/declaration/apply", json={"declaration": document})


def test_rules_are_applied_in_order_and_exported_without_secrets_then_round_trip(admin: Api) -> None:
    assert apply(admin, declaration()).status_code == 200
    listed = admin.get("/gateways/g/rules").json()["items"]
    assert [(r["name"], r["position"]) for r in listed] == [("ssn", 0), ("mail", 1), ("checked", 2)]
    assert listed[2]["failure_mode"] == "fail_open" and listed[1]["action"]["visible"] == 4
    exported = admin.get("/declaration").json()
    assert exported["rule_engines"][0]["secret"] is None
    assert exported["rule_engines"][0]["headers"] == {"X-Key": None}
    assert SECRET not in str(exported) and "declared-header-value" not in str(exported)
    assert [r["name"] for r in exported["gateways"][0]["rules"]] == ["ssn", "mail", "checked"]
    again = admin.post("/declaration/plan", json={"declaration": exported}).json()
    assert again["changes"] == []
    assert admin.get("/engines/guard").json()["has_secret"] is True


def test_a_reordered_list_is_one_change_and_moves_the_rules(admin: Api) -> None:
    apply(admin, declaration())
    planned = admin.post("/declaration/plan", json={"declaration": declaration(list(reversed(RULES)))}).json()
    assert [(c["kind"], [f["field"] for f in c["fields"]]) for c in planned["changes"]] == [
        ("gateway", ["rules"])
    ]
    apply(admin, declaration(list(reversed(RULES))))
    assert [r["name"] for r in admin.get("/gateways/g/rules").json()["items"]] == ["checked", "mail", "ssn"]


def test_a_gateway_without_rules_keeps_its_stored_ones(admin: Api) -> None:
    apply(admin, declaration())
    assert admin.post("/declaration/plan", json={"declaration": declaration(None)}).json()["changes"] == []


def test_a_declared_rule_is_judged_as_the_api_judges_it(admin: Api) -> None:
    bad = [{"name": "x", "detection": {"method": "regex", "patterns": ["a", "(?<!b)c"]}, "action": "block"}]
    answer = apply(admin, declaration(bad))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["field"] == "gateways.0.rules.0.detection.patterns.1"
    assert "lookbehind" in error["message"]
    unknown = [{"name": "x", "detection": {"method": "regex", "presets": ["nope"]}, "action": "block"}]
    assert (
        apply(admin, declaration(unknown)).json()["error"]["field"]
        == "gateways.0.rules.0.detection.presets.0"
    )
    elsewhere = [{**RULES[0], "assignments": ["other"]}]
    assert apply(admin, declaration(elsewhere)).json()["error"]["field"] == "gateways.0.rules.0.assignments"
    assert admin.get("/gateways").json()["items"] == []


def test_a_declared_engine_url_is_refused_as_the_api_refuses_it(admin: Api) -> None:
    for url in ("http://guard.example.com/", "https://192.168.1.5/", "https://[::1]/"):
        answer = apply(admin, declaration(url=url))
        assert (answer.status_code, answer.json()["error"]["field"]) == (422, "rule_engines.0.url"), url


def test_an_exported_engine_declared_elsewhere_is_a_422_naming_the_secrets_it_would_carry(admin: Api) -> None:
    apply(admin, declaration())
    exported = admin.get("/declaration").json()
    exported["rule_engines"][0]["url"] = "https://attacker.example.net/collect"
    for planned in ("/declaration/plan", "/declaration/apply"):
        answer = admin.post(planned, json={"declaration": exported})
        assert (answer.status_code, answer.json()["error"]["field"]) == (422, "rule_engines.0.secret")
        assert "rule_engines.0.secret, rule_engines.0.headers.X-Key" in answer.json()["error"]["message"]
    assert admin.get("/engines/guard").json()["url"] == ENGINE["url"]
    half = declaration(url="https://b.example.net/", headers={"X-Key": None})
    answer = apply(admin, half)
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "rule_engines.0.headers.X-Key")


def test_an_engine_rules_name_is_not_moved_and_once_unnamed_moves_with_its_secrets_given_again(
    admin: Api,
) -> None:
    apply(admin, declaration())
    refused = apply(admin, declaration(url="https://b.example.net/", headers={"X-Key": "new-header-value"}))
    assert refused.status_code == 409 and "g/checked" in refused.json()["error"]["message"]
    assert admin.get("/engines/guard").json()["url"] == ENGINE["url"]
    unnamed = RULES[:2]
    assert apply(admin, declaration(unnamed)).status_code == 200
    moved = apply(
        admin, declaration(unnamed, url="https://b.example.net/", headers={"X-Key": "new-header-value"})
    )
    assert moved.status_code == 200, moved.text
    shown = admin.get("/engines/guard").json()
    assert (shown["url"], shown["has_secret"], shown["header_names"]) == (
        "https://b.example.net/",
        True,
        ["X-Key"],
    )
    without_headers = apply(admin, declaration(unnamed, url="https://c.example.net/", headers={}))
    assert without_headers.status_code == 200, without_headers.text
    assert admin.get("/engines/guard").json()["header_names"] == []


def test_rules_need_basic_gateway_management_and_engines_manage_integrations(
    admin: Api, people: People
) -> None:
    apply(admin, declaration())
    people.role(
        "config-keeper",
        [Capability.EXPORT_AND_APPLY_CONFIGURATION, Capability.VIEW_AND_USE_ALL_GATEWAYS,
         Capability.VIEW_ALL_SERVERS],
    )  # fmt: skip
    keeper = people.user("kim@example.com", "config-keeper")
    answer = apply(keeper, declaration(RULES[:2]))
    assert (answer.status_code, answer.json()["error"]["capability"]) == (
        403,
        Capability.BASIC_GATEWAY_MANAGEMENT.value,
    )
    answer = apply(keeper, declaration(retries=4))
    assert (answer.status_code, answer.json()["error"]["capability"]) == (
        403,
        Capability.MANAGE_INTEGRATIONS.value,
    )


def test_applied_changes_record_events_without_engine_secrets(admin: Api, lockgate: RunningGateway) -> None:
    apply(admin, declaration())
    with lockgate.engine.begin() as conn:
        events = conn.execute(select(admin_events)).all()
    assert {e.kind for e in events} >= {"rule_engine", "gateway"}
    assert all(
        SECRET not in str(e._mapping) and "declared-header-value" not in str(e._mapping) for e in events
    )


def test_pruning_an_engine_rules_still_name_is_a_409(admin: Api) -> None:
    apply(admin, declaration())
    document = declaration()
    document["rule_engines"] = []
    answer = admin.post("/declaration/apply", json={"declaration": document, "prune": True})
    assert answer.status_code in (409, 422)
    assert admin.get("/engines/guard").status_code == 200


def test_a_declaration_leaving_defaults_out_plans_nothing_the_second_time(admin: Api) -> None:
    rules = [*RULES, {"name": "pii", "detection": {"method": "presidio", "entities": ["EMAIL_ADDRESS"]},
                      "action": "replace"}]  # fmt: skip
    assert apply(admin, declaration(rules)).status_code == 200
    assert admin.get("/gateways/g/rules/pii").json()["failure_mode"] == "fail_closed"
    assert admin.post("/declaration/plan", json={"declaration": declaration(rules)}).json()["changes"] == []


def test_a_declared_engine_is_bounded_as_the_api_bounds_it(admin: Api) -> None:
    answer = apply(admin, declaration(secret="whsec_" + "A" * LIMITS.engine_secret_chars))
    assert answer.status_code == 400 and "rule_engines.0.secret" in answer.text
    assert admin.get("/engines").json()["items"] == []
