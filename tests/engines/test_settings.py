"""The one check of a rule engine definition that every surface runs before saving one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lockgate.domain.rules import EngineKind, RuleEngine
from lockgate.engines import EngineDefinitionError, check
from tests.engines.conftest import SECRET

ACCOUNT = json.dumps(
    {
        "client_email": "a@b.iam.gserviceaccount.com",
        "private_key": "-----BEGIN",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
)
VALID = [
    RuleEngine(1, "hook", EngineKind.WEBHOOK, url="https://engine.example.com/verdict?team=3", secret=SECRET),
    RuleEngine(1, "hook", EngineKind.WEBHOOK, url="http://10.1.2.3:8080/verdict"),
    RuleEngine(1, "lakera", EngineKind.LAKERA, secret="k", settings={"project_id": "project-1"}),
    RuleEngine(
        1,
        "bedrock",
        EngineKind.BEDROCK,
        secret="s",
        settings={
            "region": "eu-west-1",
            "guardrail_id": "abc123",
            "guardrail_version": "DRAFT",
            "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        },
    ),
    RuleEngine(
        1,
        "armor",
        EngineKind.MODEL_ARMOR,
        secret=ACCOUNT,
        settings={"project": "acme-guard", "location": "us-central1", "template": "strict"},
    ),
    RuleEngine(
        1, "shields", EngineKind.PROMPT_SHIELDS, url="https://acme.cognitiveservices.azure.com", secret="k"
    ),
]


@pytest.mark.parametrize("engine", VALID, ids=lambda e: e.kind.value)
def test_a_usable_definition_of_each_kind_passes(engine: RuleEngine) -> None:
    check(engine)


def changed(index: int, **changes: Any) -> RuleEngine:
    values = {name: getattr(VALID[index], name) for name in RuleEngine.__slots__}
    return RuleEngine(**(values | changes))


@pytest.mark.parametrize(
    ("engine", "why"),
    [
        (changed(0, url=None), "needs a url"),
        (changed(0, url="ftp://engine.example.com/"), r"http\(s\) URL"),
        (changed(0, url="https://user:pw@engine.example.com/"), "credentials"),
        (changed(0, url="https://engine.example.com/" + "a" * 3000), "2048"),
        (changed(0, secret="not-whsec"), "whsec_"),
        (changed(0, settings={"region": "x"}), "not a setting"),
        (changed(0, headers={"Webhook-Signature": "v1,x"}), "set by the gateway"),
        (changed(0, headers={"Host": "evil"}), "set by the gateway"),
        (changed(0, headers={"X-Key": "a\nb"}), "control character"),
        (changed(0, headers={f"X-{n}": "v" for n in range(17)}), "at most 16"),
        (changed(0, timeout_s=31.0), "timeout_s"),
        (changed(0, timeout_s=0.01), "timeout_s"),
        (changed(0, retries=6), "retries"),
        (changed(2, secret=None), "needs a secret"),
        (changed(2, url="https://api.lakera.ai/v2/guard"), "without a path"),
        (changed(3, settings={**VALID[3].settings, "region": "moon"}), "'region' is malformed"),
        (
            changed(3, settings={k: v for k, v in VALID[3].settings.items() if k != "access_key_id"}),
            "access_key_id",
        ),
        (changed(3, settings={**VALID[3].settings, "guardrail_version": "1/../../x"}), "guardrail_version"),
        (changed(4, secret="{}"), "client_email"),
        (changed(4, secret="not json"), "service account key"),
        (changed(4, settings={**VALID[4].settings, "template": "a/b"}), "'template' is malformed"),
        (changed(5, url=None), "needs a url"),
    ],
)
def test_an_unusable_definition_is_refused_naming_the_field(engine: RuleEngine, why: str) -> None:
    with pytest.raises(EngineDefinitionError, match=why):
        check(engine)


def test_a_refusal_never_shows_a_secret_or_a_header_value() -> None:
    for engine in (changed(0, secret="topsecret-value"), changed(0, headers={"X-Key": "topsecret\r\nvalue"})):
        with pytest.raises(EngineDefinitionError) as refused:
            check(engine)
        assert "topsecret" not in str(refused.value)
