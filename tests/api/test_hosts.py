"""Hosts through the JSON API: create, rename, delete, the break-glass toggle."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import Engine, select

from lockgate.api.table import BY_ID
from lockgate.domain.capabilities import Capability
from lockgate.settings import Settings
from lockgate.store import webhooks as outbox
from lockgate.store.people import bootstrap_super_admin, ensure_user
from lockgate.store.schema import admin_events, api_tokens, connections, hosts, webhook_deliveries
from lockgate.store.tokens import save_token
from lockgate.vault import place
from lockgate.webhooks.signing import verify
from tests.conftest import TEST_VAULT, Api, People, RunningGateway, in_process
from tests.fixtures.webhook_endpoint import endpoint


def test_adding_a_host_answers_201_with_its_etag_and_records_an_admin_event(
    admin: Api, lockgate: RunningGateway
) -> None:
    created = admin.post("/hosts", json={"name": "claude"})
    assert created.status_code == 201
    assert created.headers["etag"] == '"1"'
    host = created.json()
    assert (host["name"], host["kind"], host["enabled"]) == ("claude", "token", True)
    assert host.pop("webhook_secret") is None  # none made: the host has no webhook
    with lockgate.engine.connect() as conn:
        [event] = conn.execute(select(admin_events).where(admin_events.c.kind == "host"))
    assert (event.operation, event.name, event.before, event.after) == ("hosts_create", "claude", None, host)


def test_a_taken_name_is_a_409_and_an_unknown_kind_a_400(admin: Api) -> None:
    admin.post("/hosts", json={"name": "claude"})
    admin.post("/hosts", json={"name": "cursor"})
    assert admin.post("/hosts", json={"name": "claude"}).status_code == 409
    assert admin.patch("/hosts/cursor", json={"name": "claude"}).status_code == 409
    unknown = admin.post("/hosts", json={"name": "vscode", "kind": "oauth"})
    assert unknown.status_code == 400
    assert unknown.json()["error"]["field"] == "kind"


def test_an_unknown_host_is_a_404_everywhere(admin: Api) -> None:
    assert admin.get("/hosts/ghost").status_code == 404
    assert admin.patch("/hosts/ghost", json={"name": "x"}).status_code == 404
    assert admin.delete("/hosts/ghost").status_code == 404
    assert admin.post("/hosts/ghost/enable").status_code == 404


def test_a_rename_from_a_stale_version_gets_412_and_changes_nothing(admin: Api) -> None:
    admin.post("/hosts", json={"name": "claude"})
    renamed = admin.patch("/hosts/claude", json={"name": "claude-code"}, headers={"If-Match": '"1"'})
    assert renamed.status_code == 200
    stale = admin.patch("/hosts/claude-code", json={"name": "lost"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    assert admin.post("/hosts/claude-code/disable", headers={"If-Match": '"1"'}).status_code == 412
    assert admin.delete("/hosts/claude-code", headers={"If-Match": '"1"'}).status_code == 412
    host = admin.get("/hosts/claude-code").json()
    assert (host["version"], host["enabled"]) == (2, True)


def test_disabling_and_enabling_flip_the_toggle(admin: Api) -> None:
    admin.post("/hosts", json={"name": "claude"})
    assert admin.post("/hosts/claude/disable").json()["enabled"] is False
    assert [h["name"] for h in admin.get("/hosts", params={"enabled": "false"}).json()["items"]] == ["claude"]
    enabled = admin.post("/hosts/claude/enable")
    assert (enabled.json()["enabled"], enabled.headers["etag"]) == (True, '"3"')


def test_deleting_a_host_deletes_its_connections_and_api_tokens(admin: Api, lockgate: RunningGateway) -> None:
    lockgate.declare({"gateways": [{"name": "g"}], "hosts": [{"name": "claude"}]})
    lockgate.token("claude", "g")
    assert admin.delete("/hosts/claude").status_code == 204
    assert admin.get("/hosts/claude").status_code == 404
    with lockgate.engine.connect() as conn:
        assert conn.execute(select(connections)).first() is None
        assert conn.execute(select(api_tokens)).first() is None


def test_the_list_filters_by_name_and_pages(admin: Api) -> None:
    for name in ("claude", "cursor", "codex"):
        admin.post("/hosts", json={"name": name})
    first = admin.get("/hosts", params={"limit": 2}).json()
    second = admin.get("/hosts", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [h["name"] for h in first["items"] + second["items"]] == ["claude", "codex", "cursor"]
    assert [h["name"] for h in admin.get("/hosts", params={"name_contains": "ur"}).json()["items"]] == [
        "cursor"
    ]


def test_a_member_sees_hosts_but_cannot_change_them_and_the_403_names_the_capability(
    admin: Api, people: People
) -> None:
    admin.post("/hosts", json={"name": "claude"})
    ada = people.user("ada@example.com", "Member")
    assert [h["name"] for h in ada.get("/hosts").json()["items"]] == ["claude"]
    assert ada.get("/hosts/claude").status_code == 200
    refused = ada.post("/hosts", json={"name": "mine"})
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Capability 'Create and manage API tokens' is required."
    assert ada.patch("/hosts/claude", json={"name": "x"}).json()["error"]["capability"] == (
        "createAndManageApiTokens"
    )
    assert ada.post("/hosts/claude/disable").json()["error"]["capability"] == "disableAndEnableHosts"
    assert admin.get("/hosts/claude").json()["version"] == 1


# -- connection links and webhooks ----------------------------------------------------------------
HOOK = "https://agent.example/hook"


def test_each_host_shows_its_own_connection_link_under_the_public_url(
    admin: Api, lockgate: RunningGateway
) -> None:
    first = admin.post("/hosts", json={"name": "claude"}).json()["link"]
    second = admin.post("/hosts", json={"name": "agent"}).json()["link"]
    with lockgate.engine.connect() as conn:
        link_id = conn.execute(select(hosts.c.link_id).where(hosts.c.name == "claude")).scalar_one()
    assert first == f"{lockgate.settings.resolved_public_url}/connect/{link_id}"
    assert second != first and admin.get("/hosts/claude").json()["link"] == first


def test_a_webhook_set_on_create_answers_its_signing_secret_once_sealed_and_out_of_the_events(
    admin: Api, lockgate: RunningGateway
) -> None:
    created = admin.post("/hosts", json={"name": "agent", "webhook_url": HOOK})
    assert created.status_code == 201
    secret = created.json()["webhook_secret"]
    assert secret.startswith("whsec_") and created.json()["webhook_url"] == HOOK
    shown = admin.get("/hosts/agent").json()
    assert "webhook_secret" not in shown and shown["webhook_url"] == HOOK
    with lockgate.engine.connect() as conn:
        row = conn.execute(select(hosts).where(hosts.c.name == "agent")).one()
        events = [orjson.dumps(e.after).decode() for e in conn.execute(select(admin_events))]
    assert secret not in row.webhook_secret
    assert outbox.open_webhook_secret(TEST_VAULT, row.id, row.webhook_secret) == secret
    assert all(secret not in e for e in events)


def test_changing_the_webhook_url_keeps_the_secret_and_removing_it_drops_both(
    admin: Api, lockgate: RunningGateway
) -> None:
    def sealed() -> str | None:
        with lockgate.engine.connect() as conn:
            return conn.execute(select(hosts.c.webhook_secret).where(hosts.c.name.like("agent%"))).scalar()

    admin.post("/hosts", json={"name": "agent"})
    first = admin.patch("/hosts/agent", json={"webhook_url": HOOK})
    assert first.json()["version"] == 2 and "webhook_secret" not in first.json()
    made = sealed()
    assert made is not None  # made, sealed, and shown only by rotate-webhook-secret
    moved = admin.patch("/hosts/agent", json={"webhook_url": "https://agent.example/v2"}).json()
    assert moved["webhook_url"] == "https://agent.example/v2" and sealed() == made
    renamed = admin.patch("/hosts/agent", json={"name": "agent-2"}).json()
    assert renamed["webhook_url"] == "https://agent.example/v2"
    assert admin.patch("/hosts/agent-2", json={"webhook_url": None}).json()["webhook_url"] is None
    assert sealed() is None
    again = admin.patch("/hosts/agent-2", json={"webhook_url": HOOK})
    assert "webhook_secret" not in again.json() and sealed() not in (None, made)
    assert admin.patch("/hosts/agent-2", json={"webhook_url": ""}).json()["webhook_url"] is None


def test_no_change_to_a_host_answers_its_signing_secret_only_creation_and_rotation_do(
    admin: Api, lockgate: RunningGateway
) -> None:
    admin.post("/hosts", json={"name": "agent"})
    for change in ({"webhook_url": HOOK}, {"webhook_url": "https://agent.example/v2"}, {"name": "agent-2"}):
        answer = admin.patch("/hosts/agent", json=change)
        assert answer.status_code == 200 and "whsec_" not in answer.text
    rotated = admin.post("/hosts/agent-2/rotate-webhook-secret").json()["webhook_secret"]
    with lockgate.engine.connect() as conn:
        row = conn.execute(select(hosts).where(hosts.c.name == "agent-2")).one()
    assert outbox.open_webhook_secret(TEST_VAULT, row.id, row.webhook_secret) == rotated


def test_moving_a_hosts_webhook_needs_every_gateway_it_serves_and_the_403_names_none_unseen(
    admin: Api, people: People, lockgate: RunningGateway
) -> None:
    lockgate.declare(
        {"gateways": [{"name": "engineering"}, {"name": "finance"}], "hosts": [{"name": "claude"}]}
    )
    admin.patch("/hosts/claude", json={"webhook_url": HOOK}).raise_for_status()
    people.role("Token keeper", [Capability.CREATE_AND_MANAGE_API_TOKENS])
    kim = people.user("kim@example.com", "Token keeper", ["eng"], ["engineering"])
    assert kim.post("/tokens", json={"host": "claude", "gateway": "engineering"}).status_code == 201
    assert kim.patch("/hosts/claude", json={"webhook_url": "https://kim.example/a"}).status_code == 200
    admin.post("/tokens", json={"host": "claude", "gateway": "finance"}).raise_for_status()

    for refused in (
        kim.patch("/hosts/claude", json={"webhook_url": "https://kim.example/steal"}),
        kim.patch("/hosts/claude", json={"webhook_url": None}),
        kim.post("/hosts/claude/rotate-webhook-secret"),
    ):
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["capability"] == "viewAndUseAllGateways" and "outside your teams" in error["message"]
        assert "finance" not in error["message"]  # a gateway kim does not see is not named
        assert "whsec_" not in refused.text
    host = admin.get("/hosts/claude").json()
    assert (host["webhook_url"], host["version"]) == ("https://kim.example/a", 3)
    assert kim.patch("/hosts/claude", json={"name": "claude-code"}).status_code == 200  # not where tokens go


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://agent.example/hook", "https"),
        ("http://127.0.0.1.agent.example/hook", "https"),
        ("ftp://agent.example/hook", "http or https"),
        ("/hook", "http or https"),
        ("https://user:pass@agent.example/hook", "user name"),
        ("https://agent.example/hook#x", "fragment"),
        ("https://agent.example:99999/hook", "not a URL"),
    ],
)
def test_a_webhook_url_must_be_https_without_credentials_and_the_400_names_the_field(
    admin: Api, url: str, why: str
) -> None:
    refused = admin.post("/hosts", json={"name": "agent", "webhook_url": url})
    assert refused.status_code == 400
    assert refused.json()["error"]["field"] == "webhook_url" and why in refused.json()["error"]["message"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "http://localhost/hook", "http://[::1]:8/h"])
def test_plain_http_is_allowed_for_a_loopback_webhook(admin: Api, url: str) -> None:
    assert admin.post("/hosts", json={"name": "agent", "webhook_url": url}).status_code == 201


def test_rotating_the_webhook_secret_answers_a_new_one_once_and_needs_a_webhook(
    admin: Api, lockgate: RunningGateway
) -> None:
    admin.post("/hosts", json={"name": "bare"})
    refused = admin.post("/hosts/bare/rotate-webhook-secret")
    assert refused.status_code == 409 and "no webhook URL" in refused.json()["error"]["message"]
    first = admin.post("/hosts", json={"name": "agent", "webhook_url": HOOK}).json()["webhook_secret"]
    rotated = admin.post("/hosts/agent/rotate-webhook-secret", headers={"If-Match": '"1"'})
    assert rotated.status_code == 200
    assert rotated.json()["host"] == "agent"
    assert rotated.json()["webhook_secret"] not in (None, first)
    assert admin.get("/hosts/agent").json()["version"] == 2
    assert admin.post("/hosts/agent/rotate-webhook-secret", headers={"If-Match": '"1"'}).status_code == 412
    assert BY_ID["hosts_rotate_webhook_secret"].reveals == "webhook_secret"
    with lockgate.engine.connect() as conn:
        events = [orjson.dumps([e.before, e.after]).decode() for e in conn.execute(select(admin_events))]
    assert all(rotated.json()["webhook_secret"] not in e for e in events)


def test_the_deliveries_list_shows_status_and_attempts_never_payloads_and_needs_the_capability(
    admin: Api, lockgate: RunningGateway, people: People
) -> None:
    lockgate.declare({"gateways": [{"name": "g"}]})
    admin.post("/hosts", json={"name": "agent", "webhook_url": HOOK})
    with lockgate.engine.begin() as conn:
        agent = conn.execute(select(hosts.c.id).where(hosts.c.name == "agent")).scalar_one()
        data = {
            "host": "agent",
            "gateway": "g",
            "user": "ada@example.com",
            "token_id": "tok_1",
            "token": "API_x",
        }
        outbox.enqueue_token_delivery(conn, TEST_VAULT, agent, data)
    listed = admin.get("/hosts/agent/deliveries")
    assert listed.status_code == 200
    [delivery] = listed.json()["items"]
    assert (delivery["event"], delivery["status"], delivery["attempts"]) == (
        "api_token.created",
        "pending",
        0,
    )
    assert "payload" not in delivery and "API_x" not in listed.text
    assert admin.get("/hosts/agent/deliveries", params={"status": "delivered"}).json()["items"] == []
    assert admin.get("/hosts/ghost/deliveries").status_code == 404
    member = people.user("ada@example.com", "Member")
    assert member.get("/hosts/agent/deliveries").json()["error"]["capability"] == "createAndManageApiTokens"
    assert member.post("/hosts/agent/rotate-webhook-secret").status_code == 403


def test_a_token_minted_for_a_host_with_a_webhook_reaches_the_agent_through_the_running_gateway(
    settings: Settings, engine: Engine
) -> None:
    agent = endpoint()
    try:
        allowed = settings.model_copy(update={"egress_allowed_networks": ["127.0.0.0/8"]})
        with in_process(allowed, engine) as running:
            token = bootstrap_super_admin(engine, allowed.key_bytes(), "admin@example.com")
            assert token is not None
            admin = Api(running.api_url, token, running.http)
            running.declare({"gateways": [{"name": "g"}]})
            secret = admin.post("/hosts", json={"name": "agent", "webhook_url": agent.url}).json()[
                "webhook_secret"
            ]
            with engine.begin() as conn:  # what the connection flow does when a user enrols
                agent_id = conn.execute(select(hosts.c.id).where(hosts.c.name == "agent")).scalar_one()
                ensure_user(conn, "ada@example.com")
                token_id, minted = save_token(
                    conn, allowed.key_bytes(), "agent", "g", "ada@example.com", minted_by=None,
                    private_identities=True, expires_at=None,
                )  # fmt: skip
                data = {"host": "agent", "gateway": "g", "user": "ada@example.com", "token_id": token_id}
                outbox.enqueue_token_delivery(conn, TEST_VAULT, agent_id, data | {"token": minted})
            running.app.state.lockgate.webhooks.wake()  # from this thread, after the commit
            [request] = agent.wait(1)
        # the gateway has stopped: its deliverer finished and recorded the attempt under way first
        assert verify(secret, request.headers, request.body)["data"]["token"] == minted
        with engine.connect() as conn:
            delivery = conn.execute(select(webhook_deliveries)).one()
        assert (delivery.status, delivery.attempts, delivery.last_status, delivery.payload) == (
            "delivered",
            1,
            200,
            None,
        )
    finally:
        agent.stop()


def test_a_webhook_receives_only_tokens_for_gateways_whoever_set_it_may_use(
    admin: Api, people: People, lockgate: RunningGateway
) -> None:
    lockgate.declare(
        {"gateways": [{"name": "engineering"}, {"name": "finance"}], "hosts": [{"name": "claude"}]}
    )
    people.role("Token keeper", [Capability.CREATE_AND_MANAGE_API_TOKENS])
    kim = people.user("kim@example.com", "Token keeper", ["eng"], ["engineering"])
    kim.patch("/hosts/claude", json={"webhook_url": "https://kim.example/hook"}).raise_for_status()

    def queued() -> list[str]:
        with lockgate.engine.connect() as conn:
            rows = conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.id)).all()
        return [
            TEST_VAULT.open(r.payload, place("webhook_deliveries", r.id, "payload"))["data"]["gateway"]
            for r in rows
        ]

    later = admin.post("/tokens", json={"host": "claude", "gateway": "finance"})  # a gateway kim cannot use
    assert later.status_code == 201 and queued() == []
    admin.post("/tokens", json={"host": "claude", "gateway": "engineering"}).raise_for_status()
    assert queued() == ["engineering"]
    admin.patch("/hosts/claude", json={"webhook_url": "https://agent.example/hook"}).raise_for_status()
    admin.post("/tokens", json={"host": "claude", "gateway": "finance"}).raise_for_status()
    assert queued() == ["engineering", "finance"]
