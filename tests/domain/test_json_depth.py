"""The depth bound of parsed JSON: exact, and at C speed however deep the value."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.domain.json_depth import MAX_DEPTH, exceeds_depth, may_exceed_depth


@pytest.mark.parametrize("depth", [1, 2, 127, 128, 129, 130, 254, 255, 100_000])
def test_the_depth_check_counts_levels_exactly_however_deep_the_value(depth: int) -> None:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]

    assert exceeds_depth(value, MAX_DEPTH) is (depth > MAX_DEPTH)
    assert exceeds_depth({"a": value}, MAX_DEPTH) is (depth + 1 > MAX_DEPTH)


def test_a_scalar_nests_no_level() -> None:
    assert not exceeds_depth("scalar", 0)


def test_a_body_with_fewer_brackets_than_the_limit_is_never_checked() -> None:
    assert not may_exceed_depth(b'{"a": [1, 2, {"b": 3}]}', 3)
    assert may_exceed_depth(b"[[[[" + b"]]]]", 3)
