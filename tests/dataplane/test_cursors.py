"""Gateway-owned pagination cursors: opaque, signed, and refused when not ours."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.dataplane.cursors import decode_cursor, encode_cursor
from lockgate.dataplane.errors import INVALID_PARAMS, JsonRpcError

KEY = b"k" * 32
POSITIONS: list[tuple[int, Any]] = [(3, "upstream-cursor"), (7, {"page": 2}), (11, None)]


@pytest.mark.parametrize(
    "positions",
    [POSITIONS, [], [(1, "x" * 500)], [(2, 0)], [(5, "ümlaut/?#=")]],
)
def test_a_cursor_decodes_to_the_positions_it_was_made_from(positions: list[tuple[int, Any]]) -> None:
    assert decode_cursor(KEY, encode_cursor(KEY, positions)) == positions


def test_a_cursor_is_url_safe_and_unpadded() -> None:
    cursor = encode_cursor(KEY, POSITIONS)

    assert cursor.isascii()
    assert not set(cursor) & set("+/=")


def test_a_cursor_does_not_show_upstream_cursors_in_the_clear() -> None:
    assert "upstream-cursor" not in encode_cursor(KEY, POSITIONS)


def _assert_refused(key: bytes, cursor: Any) -> None:
    with pytest.raises(JsonRpcError) as caught:
        decode_cursor(key, cursor)
    assert caught.value.code == INVALID_PARAMS


URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _flip(cursor: str, index: int) -> str:
    """The cursor with the top bit of one base64 digit flipped (never a padding bit)."""
    index %= len(cursor)
    swapped = URLSAFE[URLSAFE.index(cursor[index]) ^ 32]
    return cursor[:index] + swapped + cursor[index + 1 :]


@pytest.mark.parametrize("index", [0, 5, 16, 20, -3, -1])
def test_a_tampered_cursor_is_refused(index: int) -> None:
    _assert_refused(KEY, _flip(encode_cursor(KEY, POSITIONS), index))


@pytest.mark.parametrize("cut", [1, 2, 3, 4, 10])
def test_a_truncated_cursor_is_refused(cut: int) -> None:
    _assert_refused(KEY, encode_cursor(KEY, POSITIONS)[:-cut])


def test_a_cursor_cut_down_to_its_tag_is_refused() -> None:
    _assert_refused(KEY, encode_cursor(KEY, POSITIONS)[:16])


def test_a_cursor_signed_under_another_key_is_refused() -> None:
    _assert_refused(KEY, encode_cursor(b"other-key", POSITIONS))


@pytest.mark.parametrize("garbage", ["", "=", "!!!!", "not a cursor", "ümlaut", "A" * 64, "e30"])
def test_a_garbage_cursor_is_refused(garbage: str) -> None:
    _assert_refused(KEY, garbage)


@pytest.mark.parametrize("value", [None, 12, ["a"], {"a": 1}])
def test_a_cursor_that_is_not_a_string_is_refused(value: Any) -> None:
    _assert_refused(KEY, value)
