"""What rules see of a message, and how their edits are put back (issue 12 §2: JSON-aware)."""

from __future__ import annotations

import copy

import pytest

from lockgate.domain.rules import Direction
from lockgate.rules.scan import rewritten, scanned_strings

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


def test_errors_other_methods_and_malformed_shapes_expose_nothing() -> None:
    assert (
        scanned_strings("tools/call", Direction.RESPONSE, {"error": {"code": 1, "message": "secret"}}) == []
    )
    assert scanned_strings("tools/list", Direction.RESPONSE, {"result": {"tools": [{"name": "x"}]}}) == []
    assert scanned_strings("tools/call", Direction.REQUEST, {"params": {"arguments": "not an object"}}) == [
        (("params", "arguments"), "not an object")
    ]
    assert scanned_strings("tools/call", Direction.RESPONSE, {"result": {"content": "x"}}) == []


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
