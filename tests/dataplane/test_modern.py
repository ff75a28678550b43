"""Validation of modern (2026-07-28) requests: mirrored headers must agree with the body."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from lockgate.dataplane.errors import (
    HEADER_MISMATCH,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    UNSUPPORTED_PROTOCOL_VERSION,
    JsonRpcError,
)
from lockgate.dataplane.modern import is_modern, validate_modern
from lockgate.domain.mcp import (
    LEGACY_VERSIONS,
    META_CLIENT_CAPABILITIES,
    META_PROTOCOL_VERSION,
    MODERN_VERSIONS,
)

MODERN = MODERN_VERSIONS[0]


def _params(version: str = MODERN, **fields: Any) -> dict[str, Any]:
    meta = {META_PROTOCOL_VERSION: version, META_CLIENT_CAPABILITIES: {}}
    return {**fields, "_meta": meta}


def _headers(method: str, name: str | None = None, version: str = MODERN) -> dict[str, str]:
    headers = {"mcp-protocol-version": version, "mcp-method": method}
    if name is not None:
        headers["mcp-name"] = name
    return headers


def _refusal(headers: dict[str, str], method: str, params: Any) -> JsonRpcError:
    with pytest.raises(JsonRpcError) as caught:
        validate_modern(headers, method, params)
    return caught.value


def _b64(value: str) -> str:
    return "=?base64?" + base64.b64encode(value.encode()).decode() + "?="


@pytest.mark.parametrize(
    ("method", "fields", "name"),
    [
        ("tools/list", {}, None),
        ("tools/call", {"name": "get_time", "arguments": {}}, "get_time"),
        ("prompts/get", {"name": "greet"}, "greet"),
        ("resources/read", {"uri": "file:///readme.md"}, "file:///readme.md"),
        ("server/discover", {}, None),
    ],
)
def test_a_consistent_modern_request_passes(method: str, fields: dict[str, Any], name: str | None) -> None:
    validate_modern(_headers(method, name), method, _params(**fields))


def test_an_unsupported_version_is_refused_with_the_supported_ones() -> None:
    error = _refusal(_headers("tools/list", version="2099-01-01"), "tools/list", _params("2099-01-01"))

    assert (error.code, error.http_status) == (UNSUPPORTED_PROTOCOL_VERSION, 400)
    assert error.data["requested"] == "2099-01-01"
    assert MODERN in error.data["supported"]
    assert set(LEGACY_VERSIONS) <= set(error.data["supported"])


def test_a_missing_meta_version_is_invalid_params() -> None:
    params = _params()
    del params["_meta"][META_PROTOCOL_VERSION]

    error = _refusal(_headers("tools/list"), "tools/list", params)

    assert (error.code, error.http_status) == (INVALID_PARAMS, 400)


@pytest.mark.parametrize("capabilities", ["missing", None, "yes", []])
def test_missing_client_capabilities_are_invalid_params(capabilities: Any) -> None:
    params = _params()
    if capabilities == "missing":
        del params["_meta"][META_CLIENT_CAPABILITIES]
    else:
        params["_meta"][META_CLIENT_CAPABILITIES] = capabilities

    error = _refusal(_headers("tools/list"), "tools/list", params)

    assert (error.code, error.http_status) == (INVALID_PARAMS, 400)
    assert META_CLIENT_CAPABILITIES in error.message


@pytest.mark.parametrize("params", [None, [], "x", {"_meta": "x"}])
def test_params_without_a_meta_object_are_invalid_params(params: Any) -> None:
    error = _refusal(_headers("tools/list"), "tools/list", params)

    assert (error.code, error.http_status) == (INVALID_PARAMS, 400)


def test_a_protocol_version_header_disagreeing_with_meta_is_a_header_mismatch() -> None:
    error = _refusal(_headers("tools/list", version=LEGACY_VERSIONS[0]), "tools/list", _params())

    assert (error.code, error.http_status) == (HEADER_MISMATCH, 400)
    assert error.data == {"header": "mcp-protocol-version"}


@pytest.mark.parametrize("header", ["tools/call", "", None])
def test_an_mcp_method_header_disagreeing_with_the_method_is_a_header_mismatch(header: str | None) -> None:
    headers = _headers("tools/list")
    if header is None:
        del headers["mcp-method"]
    else:
        headers["mcp-method"] = header

    error = _refusal(headers, "tools/list", _params())

    assert (error.code, error.http_status) == (HEADER_MISMATCH, 400)
    assert error.data == {"header": "mcp-method"}


@pytest.mark.parametrize("header", ["other_tool", "", None, _b64("other_tool")])
def test_an_mcp_name_header_disagreeing_with_the_name_is_a_header_mismatch(header: str | None) -> None:
    error = _refusal(_headers("tools/call", header), "tools/call", _params(name="get_time"))

    assert (error.code, error.http_status) == (HEADER_MISMATCH, 400)
    assert error.data == {"header": "mcp-name"}


def test_an_mcp_name_header_disagreeing_with_the_uri_is_a_header_mismatch() -> None:
    error = _refusal(_headers("resources/read", "file:///b"), "resources/read", _params(uri="file:///a"))

    assert error.code == HEADER_MISMATCH


@pytest.mark.parametrize("name", ["get_time", "wetter_überblick", "name with spaces", "日本語"])
def test_a_base64_encoded_mcp_name_is_accepted(name: str) -> None:
    validate_modern(_headers("tools/call", _b64(name)), "tools/call", _params(name=name))


def test_a_base64_encoded_uri_is_accepted() -> None:
    uri = "file:///read me.md"

    validate_modern(_headers("resources/read", _b64(uri)), "resources/read", _params(uri=uri))


def test_header_values_are_trimmed_of_optional_whitespace() -> None:
    headers = {
        "mcp-protocol-version": f"  {MODERN}\t",
        "mcp-method": " tools/call ",
        "mcp-name": "\tget_time  ",
    }

    validate_modern(headers, "tools/call", _params(name="get_time"))


def test_a_trimmed_base64_mcp_name_is_accepted() -> None:
    validate_modern(_headers("tools/call", f"  {_b64('über')} "), "tools/call", _params(name="über"))


@pytest.mark.parametrize("responses", [12345, None, "text", [], {"user_name": 12345}, {"user_name": None}])
def test_malformed_input_responses_on_a_retry_are_invalid_params(responses: Any) -> None:
    params = _params(name="greet", arguments={}, inputResponses=responses)

    error = _refusal(_headers("tools/call", "greet"), "tools/call", params)

    assert (error.code, error.http_status) == (INVALID_PARAMS, 400)


@pytest.mark.parametrize("responses", [{}, {"user_name": {"action": "accept", "content": {"name": "Alice"}}}])
def test_input_responses_that_are_result_objects_pass(responses: Any) -> None:
    params = _params(uri="file:///readme.md", inputResponses=responses)

    validate_modern(_headers("resources/read", "file:///readme.md"), "resources/read", params)


@pytest.mark.parametrize("method", ["initialize", "ping", "notifications/initialized", "logging/setLevel"])
def test_a_method_the_modern_era_does_not_have_is_not_found_with_404(method: str) -> None:
    error = _refusal(_headers(method), method, _params())

    assert (error.code, error.http_status) == (METHOD_NOT_FOUND, 404)


def test_a_request_is_modern_by_its_meta_version() -> None:
    assert is_modern({}, _params())


@pytest.mark.parametrize("header", [MODERN, f" {MODERN} "])
def test_a_request_is_modern_by_its_protocol_version_header(header: str) -> None:
    assert is_modern({"mcp-protocol-version": header}, {})


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({}, {}),
        ({}, None),
        ({}, []),
        ({"mcp-protocol-version": LEGACY_VERSIONS[0]}, {"_meta": {"progressToken": 1}}),
        ({"mcp-protocol-version": "2099-01-01"}, {"_meta": "x"}),
    ],
)
def test_a_request_without_modern_markers_is_legacy(headers: dict[str, str], params: Any) -> None:
    assert not is_modern(headers, params)
