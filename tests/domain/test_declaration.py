"""The declarative file: valid files load, invalid ones are refused with an error naming the culprit."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lockgate.domain.declaration import AssignmentSpec, Declaration
from lockgate.domain.model import HostKind, Transport


def _valid() -> dict[str, Any]:
    return {
        "servers": [
            {"name": "time", "transport": "stdio", "command": "uvx", "args": ["mcp-server-time"]},
            {"name": "docs", "transport": "http", "url": "https://docs.example.com/mcp"},
            {"name": "old", "transport": "sse", "url": "http://localhost:9000/sse", "enabled": False},
        ],
        "gateways": [
            {"name": "main", "servers": [{"server": "time", "prefix": "time"}, {"server": "docs"}]},
        ],
        "hosts": [{"name": "laptop"}],
    }


def _refusal(data: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        Declaration.model_validate(data)
    return caught.value


def test_a_valid_file_loads_with_defaults_filled_in() -> None:
    declaration = Declaration.model_validate(_valid())

    time, docs, old = declaration.servers
    assert (time.transport, time.enabled, time.config()) == (
        Transport.STDIO,
        True,
        {"command": "uvx", "args": ["mcp-server-time"], "env": {}, "cwd": None},
    )
    assert docs.config() == {"url": "https://docs.example.com/mcp", "headers": {}}
    assert (old.transport, old.enabled) == (Transport.SSE, False)
    assert [(a.server, a.prefix) for a in declaration.gateways[0].servers] == [
        ("time", "time"),
        ("docs", None),
    ]
    assert declaration.hosts[0].kind is HostKind.TOKEN


def test_an_empty_file_declares_nothing() -> None:
    assert Declaration.model_validate({}) == Declaration()


def test_a_stdio_server_without_command_is_refused_naming_the_server() -> None:
    data = _valid()
    del data["servers"][0]["command"]

    error = _refusal(data)

    assert error.errors()[0]["loc"] == ("servers", 0)
    assert "'time'" in str(error)
    assert "command" in str(error)


def test_a_stdio_server_with_a_url_is_refused() -> None:
    data = _valid()
    data["servers"][0]["url"] = "https://example.com/mcp"

    assert "'url'" in str(_refusal(data))


@pytest.mark.parametrize("transport", ["http", "sse"])
def test_an_http_server_without_url_is_refused_naming_the_server(transport: str) -> None:
    data = _valid()
    data["servers"][1] = {"name": "docs", "transport": transport}

    error = _refusal(data)

    assert error.errors()[0]["loc"] == ("servers", 1)
    assert "'docs'" in str(error)
    assert "url" in str(error)


@pytest.mark.parametrize("url", ["ftp://docs.example.com/mcp", "docs.example.com/mcp", ""])
def test_an_http_server_with_a_non_http_url_is_refused(url: str) -> None:
    data = _valid()
    data["servers"][1]["url"] = url

    assert _refusal(data).errors()[0]["loc"] == ("servers", 1)


def test_an_http_server_with_a_command_is_refused() -> None:
    data = _valid()
    data["servers"][1]["command"] = "node"

    assert "'command'" in str(_refusal(data))


@pytest.mark.parametrize(
    ("path", "loc"),
    [
        (("servers", 0), ("servers", 0, "bogus")),
        (("gateways", 0), ("gateways", 0, "bogus")),
        (("gateways", 0, "servers", 0), ("gateways", 0, "servers", 0, "bogus")),
        (("hosts", 0), ("hosts", 0, "bogus")),
        ((), ("bogus",)),
    ],
)
def test_an_unknown_field_is_refused_at_its_location(path: tuple[Any, ...], loc: tuple[Any, ...]) -> None:
    data = _valid()
    target: Any = data
    for step in path:
        target = target[step]
    target["bogus"] = 1

    error = _refusal(data)

    assert [(e["loc"], e["type"]) for e in error.errors()] == [(loc, "extra_forbidden")]


@pytest.mark.parametrize("name", ["", "has space", "-leading-dash", "x" * 129, "slash/name"])
def test_a_malformed_server_name_is_refused_at_the_name_field(name: str) -> None:
    data = _valid()
    data["servers"][0]["name"] = name

    assert [e["loc"] for e in _refusal(data).errors()] == [("servers", 0, "name")]


@pytest.mark.parametrize("kind", ["server", "gateway", "host"])
def test_a_name_declared_twice_is_refused(kind: str) -> None:
    data = _valid()
    items = data[kind + "s"]
    items.append(dict(items[0]))

    assert f"{kind} {items[0]['name']!r} is declared twice" in str(_refusal(data))


def test_a_server_declared_twice_is_refused_naming_the_server() -> None:
    data = _valid()
    data["servers"].append(dict(data["servers"][0]))

    assert "'time'" in str(_refusal(data))


def test_two_assignments_sharing_a_prefix_are_refused_naming_the_gateway() -> None:
    data = _valid()
    data["gateways"][0]["servers"] = [{"server": "time", "prefix": "p"}, {"server": "docs", "prefix": "p"}]

    error = _refusal(data)

    assert error.errors()[0]["loc"] == ("gateways", 0)
    assert "gateway 'main'" in str(error)
    assert "prefix" in str(error)


def test_a_server_assigned_twice_under_one_name_is_refused_naming_the_gateway() -> None:
    data = _valid()
    data["gateways"][0]["servers"] = [{"server": "time", "prefix": "a"}, {"server": "time", "prefix": "b"}]

    error = str(_refusal(data))

    assert "gateway 'main'" in error and "two assignments are named 'time'" in error


def test_a_server_assigned_twice_under_two_names_with_two_schemes_is_allowed() -> None:
    data = _valid()
    data["gateways"][0]["servers"] = [
        {"server": "time", "prefix": "a", "identity_scheme": "per_user"},
        {"server": "time", "name": "time-bot", "prefix": "b", "identity_scheme": "shared", "identity": "bot"},
    ]

    mine, bot = Declaration.model_validate(data).gateways[0].servers

    assert (mine.assignment_name, mine.identity_scheme, mine.identity) == ("time", "per_user", None)
    assert (bot.assignment_name, bot.identity_scheme, bot.identity) == ("time-bot", "shared", "bot")


def test_an_assignment_named_as_its_server_is_the_same_as_one_not_named() -> None:
    data = _valid()
    data["gateways"][0]["servers"] = [{"server": "time", "name": "time"}]

    assert Declaration.model_validate(data).gateways[0].servers[0] == AssignmentSpec(server="time")


def test_an_identity_outside_the_shared_scheme_is_refused_naming_the_assignment() -> None:
    data = _valid()
    data["gateways"][0]["servers"] = [{"server": "time", "identity_scheme": "per_user", "identity": "bot"}]

    assert "assignment 'time'" in str(_refusal(data)) and "only for the shared scheme" in str(_refusal(data))


def test_several_unprefixed_assignments_are_allowed() -> None:
    data = _valid()
    data["gateways"][0]["servers"] = [{"server": "time"}, {"server": "docs"}, {"server": "old"}]

    assert len(Declaration.model_validate(data).gateways[0].servers) == 3


def test_a_malformed_prefix_is_refused_at_the_prefix_field() -> None:
    data = _valid()
    data["gateways"][0]["servers"][0]["prefix"] = "bad prefix"

    assert [e["loc"][:5] for e in _refusal(data).errors()] == [("gateways", 0, "servers", 0, "prefix")]


def test_oauth_client_settings_are_for_remote_servers_and_a_secret_needs_its_client_id() -> None:
    data = _valid()
    data["servers"][0]["oauth_client_id"] = "client"
    assert "'oauth_*' settings are for http and sse servers" in str(_refusal(data))
    data = _valid()
    data["servers"][1]["oauth_client_secret"] = "s"
    assert "'oauth_client_secret' needs 'oauth_client_id'" in str(_refusal(data))


@pytest.mark.parametrize(
    ("server", "culprit"),
    [
        ({"transport": "stdio", "command": "x", "identity_env": ["LD_PRELOAD"]}, "LD_PRELOAD"),
        ({"transport": "stdio", "command": "x", "identity_env": ["NODE_OPTIONS"]}, "NODE_OPTIONS"),
        ({"transport": "stdio", "command": "x", "identity_env": ["KEY"], "env": {"KEY": "v"}}, "both"),
        ({"transport": "stdio", "command": "x", "env": {"KEY": "a\nb"}}, "control character"),
        ({"transport": "http", "url": "https://x.example", "identity_env": ["KEY"]}, "identity_env"),
        ({"transport": "http", "url": "https://x.example", "headers": {"X-K": "a\r\nHost: y"}}, "X-K"),
        ({"transport": "http", "url": "https://x.example", "headers": {"Host": "y"}}, "Host"),
    ],
)
def test_a_declared_server_goes_through_the_upstream_validator(server: dict[str, Any], culprit: str) -> None:
    refused = _refusal({"servers": [{"name": "s", **server}]})
    assert culprit in str(refused)


def test_a_declared_stdio_server_names_the_variables_its_identities_fill() -> None:
    declared = {"name": "s", "transport": "stdio", "command": "x", "identity_env": ["B_TOKEN", "A_TOKEN"]}
    [server] = Declaration.model_validate({"servers": [declared]}).servers
    assert server.config()["identity_env"] == ["A_TOKEN", "B_TOKEN"]
