"""What rules see of a message, and how their edits are put back (issue 12 §2: JSON-aware)."""

from __future__ import annotations

import copy

import pytest

from lockgate.domain.rules import LIMITS, Direction
from lockgate.rules.regex import ScanTooLarge
from lockgate.rules.scan import TOWARD_CLIENT, rewritten, scanned_strings

CALL = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "tools/call",
    "params": {"name": "store", "arguments": {"note": "a", "items": [{"x": "b"}, 3, None], "n": 1}},
}
RESULT = {
    "jsonrpc": "2.0",
    "id": 7,
    "result": {
        "content": [
            {"type": "text", "text": "t"},
            {"type": "image", "data": "aGk=", "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "file:///a", "text": "r"}},
            {"type": "resource", "resource": {"uri": "file:///b", "blob": "aGk="}},
        ],
        "structuredContent": {"k": ["s"]},
    },
}


def test_a_tool_call_request_exposes_every_string_of_its_arguments_and_nothing_else() -> None:
    assert scanned_strings("tools/call", Direction.REQUEST, CALL) == [
        (("params", "arguments", "note"), "a"),
        (("params", "arguments", "items", 0, "x"), "b"),
    ]


def test_a_tool_result_exposes_text_embedded_resource_text_and_structured_content() -> None:
    assert scanned_strings("tools/call", Direction.RESPONSE, RESULT) == [
        (("result", "content", 0, "text"), "t"),
        (("result", "content", 2, "resource", "text"), "r"),
        (("result", "structuredContent", "k", 0), "s"),
    ]


def test_prompt_messages_and_resource_contents_are_exposed_on_the_response_leg() -> None:
    prompt = {"result": {"messages": [{"role": "user", "content": {"type": "text", "text": "p"}}]}}
    read = {"result": {"contents": [{"uri": "u", "text": "c"}, {"uri": "v", "blob": "aGk="}]}}
    assert scanned_strings("prompts/get", Direction.RESPONSE, prompt) == [
        (("result", "messages", 0, "content", "text"), "p")
    ]
    assert scanned_strings("resources/read", Direction.RESPONSE, read) == [
        (("result", "contents", 0, "text"), "c")
    ]


def test_other_methods_and_malformed_shapes_expose_nothing() -> None:
    assert scanned_strings("resources/read", Direction.REQUEST, {"params": {"uri": "file:///a"}}) == []
    assert scanned_strings("notifications/message", Direction.REQUEST, {"params": {"data": "x"}}) == []
    assert scanned_strings("notifications/cancelled", Direction.RESPONSE, {"params": {"reason": "x"}}) == []
    assert scanned_strings("tools/call", Direction.RESPONSE, {"error": {"code": 1, "message": 2}}) == []
    assert scanned_strings("tools/list", Direction.RESPONSE, {"result": {"tools": [{"name": "x"}]}}) == []
    assert scanned_strings("tools/call", Direction.REQUEST, {"params": {"arguments": "not an object"}}) == [
        (("params", "arguments"), "not an object")
    ]
    assert scanned_strings("tools/call", Direction.RESPONSE, {"result": {"content": "x"}}) == []


def test_an_error_response_exposes_its_message_and_every_string_of_its_data() -> None:
    error = {"error": {"code": -32602, "message": "m", "data": {"why": ["d"], "n": 1}}}
    for method in ("tools/call", "prompts/get", "resources/read"):
        assert scanned_strings(method, Direction.RESPONSE, error) == [
            (("error", "message"), "m"),
            (("error", "data", "why", 0), "d"),
        ]


def test_resource_links_expose_their_name_title_and_description_but_not_their_uri() -> None:
    link = {"type": "resource_link", "uri": "file:///x", "name": "n", "title": "t", "description": "d"}
    result = {"result": {"content": [link]}}
    assert scanned_strings("tools/call", Direction.RESPONSE, result) == [
        (("result", "content", 0, "name"), "n"),
        (("result", "content", 0, "title"), "t"),
        (("result", "content", 0, "description"), "d"),
    ]


def test_a_prompt_result_exposes_its_description_and_a_linked_resources_words() -> None:
    link = {"type": "resource_link", "uri": "file:///x", "name": "n"}
    prompt = {"result": {"description": "about", "messages": [{"role": "user", "content": link}]}}
    assert scanned_strings("prompts/get", Direction.RESPONSE, prompt) == [
        (("result", "description"), "about"),
        (("result", "messages", 0, "content", "name"), "n"),
    ]


def test_prompt_arguments_and_mrtr_input_responses_are_exposed_on_the_request_leg() -> None:
    prompt = {"params": {"name": "greet", "arguments": {"who": "a"}}}
    retry = {"params": {"name": "t", "arguments": {}, "inputResponses": {"r": {"content": {"x": "b"}}}}}
    assert scanned_strings("prompts/get", Direction.REQUEST, prompt) == [
        (("params", "arguments", "who"), "a")
    ]
    assert scanned_strings("tools/call", Direction.REQUEST, retry) == [
        (("params", "inputResponses", "r", "content", "x"), "b")
    ]
    assert scanned_strings("prompts/get", Direction.REQUEST, {"params": {"inputResponses": {"r": "c"}}}) == []


def test_an_input_required_result_exposes_every_string_of_its_input_requests() -> None:
    asked = {
        "method": "elicitation/create",
        "params": {"message": "m", "requestedSchema": {"type": "object"}},
    }
    result = {"result": {"resultType": "input_required", "inputRequests": {"r": asked}, "requestState": "s"}}
    assert scanned_strings("tools/call", Direction.RESPONSE, result) == [
        (("result", "inputRequests", "r", "method"), "elicitation/create"),
        (("result", "inputRequests", "r", "params", "message"), "m"),
        (("result", "inputRequests", "r", "params", "requestedSchema", "type"), "object"),
    ]


@pytest.mark.parametrize("method", sorted(TOWARD_CLIENT))
def test_what_a_server_sends_the_client_during_a_call_exposes_every_string_of_its_params(method: str) -> None:
    message = {"jsonrpc": "2.0", "method": method, "params": {"a": "x", "b": [{"c": "y"}], "n": 1}}
    assert scanned_strings(method, Direction.RESPONSE, message) == [
        (("params", "a"), "x"),
        (("params", "b", 0, "c"), "y"),
    ]


def test_a_clients_answer_to_a_relayed_request_exposes_every_string_of_its_result() -> None:
    answer = {"jsonrpc": "2.0", "id": 3, "result": {"action": "accept", "content": {"ssn": "x"}}}
    assert scanned_strings("elicitation/create", Direction.REQUEST, answer) == [
        (("result", "action"), "accept"),
        (("result", "content", "ssn"), "x"),
    ]
    assert scanned_strings("notifications/message", Direction.REQUEST, answer) == []


def test_an_edit_replaces_only_its_strings_and_leaves_the_message_and_its_id_intact() -> None:
    before = copy.deepcopy(RESULT)
    out = rewritten(
        RESULT,
        {("result", "content", 2, "resource", "text"): "R", ("result", "structuredContent", "k", 0): "S"},
    )
    assert before == RESULT  # not changed in place
    assert out["id"] == 7 and out["result"]["content"][2]["resource"] == {"uri": "file:///a", "text": "R"}
    assert out["result"]["structuredContent"] == {"k": ["S"]}
    assert out["result"]["content"][1] is RESULT["result"]["content"][1]  # untouched values are shared


def test_an_edit_to_a_path_that_is_not_there_is_refused() -> None:
    with pytest.raises(KeyError):
        rewritten(CALL, {("params", "arguments", "missing"): "x"})
    with pytest.raises(KeyError):
        rewritten(CALL, {("params", "arguments", "items", 9, "x"): "x"})


def test_a_message_of_more_strings_or_json_values_than_a_message_may_hold_is_refused_before_its_walk() -> (
    None
):
    many_numbers = {"params": {"arguments": {"x": [0] * (LIMITS.scan_values + 1)}}}
    nested = {"params": {"arguments": {"x": [[0] * 1000 for _ in range(LIMITS.scan_values // 1000 + 1)]}}}
    many_strings = {"params": {"arguments": {"x": ["a"] * (LIMITS.scan_strings + 1)}}}
    for message, what in ((many_numbers, "JSON values"), (nested, "JSON values"), (many_strings, "strings")):
        with pytest.raises(ScanTooLarge, match=what):
            scanned_strings("tools/call", Direction.REQUEST, message)
    assert (
        len(scanned_strings("tools/call", Direction.REQUEST, {"params": {"arguments": {"x": ["a"] * 10}}}))
        == 10
    )


def test_a_clients_error_answer_to_a_relayed_request_exposes_its_message_and_data() -> None:
    answer = {"error": {"code": -1, "message": "no, ssn 123-45-6789", "data": {"why": ["x"]}}}
    assert scanned_strings("elicitation/create", Direction.REQUEST, answer) == [
        (("error", "message"), "no, ssn 123-45-6789"),
        (("error", "data", "why", 0), "x"),
    ]
