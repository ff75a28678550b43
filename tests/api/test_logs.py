"""The traffic log through the JSON API: every leg of every message, newest first, filtered and paged."""

from __future__ import annotations

import time
from typing import Any

from lockgate.domain.audit import AuditEntry
from lockgate.domain.capabilities import Capability
from lockgate.store.audit_log import save_entries
from tests.conftest import Api, People, RunningGateway


def _tools_call(lockgate: RunningGateway, token: str, tool: str) -> str:
    """A modern ``tools/call`` through gateway ``g``; returns the message's correlation id."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": tool,
            "arguments": {},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "logs-test", "version": "1"},
            },
        },
    }
    headers = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
        "Authorization": f"Bearer {token}",
    }
    answer = lockgate.http.post(lockgate.url("g"), json=body, headers=headers)
    return answer.headers["x-correlation-id"]


def test_a_message_through_a_gateway_is_readable_leg_by_leg_newest_first(
    admin: Api, lockgate: RunningGateway
) -> None:
    lockgate.declare({"gateways": [{"name": "g"}], "hosts": [{"name": "agent"}]})
    token = lockgate.token("agent", "g", "ada@example.com")
    correlation_id = _tools_call(lockgate, token, "no_such_tool")
    lockgate.flush_audit()
    answer = admin.get("/logs", params={"correlation_id": correlation_id})
    assert answer.status_code == 200, answer.text
    legs = answer.json()["items"]
    assert [leg["type"] for leg in legs] == [
        "proxy_response_error",
        "gateway_refused",
        "proxy_request_success",
    ]
    request = legs[-1]
    assert request["method"] == "tools/call"
    assert request["feature_name"] == "no_such_tool"
    assert request["user_email"] == "ada@example.com"
    assert request["gateway"] == "g"
    assert request["host"] == "agent"
    assert token not in answer.text  # headers are stored redacted


def _entry(n: int, **fields: Any) -> AuditEntry:
    values: dict[str, Any] = {
        "correlation_id": f"c{n}",
        "type": "proxy_request_success",
        "created_at": 1_000.0 + n,
        "method": "tools/call",
        "user_email": "ada@example.com",
        "gateway": "g",
        "server": "time",
    }
    return AuditEntry(**(values | fields))


def test_the_log_filters_by_each_field_and_time_and_pages_newest_first(
    admin: Api, lockgate: RunningGateway
) -> None:
    save_entries(
        lockgate.engine,
        [
            _entry(1),
            _entry(2, gateway="finance", server="ledger"),
            _entry(3, user_email="bob@example.com", method="resources/read"),
            _entry(4, type="mcp_response_error"),
        ],
    )

    def ids(**params: Any) -> list[str]:
        answer = admin.get("/logs", params=params)
        assert answer.status_code == 200, answer.text
        return [e["correlation_id"] for e in answer.json()["items"]]

    assert ids() == ["c4", "c3", "c2", "c1"]
    assert ids(gateway="finance") == ["c2"]
    assert ids(server="time") == ["c4", "c3", "c1"]
    assert ids(user="bob@example.com") == ["c3"]
    assert ids(method="resources/read") == ["c3"]
    assert ids(type="mcp_response_error") == ["c4"]
    assert ids(correlation_id="c1") == ["c1"]
    assert ids(since=1_003.0) == ["c4", "c3"]
    assert ids(gateway="g", user="ada@example.com") == ["c4", "c1"]
    first = admin.get("/logs", params={"limit": 3}).json()
    save_entries(lockgate.engine, [_entry(5, created_at=time.time())])  # appended meanwhile
    rest = admin.get("/logs", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [e["correlation_id"] for e in rest["items"]] == ["c1"]
    assert rest["next_cursor"] is None


def test_reading_the_log_needs_view_and_export_logs(admin: Api, people: People) -> None:
    ada = people.user("ada@example.com", "Member")
    refused = ada.get("/logs")
    assert refused.status_code == 403
    assert refused.json()["error"]["capability"] == "viewAndExportLogs"
    assert admin.get("/logs", params={"since": "-1"}).json()["error"]["field"] == "since"


def test_a_reader_without_view_all_logs_reads_only_the_gateways_they_may_use(
    admin: Api, lockgate: RunningGateway, people: People
) -> None:
    lockgate.declare({"gateways": [{"name": "g"}, {"name": "finance"}]})
    save_entries(
        lockgate.engine,
        [
            _entry(1),
            _entry(2, gateway="finance", server="ledger"),
            _entry(3, gateway=None, type="gateway_refused"),
        ],
    )
    people.role("Auditor", [Capability.VIEW_AND_EXPORT_LOGS])
    kim = people.user("kim@example.com", "Auditor", ["eng"], ["g"])
    people.role("Every gateway", [Capability.VIEW_AND_EXPORT_LOGS, Capability.VIEW_AND_USE_ALL_GATEWAYS])
    lee = people.user("lee@example.com", "Every gateway")
    people.role("All logs", [Capability.VIEW_AND_EXPORT_LOGS, Capability.VIEW_ALL_LOGS])
    max_ = people.user("max@example.com", "All logs")

    def ids(api: Api, **params: str) -> list[str]:
        answer = api.get("/logs", params=params)
        assert answer.status_code == 200, answer.text
        return [e["correlation_id"] for e in answer.json()["items"]]

    assert ids(kim) == ["c1"]
    assert ids(kim, gateway="finance") == []
    assert ids(kim, correlation_id="c2") == []
    assert ids(lee) == ["c2", "c1"]  # every gateway's entries, not those of no gateway
    assert ids(max_) == ["c3", "c2", "c1"]
    assert ids(admin) == ["c3", "c2", "c1"]
