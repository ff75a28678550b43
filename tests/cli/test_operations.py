"""The commands generated from the operation table, on both transports: in process on the local
store as the instance operator, and over HTTP against a running Lockgate with a personal access
token. Output for people and for scripts, refusals, usage errors, completion."""

from __future__ import annotations

import getpass
import re
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import typer
import yaml
from click.testing import Result
from typer.testing import CliRunner

from lockgate.api.operation import Operation
from lockgate.api.table import OPERATIONS
from lockgate.cli import app
from lockgate.cli.operations import build_groups
from lockgate.settings import Settings
from tests.conftest import (  # noqa: F401 - the fixtures
    SDK_BEARER_TOKEN,
    TEST_MASTER_KEY,
    Api,
    People,
    RunningGateway,
    admin,
    free_port,
    people,
)

Cli = Callable[..., Result]


def runner_for(prefix: list[str]) -> Cli:
    """Runs ``lockgate <prefix> <args>`` and checks its exit code."""

    def run(*args: str, code: int = 0) -> Result:
        result = CliRunner().invoke(app, [*prefix, *args], prog_name="lockgate")
        assert result.exit_code == code, result.output
        return result

    return run


@pytest.fixture
def local(settings: Settings, engine: object, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI on the test store, in process."""
    monkeypatch.setenv("LOCKGATE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LOCKGATE_DATABASE_URL", str(settings.database_url))
    monkeypatch.setenv("LOCKGATE_SECRET_KEY", "test-secret-key")
    monkeypatch.setenv("LOCKGATE_MASTER_KEY", TEST_MASTER_KEY)
    for name in ("LOCKGATE_URL", "LOCKGATE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return runner_for([])


@pytest.fixture
def remote(lockgate: RunningGateway, admin: Api, local: Cli) -> Cli:  # noqa: F811
    """The CLI calling the running gateway's API as its first Super admin."""
    return runner_for(["--url", lockgate.api_url, "--token", admin.token])


@pytest.fixture(params=["local", "remote"])
def cli(request: pytest.FixtureRequest) -> Cli:
    """Each test body once per transport."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def shown(result: Result) -> dict[str, str]:
    """The ``key: value`` lines a command printed for one object."""
    pairs = (line.split(":", 1) for line in result.stdout.splitlines() if ": " in line)
    return {key.strip(): value.strip() for key, value in pairs}


def test_a_gateway_is_created_assigned_and_listed_the_same_way_over_either_transport(cli: Cli) -> None:
    cli(
        "servers", "create", "time", "stdio", "--command", "python", "--arg", "-m", "--arg", "mcp_server_time"
    )
    assert shown(cli("gateways", "create", "engineering"))["name"] == "engineering"
    assigned = cli("gateways", "assign", "engineering", "time", "--prefix", "t").stdout.splitlines()
    at = assigned.index("servers:")
    assert assigned[at + 1].split() == ["ID", "NAME", "SERVER", "PREFIX", "IDENTITY_SCHEME", "IDENTITY"]
    assert assigned[at + 2].split()[1:] == ["time", "time", "t", "none", "-"]
    listing = cli("gateways", "list").stdout.splitlines()
    assert [line.split() for line in listing] == [
        ["NAME", "ENABLED", "ARCHIVED", "VERSION"],
        ["engineering", "true", "false", "2"],
    ]


def test_json_output_is_the_apis_answer_as_it_is_on_both_transports(
    local: Cli,
    remote: Cli,
    admin: Api,  # noqa: F811
) -> None:
    remote("gateways", "create", "engineering")
    answer = admin.get("/gateways/engineering").text
    assert remote("gateways", "get", "engineering", "-o", "json").stdout == answer + "\n"
    assert local("gateways", "get", "engineering", "-o", "json").stdout == answer + "\n"


def test_local_changes_are_recorded_as_the_instance_operator(local: Cli) -> None:
    local("gateways", "create", "engineering")
    events = orjson.loads(local("events", "list", "-o", "json").stdout)["items"]
    assert [(e["actor"], e["operation"], e["name"]) for e in events] == [
        (f"operator@{getpass.getuser()}", "gateways_create", "engineering")
    ]


def test_remote_changes_are_recorded_as_the_tokens_user(remote: Cli) -> None:
    remote("gateways", "create", "engineering")
    assert (
        orjson.loads(remote("events", "list", "-o", "json").stdout)["items"][0]["actor"]
        == "admin@example.com"
    )


def test_a_member_is_refused_with_exit_1_and_the_capability_on_stderr(
    lockgate: RunningGateway,
    people: People,  # noqa: F811
) -> None:
    ada = runner_for(["--url", lockgate.api_url, "--token", people.user("ada@example.com", "Member").token])
    refused = ada("gateways", "create", "mine", code=1)
    assert refused.stderr == "error: Capability 'Basic gateway management' is required.\n"
    assert refused.stdout == ""
    assert ada("users", "list", code=1).stderr == "error: Capability 'Manage people' is required.\n"


def test_a_bad_value_is_refused_with_exit_1_naming_the_field(cli: Cli) -> None:
    refused = cli("gateways", "create", "no spaces", code=1)
    assert refused.stderr.startswith("error: name: String should match pattern")


def test_an_identity_cannot_set_ld_preload_or_a_crlf_header_from_the_cli(cli: Cli) -> None:
    cli("servers", "create", "local", "stdio", "--command", "python", "--identity-env", "API_TOKEN")
    cli("servers", "create", "docs", "http", "--url", "https://docs.example.com/mcp")
    preload = cli("identities", "create", "local", "--header", "LD_PRELOAD=/tmp/x.so", code=1)
    assert preload.stderr.startswith("error: environment variable 'LD_PRELOAD' configures a loader")
    undeclared = cli("identities", "create", "local", "--header", "OTHER_TOKEN=k", code=1)
    assert "'OTHER_TOKEN' is not one this server's identities may set" in undeclared.stderr
    denied = cli("servers", "update", "local", "--identity-env", "NODE_OPTIONS", code=1)
    assert "NODE_OPTIONS" in denied.stderr
    injected = cli("identities", "create", "docs", "--header", "X-Key=k\r\nHost: evil", code=1)
    assert "control character" in injected.stderr and "evil" not in injected.stderr
    cli("identities", "create", "local", "--header", "API_TOKEN=k")


def test_a_change_from_a_stale_version_is_refused_and_changes_nothing(cli: Cli) -> None:
    cli("gateways", "create", "engineering")
    assert (
        shown(cli("gateways", "update", "engineering", "--name", "eng", "--if-match", "1"))["version"] == "2"
    )
    cli("gateways", "update", "eng", "--name", "lost", "--if-match", "1", code=1)
    assert cli("gateways", "get", "lost", code=1).stderr == "error: no gateway named 'lost'\n"
    assert shown(cli("gateways", "get", "eng"))["version"] == "2"


def test_a_new_token_is_the_last_stdout_line_with_a_shown_once_note_on_stderr(cli: Cli) -> None:
    cli("gateways", "create", "engineering")
    cli("hosts", "create", "feedback-bot")
    result = cli("tokens", "create", "feedback-bot", "engineering")
    token = result.stdout.splitlines()[-1]
    assert token.startswith("lg_") and token not in result.stderr and "shown once" in result.stderr
    assert shown(result)["host"] == "feedback-bot" and "token" not in shown(result)
    as_json = orjson.loads(cli("tokens", "create", "feedback-bot", "engineering", "-o", "json").stdout)
    assert as_json["token"].startswith("lg_") and as_json["token"] != token


def test_a_token_takes_a_lifetime_like_30d_and_refuses_a_user_who_does_not_exist(cli: Cli) -> None:
    cli("gateways", "create", "engineering")
    cli("hosts", "create", "feedback-bot")
    minted = orjson.loads(
        cli("tokens", "create", "feedback-bot", "engineering", "--expires-in", "30d", "-o", "json").stdout
    )
    assert minted["expires_at"] - minted["created_at"] == pytest.approx(30 * 86_400, abs=5)
    listed = cli("tokens", "list").stdout.splitlines()
    assert "EXPIRES_AT" in listed[0] and len(listed) == 2
    typo = cli("tokens", "create", "feedback-bot", "engineering", "--user", "bbo@example.com", code=1)
    assert "no user with email 'bbo@example.com'" in typo.stderr
    assert "bbo@example.com" not in cli("users", "list").stdout


def test_list_and_dict_fields_are_repeated_options(cli: Cli) -> None:
    created = cli(
        "servers", "create", "docs", "http", "--url", "https://docs.example.com/mcp",
        "--header", "Authorization: Bearer planted", "--headers", "X-Key=a=b", "-o", "json",
    )  # fmt: skip
    assert orjson.loads(created.stdout)["header_names"] == ["Authorization", "X-Key"]
    stdio = cli("servers", "create", "time", "stdio", "--command", "python", "--arg", "-m", "--args", "x")
    assert shown(stdio)["args"] == "-m, x"


def test_the_whole_input_may_come_from_a_json_or_yaml_file_and_options_beside_it_win(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "server.yaml").write_text("command: python\nargs: [-m, mcp_server_time]\nenv: {TZ: UTC}\n")
    answer = cli(
        "servers", "create", "time", "stdio", "--json", f"@{tmp_path / 'server.yaml'}", "--command", "python3"
    )
    assert shown(answer)["command"] == "python3" and shown(answer)["args"] == "-m, mcp_server_time"
    (tmp_path / "server.json").write_text('{"transport": "stdio", "command": "node"}')
    assert (
        shown(cli("servers", "create", "memory", "stdio", "--json", f"@{tmp_path / 'server.json'}"))[
            "command"
        ]
        == "node"
    )


def test_a_deletion_prints_nothing_on_stdout(cli: Cli) -> None:
    cli("gateways", "create", "engineering")
    deleted = cli("gateways", "delete", "engineering")
    assert deleted.stdout == "" and "done" in deleted.stderr
    assert cli("gateways", "list").stdout == "(none)\n"


def test_a_page_that_is_not_the_last_names_the_next_cursor(cli: Cli) -> None:
    for name in ("alpha", "beta"):
        cli("gateways", "create", name)
    first = cli("gateways", "list", "--limit", "1")
    cursor = first.stderr.split("--cursor ")[1].strip()
    second = cli("gateways", "list", "--limit", "1", "--cursor", cursor)
    assert [r.stdout.splitlines()[1].split()[0] for r in (first, second)] == ["alpha", "beta"]
    assert second.stderr == ""


def test_a_connection_is_picked_by_its_host_gateway_and_user_only_when_one_matches(cli: Cli) -> None:
    cli("gateways", "create", "engineering")
    cli("hosts", "create", "feedback-bot")
    cli("teams", "create", "eng")
    cli("gateways", "grant", "engineering", "eng")
    cli("users", "create", "ada@example.com", "--team", "eng")
    for user in ([], ["--user", "ada@example.com"]):
        cli("tokens", "create", "feedback-bot", "engineering", *user)
    pick = ("--host", "feedback-bot", "--gateway", "engineering")
    several = cli("connections", "disable", *pick, code=1)
    assert several.stderr.startswith("error: more than one connection matches --host feedback-bot")
    assert shown(cli("connections", "disable", *pick, "--user", "ada@example.com"))["enabled"] == "false"
    none = cli("connections", "disable", "--host", "nobody", "--gateway", "engineering", code=1)
    assert none.stderr == "error: no connection matches --host nobody --gateway engineering\n"
    connection = shown(cli("connections", "enable", *pick, "--user", "ada@example.com"))
    assert shown(cli("connections", "get", connection["id"]))["enabled"] == "true"


@pytest.mark.parametrize(
    "args",
    [
        ["gateways", "create"],
        ["gateways", "create", "x", "--bogus"],
        ["gateways", "list", "-o", "xml"],
        ["gateways", "set-identity-scheme", "x", "a", "bogus"],
        ["servers", "create", "s", "stdio", "--env", "NO_SEPARATOR"],
        ["servers", "create", "s", "stdio", "--json", "{not json"],
        ["servers", "create", "s", "stdio", "--json", "[1]"],
        ["servers", "create", "s", "stdio", "--json", "@/nonexistent/server.json"],
        ["connections", "disable"],
    ],
    ids=lambda args: " ".join(args),
)
def test_usage_errors_exit_2_before_any_call(local: Cli, args: list[str]) -> None:
    assert local(*args, code=2).stdout == ""


def test_a_url_without_a_token_is_refused_before_any_call(local: Cli) -> None:
    refused = local("--url", f"http://127.0.0.1:{free_port()}", "gateways", "list", code=1)
    assert "personal access token is required" in refused.stderr


def test_an_unreachable_url_fails_with_exit_1(local: Cli) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    refused = local("--url", url, "--token", "lgp_x", "gateways", "list", code=1)
    assert refused.stderr.startswith(f"error: cannot reach {url}/api/v1")


def test_an_unknown_token_is_refused_with_the_apis_message(lockgate: RunningGateway, local: Cli) -> None:
    refused = local("--url", lockgate.api_url, "--token", "lgp_unknown", "gateways", "list", code=1)
    assert refused.stderr == "error: the personal access token is unknown, revoked or expired\n"


def test_path_arguments_complete_resource_names_from_the_list_operation_on_either_transport(
    local: Cli,
    lockgate: RunningGateway,
    admin: Api,  # noqa: F811
) -> None:
    for name in ("engineering", "finance"):
        local("gateways", "create", name)
    words = f"lockgate --url {lockgate.api_url} --token {admin.token} gateways disable eng"
    for line in (words, "lockgate gateways disable eng"):
        env = {
            "_LOCKGATE_COMPLETE": "complete_bash",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(line.split()) - 1),
        }
        completed = CliRunner().invoke(app, [], env=env, prog_name="lockgate")
        assert completed.output.split() == ["engineering"]


def test_lockgate_me_shows_who_you_are_without_a_subcommand(remote: Cli) -> None:
    remote("teams", "create", "platform")
    remote("teams", "add-member", "platform", "admin@example.com")
    me = shown(remote("me"))
    assert (me["email"], me["role"], me["teams"]) == ("admin@example.com", "Super admin", "platform")
    assert "managePeople" in me["capabilities"].split(", ")
    assert orjson.loads(remote("me", "-o", "json").stdout) == orjson.loads(
        remote("me", "get", "-o", "json").stdout
    )


def test_the_shell_completion_script_is_shown(local: Cli) -> None:
    assert "_LOCKGATE_COMPLETE=complete_bash" in local("--show-completion", "bash").stdout


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.id)
def test_every_operation_of_the_table_makes_a_command_with_its_summary(operation: Operation) -> None:
    generated = typer.Typer()
    for name, group in build_groups(OPERATIONS).items():
        generated.add_typer(group, name=name)
    listing = CliRunner().invoke(generated, [operation.group, "--help"])
    assert listing.exit_code == 0 and operation.summary in listing.output
    assert CliRunner().invoke(generated, [operation.group, operation.command, "--help"]).exit_code == 0


def test_server_features_are_one_narrow_table_in_a_fixed_column_order_and_whole_in_json_or_yaml(
    lockgate: RunningGateway, remote: Cli, sdk_http_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lockgate.declare({"servers": [{"name": "fixture", "transport": "http", "url": sdk_http_url}]})
    monkeypatch.setenv("COLUMNS", "80")
    lines = remote("servers", "features", "fixture").stdout.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "TITLE", "DESCRIPTION"]
    assert max(len(line) for line in lines) <= 80
    kinds = [line.split()[0] for line in lines[1:]]
    assert kinds[0] == "tool" and kinds == sorted(kinds, key=["tool", "prompt", "resource"].index)
    whole = orjson.loads(remote("servers", "features", "fixture", "-o", "json").stdout)
    assert yaml.safe_load(remote("servers", "features", "fixture", "-o", "yaml").stdout) == whole
    assert "inputSchema" in whole["tools"][0] and "inputSchema" not in "\n".join(lines)


def test_server_features_run_as_the_identity_given_and_json_names_it_without_its_secret(
    lockgate: RunningGateway, remote: Cli, sdk_bearer_url: str
) -> None:
    lockgate.declare({"servers": [{"name": "locked", "transport": "http", "url": sdk_bearer_url}]})
    bearer = f"Authorization=Bearer {SDK_BEARER_TOKEN}"
    remote("identities", "create", "locked", "--name", "bot", "--header", bearer, "--availability", "global")
    remote("servers", "features", "locked", "--identity", "none", code=1)  # the server answers 401
    answer = remote("servers", "features", "locked", "--identity", "bot", "-o", "json").stdout
    assert orjson.loads(answer)["identity"]["name"] == "bot"
    assert SDK_BEARER_TOKEN not in answer


def test_provisioning_from_the_cli_assigns_fail_closed_approves_what_the_server_offers_and_sets_modes(
    lockgate: RunningGateway, remote: Cli, sdk_http_url: str
) -> None:
    lockgate.declare({"servers": [{"name": "fixture", "transport": "http", "url": sdk_http_url}]})
    remote("gateways", "create", "eng")
    remote("gateways", "assign", "eng", "fixture", "--approve-current")
    shown = orjson.loads(remote("provisioning", "get", "eng", "fixture", "-o", "json").stdout)
    assert {"echo", "greet", "fixture://hello"} <= {a["name"] for a in shown["approvals"]}
    remote("provisioning", "revoke", "eng", "fixture", "tools", "echo")
    echo = ["--kind", "tools", "--name", "echo", "--pin", "title"]
    approved = orjson.loads(remote("provisioning", "approve", "eng", "fixture", *echo, "-o", "json").stdout)
    approved = approved["approvals"]
    assert [a["pinned"] for a in approved if a["name"] == "echo"] == [["title"]]
    modes = orjson.loads(
        remote("provisioning", "set", "eng", "fixture", "--mode", "resources=block_all", "-o", "json").stdout
    )["modes"]
    assert (modes["resources"], modes["tools"]) == ("block_all", "allow_selected")
    assert remote("provisioning", "reviews", "eng", "fixture").stdout.split() == ["(none)"]
    refused = remote("provisioning", "set", "eng", "fixture", "--mode", "widgets=allow_all", code=1)
    assert "no feature kind is called 'widgets'" in refused.stderr
    remote("provisioning", "filter", "eng", "fixture", "--drop", "outputSchema", "--max-description", "5")
    preview = remote("servers", "features", "fixture", "--gateway", "eng", "--assignment", "fixture").stdout
    before, after = (int(n) for n in re.findall(r"\d+", preview.splitlines()[-1]))
    assert preview.splitlines()[-1].startswith("size: ") and after < before


def test_a_local_assignment_cannot_approve_current_as_it_reaches_no_server(local: Cli) -> None:
    local("servers", "create", "time", "stdio", "--command", "true")
    local("gateways", "create", "engineering")
    refused = local("gateways", "assign", "engineering", "time", "--approve-current", code=1)
    assert "this process does not reach servers" in refused.stderr
    assert orjson.loads(local("gateways", "get", "engineering", "-o", "json").stdout)["servers"] == []
    local("gateways", "assign", "engineering", "time", "--provisioning", "allow_all")
    modes = orjson.loads(local("provisioning", "get", "engineering", "time", "-o", "json").stdout)["modes"]
    assert set(modes.values()) == {"allow_all"}
