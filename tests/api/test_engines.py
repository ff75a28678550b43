"""Rule engines through the JSON API and the admin MCP: secrets write-only (never answered, never in
an admin event), URLs held to https and public addresses unless the operator allows a network,
kind-specific settings checked, deletion refused while rules name the engine, and the Test."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from lockgate.domain.capabilities import Capability
from lockgate.domain.rules import RuleEngine, Verdict, VerdictKind
from lockgate.store.schema import admin_events, rule_engines
from tests.conftest import Api, People, RunningGateway

SECRET = "whsec_c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1sZWFr"
OTHER_SECRET = "whsec_YW5vdGhlci1zZWNyZXQtbmV2ZXItc2hvd24tZWl0aGVy"
HEADER_VALUE = "Bearer never-shown-header-value"
ENGINE = {"name": "guard", "url": "https://guard.example.com/check", "secret": SECRET,
          "headers": {"Authorization": HEADER_VALUE}}  # fmt: skip


def make(admin: Api, **fields: Any) -> dict[str, Any]:
    answer = admin.post("/engines", json={**ENGINE, **fields})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def refusal(answer: Any) -> tuple[int, str | None]:
    body = answer.json()["error"]
    return answer.status_code, body.get("field") or body.get("capability")


def test_an_engine_is_shown_without_its_secret_or_header_values(admin: Api) -> None:
    made = make(admin)
    assert made["has_secret"] is True and made["header_names"] == ["Authorization"]
    assert made["kind"] == "webhook" and made["timeout_s"] == 30.0 and made["used_by"] == []
    for shown in (made, admin.get("/engines/guard").json(), admin.get("/engines").json()):
        assert SECRET not in str(shown) and HEADER_VALUE not in str(shown)


def test_secrets_are_sealed_and_never_in_admin_events(admin: Api, lockgate: RunningGateway) -> None:
    make(admin)
    admin.patch("/engines/guard", json={"secret": OTHER_SECRET, "retries": 3})
    with lockgate.engine.begin() as conn:
        stored = conn.execute(select(rule_engines)).one()
        events = conn.execute(select(admin_events).where(admin_events.c.kind == "rule_engine")).all()
    planted = (SECRET, OTHER_SECRET, HEADER_VALUE)
    assert not any(p in str(stored._mapping) for p in planted)
    assert len(events) == 2
    assert not any(p in str(e._mapping) for e in events for p in planted)


def test_an_update_keeps_what_it_does_not_give_and_an_empty_secret_removes_it(admin: Api) -> None:
    make(admin)
    kept = admin.patch("/engines/guard", json={"timeout_s": 5, "headers": {"Authorization": None}}).json()
    assert kept["has_secret"] is True and kept["timeout_s"] == 5 and kept["header_names"] == ["Authorization"]
    assert admin.patch("/engines/guard", json={"secret": ""}).json()["has_secret"] is False


def test_moving_an_engine_without_giving_its_secrets_again_is_a_422_naming_them(admin: Api) -> None:
    made = make(admin)
    moved = admin.patch("/engines/guard", json={"url": "https://attacker.example.net/collect"})
    assert refusal(moved) == (422, "secret")
    assert "secret, headers.Authorization" in moved.json()["error"]["message"]
    assert HEADER_VALUE not in moved.text and SECRET not in moved.text
    half = admin.patch("/engines/guard", json={"url": "https://b.example.net/", "secret": OTHER_SECRET})
    assert refusal(half) == (422, "headers.Authorization")
    kept_value = {"url": "https://b.example.net/", "secret": OTHER_SECRET, "headers": {"Authorization": None}}
    assert refusal(admin.patch("/engines/guard", json=kept_value)) == (422, "headers.Authorization")
    assert admin.get("/engines/guard").json() == made


def test_a_move_that_gives_the_secrets_again_or_removes_them_is_saved(admin: Api) -> None:
    make(admin)
    given = {
        "url": "https://b.example.net/",
        "secret": OTHER_SECRET,
        "headers": {"Authorization": "Bearer b"},
    }
    moved = admin.patch("/engines/guard", json=given)
    assert moved.status_code == 200, moved.text
    assert moved.json()["url"] == "https://b.example.net/" and moved.json()["has_secret"] is True
    removed = admin.patch(
        "/engines/guard", json={"url": "https://c.example.net/", "secret": "", "headers": {}}
    )
    assert removed.status_code == 200, removed.text
    assert (removed.json()["has_secret"], removed.json()["header_names"]) == (False, [])
    staying = admin.patch("/engines/guard", json={"url": "https://c.example.net/", "retries": 1})
    assert staying.status_code == 200, staying.text


SERVICE_ACCOUNT = (
    '{"client_email": "armor@p.iam.gserviceaccount.com", "private_key": "(key)", '
    '"token_uri": "https://oauth2.googleapis.com/token"}'
)
BEDROCK = {
    "region": "us-east-1",
    "guardrail_id": "gr1",
    "guardrail_version": "1",
    "access_key_id": "AKIAEXAMPLE0000000",
}
ARMOR = {"project": "my-project-1", "location": "us-central1", "template": "t1"}


@pytest.mark.parametrize(
    ("made", "move"),
    [
        ({"kind": "lakera", "url": None, "secret": "lakera-key"}, {"url": "https://lakera.example.net"}),
        ({"kind": "prompt_shields", "url": "https://cs.example.com", "secret": "azure-key"},
         {"url": "https://cs.example.net"}),
        ({"kind": "bedrock", "url": None, "secret": "aws-secret", "settings": BEDROCK},
         {"settings": {**BEDROCK, "region": "eu-west-1"}}),
        ({"kind": "model_armor", "url": None, "secret": SERVICE_ACCOUNT, "settings": ARMOR},
         {"settings": {**ARMOR, "location": "europe-west4"}}),
        ({"kind": "model_armor", "url": None, "secret": SERVICE_ACCOUNT, "settings": ARMOR},
         {"settings": {**ARMOR, "project": "their-project"}}),
    ],
)  # fmt: skip
def test_a_managed_engine_keeps_its_key_only_where_it_was_given(
    admin: Api, made: dict[str, Any], move: dict[str, Any]
) -> None:
    make(admin, headers={}, **made)
    assert refusal(admin.patch("/engines/guard", json=move)) == (422, "secret")
    again = admin.patch("/engines/guard", json={**move, "secret": made["secret"]})
    assert again.status_code == 200, again.text


def test_a_managed_engine_change_that_stays_put_keeps_its_key(admin: Api) -> None:
    make(admin, kind="bedrock", url=None, secret="aws-secret", headers={}, settings=BEDROCK)
    other_guardrail = admin.patch("/engines/guard", json={"settings": {**BEDROCK, "guardrail_id": "gr2"}})
    assert other_guardrail.status_code == 200 and other_guardrail.json()["has_secret"] is True


def test_moving_an_engine_on_the_admin_mcp_needs_its_secrets_again_too(admin: Api) -> None:
    make(admin)
    arguments = {"engine": "guard", "url": "https://attacker.example.net/collect"}
    answer = admin.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
              "params": {"name": "engines_update", "arguments": arguments}},
        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"},
    )  # fmt: skip
    result = answer.json()["result"]
    assert result["isError"] is True and "secret, headers.Authorization" in result["content"][0]["text"]
    assert admin.get("/engines/guard").json()["url"] == ENGINE["url"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "http://guard.example.com/check"}, "url"),
        ({"url": "https://127.0.0.1/check"}, "url"),
        ({"url": "https://10.1.2.3/check"}, "url"),
        ({"url": "https://169.254.169.254/latest"}, "url"),
        ({"url": "https://localhost/check"}, "url"),
        ({"url": "https://user:pw@guard.example.com/"}, "url"),
        ({"url": None}, "url"),
        ({"timeout_s": 31}, "timeout_s"),
        ({"retries": 6}, "retries"),
        ({"headers": {"Bad Header": "x"}}, "headers"),
        ({"headers": {"X-Ok": "a\r\nb"}}, "headers"),
        ({"kind": "bedrock", "url": None, "settings": {"region": "eu-west-1"}}, "settings"),
        ({"settings": {"unknown": "x"}}, "settings"),
        ({"kind": "lakera", "url": None, "secret": None}, "secret"),
    ],
)
def test_an_engine_that_cannot_be_saved_is_a_422_naming_the_field(
    admin: Api, fields: dict[str, Any], field: str
) -> None:
    assert refusal(admin.post("/engines", json={**ENGINE, **fields})) == (422, field)
    assert admin.get("/engines").json()["items"] == []


def test_a_private_engine_url_is_refused_on_the_admin_mcp_too(admin: Api) -> None:
    answer = admin.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/call",
              "params": {"name": "engines_create", "arguments": {**ENGINE, "url": "https://10.0.0.8/"}}},
        headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-06-18"},
    )  # fmt: skip
    result = answer.json()["result"]
    assert result["isError"] is True
    assert "private address" in result["content"][0]["text"]
    assert admin.get("/engines").json()["items"] == []


def test_deleting_renaming_or_moving_an_engine_rules_name_is_a_409_naming_them(admin: Api) -> None:
    fixture = {"transport": "stdio", "command": sys.executable, "args": ["-m", "tests.fixtures.sdk_server"]}
    assert admin.post("/servers", json={"name": "local", **fixture}).status_code == 201
    admin.post("/gateways", json={"name": "eng"})
    make(admin)
    assert admin.post("/gateways/eng/rules", json={"name": "checked", "engine": "guard"}).status_code == 201
    deleted = admin.delete("/engines/guard")
    assert deleted.status_code == 409 and "eng/checked" in deleted.json()["error"]["message"]
    assert admin.patch("/engines/guard", json={"name": "other"}).status_code == 409
    moved = admin.patch("/engines/guard", json={"url": "https://elsewhere.example.org/", "secret": SECRET})
    assert moved.status_code == 409 and "eng/checked" in moved.json()["error"]["message"]
    assert admin.patch("/engines/guard", json={"timeout_s": 5}).status_code == 200  # a change in place
    assert admin.get("/engines/guard").json()["used_by"] == ["eng/checked"]
    admin.delete("/gateways/eng/rules/checked")
    assert admin.delete("/engines/guard").status_code == 204


def test_engines_need_manage_integrations(admin: Api, people: People) -> None:
    people.role("Gateway keeper", [Capability.BASIC_GATEWAY_MANAGEMENT])
    keeper = people.user("kim@example.com", "Gateway keeper")
    assert refusal(keeper.get("/engines")) == (403, Capability.MANAGE_INTEGRATIONS.value)
    assert refusal(keeper.post("/engines", json=ENGINE)) == (403, Capability.MANAGE_INTEGRATIONS.value)


@dataclass
class Answer:
    verdict: Verdict | None
    failure: str | None
    duration_ms: float


class FakeEngines:
    """Answers the Test with ``answer``, recording the engines asked."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.asked: list[RuleEngine] = []

    async def test(self, engine: RuleEngine) -> Answer:
        self.asked.append(engine)
        return self.answer


def test_the_test_asks_the_engine_with_its_secret_and_shows_the_verdict(
    admin: Api, lockgate: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(admin)
    fake = FakeEngines(Answer(Verdict(VerdictKind.BLOCK, "looks like an injection"), None, 12.5))
    api = lockgate.app.api
    real = api.make_context
    monkeypatch.setattr(api, "make_context", lambda *a: _with_engines(real(*a), fake))
    answer = admin.post("/engines/guard/test")
    assert answer.json() == {
        "engine": "guard",
        "ok": True,
        "verdict": "block",
        "reason": "looks like an injection",
        "duration_ms": 12.5,
    }
    assert fake.asked[0].secret == SECRET and fake.asked[0].headers == {"Authorization": HEADER_VALUE}


def test_the_test_of_a_failing_engine_shows_why(
    admin: Api, lockgate: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    make(admin)
    fake = FakeEngines(Answer(None, "the engine did not answer within 30 s", 30000.0))
    api = lockgate.app.api
    real = api.make_context
    monkeypatch.setattr(api, "make_context", lambda *a: _with_engines(real(*a), fake))
    shown = admin.post("/engines/guard/test").json()
    assert (shown["ok"], shown["verdict"]) == (False, None)
    assert shown["reason"] == "the engine did not answer within 30 s"


def _with_engines(ctx: Any, engines: FakeEngines) -> Any:
    ctx.engines = engines
    return ctx
