"""A ``modify`` body is the same JSON-RPC message: on the request leg only ``params.arguments`` may
differ (every other member deeply equal, none added or removed, a request without arguments not
modifiable); on the response leg a result object with the original's ``jsonrpc``, ``id`` and
members."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lockgate.domain.rules import Direction
from lockgate.engines import EngineFailure
from lockgate.engines.verdicts import check_replacement
from tests.engines.conftest import CALL, RESULT

META = {"progressToken": 1, "io.example/trace": {"id": "t-1"}}
CALL_WITH_META = {**CALL, "params": {**CALL["params"], "_meta": META}}
READ = {"jsonrpc": "2.0", "id": 9, "method": "resources/read", "params": {"uri": "file:///approved.txt"}}
NO_ARGUMENTS = {**CALL, "params": {"name": "send_email"}}
SECRET_URI = "file:///etc/shadow"
TOKEN = ("params", "_meta", "progressToken")


def edited(message: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """``message`` with the member at ``path`` set to ``value`` (``...`` removes it)."""
    copied = copy.deepcopy(message)
    node = copied
    for key in path[:-1]:
        node = node[key]
    if value is ...:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return copied


def test_a_request_whose_arguments_alone_changed_is_accepted_whatever_the_member_order() -> None:
    body = {
        "params": {
            "_meta": dict(reversed(META.items())),
            "arguments": {"to": "[email]"},
            "name": "send_email",
        },
        "method": "tools/call",
        "id": 7,
        "jsonrpc": "2.0",
    }
    assert check_replacement(CALL_WITH_META, body, Direction.REQUEST) is body


@pytest.mark.parametrize(
    ("original", "body", "why"),
    [
        (READ, edited(READ, ("params", "uri"), SECRET_URI), "without params.arguments"),
        (READ, edited(READ, ("params", "arguments"), {"uri": SECRET_URI}), "without params.arguments"),
        (NO_ARGUMENTS, edited(NO_ARGUMENTS, ("params", "arguments"), {}), "without params.arguments"),
        (CALL, edited(CALL, ("params", "_meta"), {"progressToken": 2}), "added a member to params"),
        (CALL, edited(CALL, ("params", "inputResponses"), {"q": {}}), "added a member to params"),
        (CALL, edited(CALL, ("params", "requestState"), "forged"), "added a member to params"),
        (CALL, edited(CALL, ("params", "name"), ...), "changed params.name"),
        (CALL, edited(CALL, ("params", "name"), "delete_all"), "changed params.name"),
        (CALL_WITH_META, edited(CALL_WITH_META, TOKEN, True), "changed params._meta"),
        (CALL_WITH_META, edited(CALL_WITH_META, TOKEN, 1.0), "changed params._meta"),
        (CALL_WITH_META, edited(CALL_WITH_META, ("params", "_meta"), ...), "changed params._meta"),
        (CALL, edited(CALL, ("method",), "tools/list"), "changed method"),
        (CALL, edited(CALL, ("result",), {}), "added a member to the message"),
        (CALL, edited(CALL, ("id",), 7.0), "JSON-RPC id"),
        (CALL, edited(CALL, ("jsonrpc",), "1.0"), '"2.0"'),
        (CALL, edited(CALL, ("params", "arguments"), ["not", "an", "object"]), "params.arguments object"),
    ],
)  # fmt: skip
def test_a_request_changed_beyond_its_arguments_is_refused(
    original: dict[str, Any], body: dict[str, Any], why: str
) -> None:
    with pytest.raises(EngineFailure, match=why) as refused:
        check_replacement(original, body, Direction.REQUEST)
    assert SECRET_URI not in refused.value.reason and "forged" not in refused.value.reason


def test_a_member_name_that_is_no_identifier_is_not_shown_in_the_reason() -> None:
    original = edited(CALL, ("params", "sk-live-0123 secret"), "x")
    with pytest.raises(EngineFailure, match=r"changed params\.a member") as refused:
        check_replacement(
            original, edited(original, ("params", "sk-live-0123 secret"), "y"), Direction.REQUEST
        )
    assert "sk-live" not in refused.value.reason


def test_a_response_may_change_its_result_but_not_its_envelope() -> None:
    body = edited(
        RESULT, ("result",), {"content": [{"type": "text", "text": "sent to [email]"}], "_meta": {}}
    )
    assert check_replacement(RESULT, body, Direction.RESPONSE) is body


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (edited(RESULT, ("id",), "7"), "JSON-RPC id"),
        (edited(RESULT, ("id",), ...), "JSON-RPC id"),
        (edited(RESULT, ("jsonrpc",), "1.0"), '"2.0"'),
        (edited(RESULT, ("method",), "tools/call"), "added or removed a member"),
        (edited(RESULT, ("error",), {"code": 1, "message": "no"}), "no result object"),
        (edited(RESULT, ("result",), "text"), "no result object"),
    ],
)
def test_a_response_changed_beyond_its_result_is_refused(body: dict[str, Any], why: str) -> None:
    with pytest.raises(EngineFailure, match=why):
        check_replacement(RESULT, body, Direction.RESPONSE)
