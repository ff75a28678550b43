"""The HTTP transport builds each request from the operation exactly as api/http.py reads it, and
turns the error envelope into CallFailed. Against httpx's in-memory transport."""

from __future__ import annotations

import httpx
import orjson
import pytest

from lockgate.api.table import BY_ID
from lockgate.cli.client import CallFailed, HttpClient

Sent = list[httpx.Request]


def client_answering(
    status: int, body: object, sent: Sent, base: str = "http://gw.example:8080/"
) -> HttpClient:
    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(status, content=orjson.dumps(body) if body is not None else b"")

    return HttpClient(base, "lgp_token", transport=httpx.MockTransport(handle))


def test_a_change_sends_path_parameters_in_the_path_if_match_as_a_header_and_the_rest_as_json() -> None:
    sent: Sent = []
    answer = client_answering(200, {"name": "eng"}, sent).call(
        BY_ID["gateways_update"], {"gateway": "engineering", "name": "eng", "if_match": 3}
    )
    assert answer == b'{"name":"eng"}'
    [request] = sent
    assert (request.method, request.url.path) == ("PATCH", "/api/v1/gateways/engineering")
    assert request.headers["if-match"] == '"3"' and request.headers["authorization"] == "Bearer lgp_token"
    assert orjson.loads(request.content) == {"name": "eng"}


def test_a_read_sends_its_fields_as_the_query_and_no_body() -> None:
    sent: Sent = []
    client_answering(200, {"items": [], "next_cursor": None}, sent).call(
        BY_ID["gateways_list"], {"enabled": False, "limit": 5}
    )
    assert sent[0].url.params.multi_items() == [("enabled", "false"), ("limit", "5")]
    assert sent[0].content == b""


def test_a_base_url_naming_the_api_is_kept_and_path_parameters_are_quoted() -> None:
    sent: Sent = []
    client = client_answering(204, None, sent, base="http://gw.example:8080/api/v1")
    assert client.call(BY_ID["gateways_delete"], {"gateway": "a b"}) is None
    assert sent[0].url.raw_path == b"/api/v1/gateways/a%20b"


def test_an_error_envelope_becomes_call_failed_with_its_field_and_capability() -> None:
    envelope = {"error": {"code": "forbidden", "message": "Nope.", "capability": "managePeople"}}
    with pytest.raises(CallFailed) as refused:
        client_answering(403, envelope, []).call(BY_ID["users_list"], {})
    assert (refused.value.status, refused.value.capability) == (403, "managePeople")
    assert refused.value.describe() == "Nope. (capability: managePeople)"


def test_an_answer_that_is_not_the_envelope_is_reported_with_its_status() -> None:
    with pytest.raises(CallFailed) as failed:
        client_answering(502, "<html>bad gateway</html>", []).call(BY_ID["gateways_list"], {})
    assert failed.value.status == 502 and failed.value.message.startswith("HTTP 502 from http://gw.example")
