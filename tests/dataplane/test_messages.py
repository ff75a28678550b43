"""Parsing a POSTed body into one JSON-RPC message, held to the bounds the rest of the gateway needs."""

from __future__ import annotations

from typing import Any

import pytest

from lockgate.dataplane.errors import INVALID_REQUEST, PARSE_ERROR
from lockgate.dataplane.messages import MAX_DEPTH, MessageError, exceeds_depth, parse_message


def _nested_params(depth: int) -> bytes:
    """A message whose params nest ``depth`` levels below the message itself."""
    return b'{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": ' + (
        b'{"a": ' * depth + b"1" + b"}" * depth + b"}"
    )


@pytest.mark.parametrize(
    "body",
    [b"\xef\xbb\xbf{}", b'{"jsonrpc": "2.0", "method": "\xff"}', b"not json", b"", b'{"jsonrpc": "2.0",'],
    ids=["bom", "invalid-utf8", "text", "empty", "truncated"],
)
def test_a_body_that_is_not_utf8_json_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(MessageError) as raised:
        parse_message(body)
    assert (raised.value.code, raised.value.http_status) == (PARSE_ERROR, 400)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]', "batches are not supported"),
        (b'"ping"', "not a JSON-RPC 2.0 message"),
        (b'{"jsonrpc": "1.0", "id": 1, "method": "ping"}', "not a JSON-RPC 2.0 message"),
        (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}', "the id must be"),
        (b'{"jsonrpc": "2.0", "id": [1], "method": "ping"}', "the id must be"),
        (b'{"jsonrpc": "2.0", "id": true, "method": "ping"}', "the id must be"),
        (b'{"jsonrpc": "2.0", "id": 1, "method": 5}', "the method must be a string"),
    ],
)
def test_a_body_that_is_not_one_valid_message_is_an_invalid_request(body: bytes, message: str) -> None:
    with pytest.raises(MessageError) as raised:
        parse_message(body)
    assert raised.value.code == INVALID_REQUEST
    assert message in raised.value.message


@pytest.mark.parametrize(
    ("request_id", "taken"),
    [
        (b'"abc"', "abc"),
        (b'""', ""),
        (b"0", 0),
        (b"-1", -1),
        (b"18446744073709551615", 2**64 - 1),
        (b"1" + b"0" * 30, 1e30),  # beyond 64 bits: read as a number all the same
        (b"1.5", 1.5),
        (b"null", None),
    ],
)
def test_a_string_number_or_null_id_is_taken(request_id: bytes, taken: Any) -> None:
    message = parse_message(b'{"jsonrpc": "2.0", "id": ' + request_id + b', "method": "ping"}')
    assert message["id"] == taken


def test_a_message_nested_up_to_the_limit_is_taken_and_one_level_more_is_refused_echoing_its_id() -> None:
    assert parse_message(_nested_params(MAX_DEPTH - 1))["id"] == 7

    with pytest.raises(MessageError) as raised:
        parse_message(_nested_params(MAX_DEPTH))

    assert raised.value.code == INVALID_REQUEST
    assert f"deeper than {MAX_DEPTH} levels" in raised.value.message
    assert (raised.value.request_id, raised.value.method) == (7, "tools/call")


def test_a_message_nested_300_deep_is_refused_though_it_parses() -> None:
    with pytest.raises(MessageError) as raised:
        parse_message(_nested_params(300))
    assert raised.value.code == INVALID_REQUEST


@pytest.mark.parametrize("depth", [1, 2, 127, 128, 129, 130, 254, 255, 100_000])
def test_the_depth_check_counts_levels_exactly_however_deep_the_value(depth: int) -> None:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]

    assert exceeds_depth(value, MAX_DEPTH) is (depth > MAX_DEPTH)
    assert exceeds_depth({"a": value}, MAX_DEPTH) is (depth + 1 > MAX_DEPTH)


def test_a_scalar_nests_no_level() -> None:
    assert not exceeds_depth("scalar", 0)
