"""How a gateway names the features of a prefixed assignment."""

from __future__ import annotations

import pytest

from lockgate.domain.features import LIST_METHODS, FeatureKind, expose_name, split_name


def test_a_prefixed_name_joins_prefix_and_name_with_two_underscores() -> None:
    assert expose_name("time", "get_current_time") == "time__get_current_time"


@pytest.mark.parametrize("prefix", [None, ""])
def test_without_a_prefix_the_name_is_exposed_as_is(prefix: str | None) -> None:
    assert expose_name(prefix, "get_current_time") == "get_current_time"


@pytest.mark.parametrize("name", ["get_current_time", "a__b", "x", "tool.with-dots"])
def test_splitting_an_exposed_name_gives_back_the_upstream_name(name: str) -> None:
    assert split_name("time", expose_name("time", name)) == name


@pytest.mark.parametrize(
    "exposed",
    ["get_current_time", "git__log", "timex__get", "time_get", "ti__me__get", "TIME__get"],
)
def test_a_name_without_the_prefix_does_not_split(exposed: str) -> None:
    assert split_name("time", exposed) is None


def test_a_shorter_prefix_does_not_claim_a_longer_ones_names() -> None:
    assert split_name("ti", expose_name("time", "get")) is None


@pytest.mark.parametrize(
    ("kind", "method", "key", "capability"),
    [
        (FeatureKind.TOOL, "tools/list", "name", "tools"),
        (FeatureKind.PROMPT, "prompts/list", "name", "prompts"),
        (FeatureKind.RESOURCE, "resources/list", "uri", "resources"),
        (FeatureKind.RESOURCE_TEMPLATE, "resources/templates/list", "uriTemplate", "resources"),
    ],
)
def test_each_kind_knows_its_list_method_name_key_and_capability(
    kind: FeatureKind, method: str, key: str, capability: str
) -> None:
    assert (kind.list_method, kind.key, kind.capability) == (method, key, capability)
    assert LIST_METHODS[method] is kind
