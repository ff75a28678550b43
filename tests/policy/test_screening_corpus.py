"""The screening corpus: poisoned definitions from published write-ups are withheld, and the real
servers' definitions, as they list them, are not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from lockgate.domain.features import FeatureKind
from lockgate.policy.screening import Finding, Kind, Neighbours, screen_feature, screen_server_name, withholds
from tests.policy.capture_real_servers import list_servers

CORPUS = Path(__file__).parent / "screening_corpus"
POISONED: list[dict[str, Any]] = yaml.safe_load((CORPUS / "poisoned.yaml").read_text(encoding="utf-8"))
REAL_SERVERS: dict[str, Any] = json.loads((CORPUS / "real_servers.json").read_text(encoding="utf-8"))
REQUIRED_RATE = 0.95


def expand(value: Any) -> Any:
    """The corpus's two generators: ``{$repeat: [text, times]}`` and ``{$nest: depth}``."""
    if isinstance(value, dict):
        if "$repeat" in value:
            text, times = value["$repeat"]
            return text * times
        if "$nest" in value:
            nested: dict[str, Any] = {"type": "string"}
            for _ in range(value["$nest"]):
                nested = {"type": "object", "properties": {"inner": nested}}
            return nested
        return {key: expand(item) for key, item in value.items()}
    if isinstance(value, list):
        return [expand(item) for item in value]
    return value


def screen_case(case: dict[str, Any]) -> tuple[Finding, ...]:
    given = case.get("neighbours", {})
    neighbours = Neighbours.of(given.get("features", []), given.get("servers", []))
    if "server_name" in case:
        return screen_server_name(case["server_name"], neighbours)
    return screen_feature(FeatureKind(case["feature_type"]), expand(case["definition"]), neighbours)


def test_the_poisoned_corpus_has_thirty_sourced_cases_covering_every_kind() -> None:
    assert len(POISONED) >= 30
    assert len({case["id"] for case in POISONED}) == len(POISONED)
    for case in POISONED:
        assert case["source"]["title"] and case["source"]["url"].startswith("https://"), case["id"]
        assert case["quote"] in ("verbatim", "adapted"), case["id"]
    assert {Kind(case["kind"]) for case in POISONED} == set(Kind)


def test_at_least_95_percent_of_poisoned_definitions_are_withheld() -> None:
    misses = [case["id"] for case in POISONED if not withholds(screen_case(case))]
    rate = 1 - len(misses) / len(POISONED)
    withheld = len(POISONED) - len(misses)
    print(f"withheld {withheld}/{len(POISONED)} poisoned definitions ({rate:.1%}); misses: {misses}")
    assert rate >= REQUIRED_RATE, misses


@pytest.mark.parametrize("case", POISONED, ids=[case["id"] for case in POISONED])
def test_each_poisoned_definition_is_found_as_its_kind(case: dict[str, Any]) -> None:
    kinds = {finding.kind for finding in screen_case(case)}
    assert Kind(case["kind"]) in kinds, kinds


def test_the_real_servers_corpus_holds_five_servers_with_tools_and_prompts() -> None:
    assert len(REAL_SERVERS) >= 5
    assert all(server["tools"] for server in REAL_SERVERS.values())
    assert any(server["prompts"] for server in REAL_SERVERS.values())


@pytest.mark.parametrize("server", sorted(REAL_SERVERS))
def test_no_feature_of_a_real_server_is_withheld_beside_the_others(server: str) -> None:
    others = {name: listing for name, listing in REAL_SERVERS.items() if name != server}
    neighbours = Neighbours.of(
        [
            definition[kind.key]
            for listing in others.values()
            for kind in FeatureKind
            for definition in listing[kind.value]
        ],
        others,
    )
    withheld = {
        definition[kind.key]: [finding for finding in findings if finding.severity.withholds]
        for kind in FeatureKind
        for definition in REAL_SERVERS[server][kind.value]
        if withholds(findings := screen_feature(kind, definition, neighbours))
    }
    assert withheld == {}
    assert not withholds(screen_server_name(server, Neighbours.of(server_names=others)))


@pytest.mark.e2e
@pytest.mark.anyio
async def test_the_installed_real_servers_still_list_what_the_corpus_holds() -> None:
    """When a server's package changes, the corpus is captured again (``capture_real_servers``)."""
    assert json.loads(json.dumps(await list_servers())) == REAL_SERVERS
