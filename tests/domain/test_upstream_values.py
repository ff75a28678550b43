"""What may go upstream as a header or an environment variable: credentials stay data."""

from __future__ import annotations

import pytest

from lockgate.domain.upstream_values import (
    MAX_FIELDS,
    MAX_VALUE,
    UpstreamValueError,
    check_headers,
    check_identity_env,
    check_identity_env_name,
    check_identity_values,
    check_server_env,
)

SECRET = "sk-planted-4d1e"


@pytest.mark.parametrize(
    "name",
    [
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "DYLD_INSERT_LIBRARIES",
        "PYTHONWARNINGS",
        "PYTHONSTARTUP",
        "PYTHONPATH",
        "NODE_OPTIONS",
        "NODE_PATH",
        "PATH",
        "HOME",
        "LANG",
        "BROWSER",
        "PERL5OPT",
        "PERL5LIB",
        "RUBYOPT",
        "JAVA_TOOL_OPTIONS",
        "BASH_ENV",
        "ENV",
        "IFS",
        "SHELLOPTS",
        "GIT_SSH_COMMAND",
        "GIT_CONFIG_GLOBAL",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "SSL_CERT_FILE",
        "lower_case",
        "_JAVA_OPTIONS",
        "1ST",
        "WITH-DASH",
        "",
    ],
)
def test_an_identity_never_sets_a_loader_interpreter_or_malformed_variable(name: str) -> None:
    with pytest.raises(UpstreamValueError):
        check_identity_env_name(name)
    with pytest.raises(UpstreamValueError):  # even when its administrator declared it
        check_identity_env({name: "x"}, {name})


def test_an_identity_sets_only_the_variables_its_server_declares() -> None:
    check_identity_env({"GITHUB_TOKEN": SECRET}, {"GITHUB_TOKEN", "GITHUB_ORG"})
    with pytest.raises(
        UpstreamValueError, match="'API_KEY' is not one this server's identities may set"
    ) as e:
        check_identity_env({"API_KEY": SECRET}, {"GITHUB_TOKEN"})
    assert SECRET not in str(e.value)
    with pytest.raises(UpstreamValueError, match="administrator must declare"):
        check_identity_env({"API_KEY": SECRET}, ())


@pytest.mark.parametrize(
    "value", [f"{SECRET}\r\nHost: evil", f"{SECRET}\n", f"{SECRET}\x00", "x" * (MAX_VALUE + 1)]
)
def test_a_value_with_a_line_break_nul_or_too_long_is_refused_without_echoing_it(value: str) -> None:
    for check in (
        lambda: check_headers({"X-Api-Key": value}),
        lambda: check_identity_env({"API_KEY": value}, {"API_KEY"}),
        lambda: check_server_env({"API_KEY": value}),
    ):
        with pytest.raises(UpstreamValueError) as refused:
            check()
        assert SECRET not in str(refused.value)


@pytest.mark.parametrize(
    "name",
    [
        "Host",
        "host",
        "Content-Length",
        "Transfer-Encoding",
        "Connection",
        "Keep-Alive",
        "Upgrade",
        "TE",
        "Trailer",
        "Proxy-Authorization",
        "Mcp-Session-Id",
        "MCP-Protocol-Version",
        "Mcp-Method",
        "Mcp-Name",
        "Mcp-Param-Region",
        "Content-Type",
        "Accept",
        "X Api Key",
        "X-Api-Key:",
        "X-Api-Key\r\nHost",
        "",
        "é",
    ],
)
def test_a_reserved_or_malformed_header_name_is_refused(name: str) -> None:
    with pytest.raises(UpstreamValueError):
        check_headers({name: "v"})


def test_ordinary_credential_headers_pass_and_a_name_twice_in_different_case_does_not() -> None:
    check_headers({"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET, "X-Tenant": "a b"})
    with pytest.raises(UpstreamValueError, match="given twice"):
        check_headers({"X-Api-Key": "a", "x-api-key": "b"})


def test_the_number_of_fields_is_bounded() -> None:
    many = {f"X-H{i}": "v" for i in range(MAX_FIELDS + 1)}
    with pytest.raises(UpstreamValueError, match=f"at most {MAX_FIELDS}"):
        check_headers(many)


def test_a_servers_own_env_takes_any_portable_name_but_no_malformed_one() -> None:
    check_server_env({"NODE_OPTIONS": "--max-old-space-size=512", "http_proxy": "http://proxy:3128"})
    for name in ("WITH-DASH", "1ST", "A=B", ""):
        with pytest.raises(UpstreamValueError):
            check_server_env({name: "x"})


def test_identity_values_are_headers_for_remote_servers_and_declared_env_for_stdio_ones() -> None:
    check_identity_values(False, {"X-Api-Key": SECRET}, ())
    check_identity_values(True, {"API_KEY": SECRET}, ("API_KEY",))
    with pytest.raises(UpstreamValueError):
        check_identity_values(True, {"X-Api-Key": SECRET}, ())
    with pytest.raises(UpstreamValueError):
        check_identity_values(False, {"Host": "evil"}, ())
