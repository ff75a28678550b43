"""The webhook outbox: a delivery is queued with the token that it carries, sealed to its row, claimed
by one sender at a time, and its payload is gone once delivered or given up."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import Engine, select

from lockgate.domain.declaration import Declaration
from lockgate.store import webhooks as outbox
from lockgate.store.declarative import apply_declaration
from lockgate.store.records import fetch_named
from lockgate.store.schema import hosts, webhook_deliveries
from lockgate.store.tokens import save_token
from lockgate.vault import VaultError, place
from tests.conftest import TEST_VAULT

URL = "https://agent.example/hook"


PLANTED = "API_planted-token-5b1e"


def data(token: str = PLANTED, **changes: Any) -> dict[str, Any]:
    return {
        "host": "agent",
        "gateway": "g",
        "user": "ada@example.com",
        "token_id": "tok_1",
        "token": token,
    } | changes


def host_id(engine: Engine, url: str | None = URL) -> int:
    apply_declaration(
        engine,
        TEST_VAULT,
        Declaration.model_validate({"hosts": [{"name": "agent"}], "gateways": [{"name": "g"}]}),
    )
    with engine.begin() as conn:
        row = fetch_named(conn, hosts, "agent", "host")
        if url is not None:
            outbox.save_webhook(conn, TEST_VAULT, row, url, None)
    return int(row.id)


def deliveries(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.id)))


def test_a_declared_host_gets_a_random_connection_link_id(engine: Engine) -> None:
    host_id(engine, None)
    with engine.connect() as conn:
        link_id = fetch_named(conn, hosts, "agent", "host").link_id
    assert len(link_id) == 22


def test_a_host_without_a_webhook_queues_nothing(engine: Engine) -> None:
    agent = host_id(engine, None)
    with engine.begin() as conn:
        assert outbox.enqueue_token_delivery(conn, TEST_VAULT, agent, data()) is False
    assert deliveries(engine) == []


def test_a_queued_delivery_is_due_now_and_its_payload_is_sealed_to_its_row(engine: Engine) -> None:
    agent = host_id(engine)
    with engine.begin() as conn:
        assert outbox.enqueue_token_delivery(conn, TEST_VAULT, agent, data()) is True
    [row] = deliveries(engine)
    assert (row.event, row.status, row.attempts, row.host_id) == ("api_token.created", "pending", 0, agent)
    assert row.message_id.startswith("msg_") and row.next_attempt_at <= time.time()
    assert "planted-token" not in row.payload
    body = outbox.open_payload(TEST_VAULT, row.id, row.payload)
    assert body["type"] == "api_token.created" and body["timestamp"].endswith("Z")
    assert body["data"] == data()
    with pytest.raises(VaultError):  # copied to another row, it does not open
        TEST_VAULT.open(row.payload, place("webhook_deliveries", row.id + 1, "payload"))


def test_the_delivery_commits_or_rolls_back_with_the_token_it_carries(engine: Engine) -> None:
    agent = host_id(engine)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        _, token = save_token(
            conn, b"k" * 32, "agent", "g", None, minted_by=None, private_identities=False, expires_at=None
        )
        outbox.enqueue_token_delivery(conn, TEST_VAULT, agent, data(token))
        raise RuntimeError("the minting transaction fails")
    assert deliveries(engine) == []


def test_token_data_must_hold_exactly_the_documented_fields(engine: Engine) -> None:
    agent = host_id(engine)
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="exactly host, gateway, user, token_id, token"):
            outbox.enqueue_token_delivery(conn, TEST_VAULT, agent, {"token": "API_x"})
        with pytest.raises(ValueError):
            outbox.enqueue_token_delivery(conn, TEST_VAULT, agent, data(extra=1))


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_ends(engine: Engine) -> None:
    agent = host_id(engine)
    with engine.begin() as conn:
        outbox.enqueue_token_delivery(conn, TEST_VAULT, agent, data())
    now = time.time()
    with engine.begin() as conn:
        [claimed] = outbox.claim_due_deliveries(conn, now, lease=60, limit=10)
        assert (claimed.host, claimed.webhook_url, claimed.attempts) == ("agent", URL, 0)
        assert outbox.open_webhook_secret(TEST_VAULT, agent, claimed.webhook_secret).startswith("whsec_")
        assert outbox.claim_due_deliveries(conn, now + 30, lease=60, limit=10) == []
        assert [r.id for r in outbox.claim_due_deliveries(conn, now + 61, lease=60, limit=10)] == [claimed.id]
        assert outbox.load_next_due(conn) == pytest.approx(now + 121)


def test_a_delivered_delivery_keeps_its_record_but_not_its_payload(engine: Engine) -> None:
    agent = host_id(engine)
    with engine.begin() as conn:
        outbox.enqueue_token_delivery(conn, TEST_VAULT, agent, data())
        [row] = outbox.claim_due_deliveries(conn, time.time(), 60, 10)
        outbox.record_delivered(conn, row.id, 204, time.time())
        assert outbox.load_next_due(conn) is None
    [after] = deliveries(engine)
    assert (after.status, after.attempts, after.last_status, after.payload) == ("delivered", 1, 204, None)
    assert after.delivered_at is not None


def test_a_failed_attempt_is_retried_and_the_last_one_gives_up_and_clears_the_payload(engine: Engine) -> None:
    agent = host_id(engine)
    with engine.begin() as conn:
        outbox.enqueue_token_delivery(conn, TEST_VAULT, agent, data())
        [row] = outbox.claim_due_deliveries(conn, time.time(), 60, 10)
        outbox.record_failed_attempt(conn, row.id, status=500, error="HTTP 500", retry_at=time.time() + 5)
    [retried] = deliveries(engine)
    assert (retried.status, retried.attempts, retried.last_status, retried.last_error) == (
        "pending",
        1,
        500,
        "HTTP 500",
    )
    assert retried.payload is not None
    with engine.begin() as conn:
        outbox.record_failed_attempt(conn, row.id, status=None, error="ConnectError: refused", retry_at=None)
    [failed] = deliveries(engine)
    assert (failed.status, failed.attempts, failed.last_status, failed.payload) == ("failed", 2, None, None)
    assert failed.next_attempt_at is None


def test_the_delivery_list_is_newest_first_filters_by_status_and_holds_no_payload(engine: Engine) -> None:
    agent = host_id(engine)
    with engine.begin() as conn:
        for _ in range(3):
            outbox.enqueue_token_delivery(conn, TEST_VAULT, agent, data())
        first = min(r.id for r in outbox.claim_due_deliveries(conn, time.time(), 60, 1))
        outbox.record_delivered(conn, first, 200, time.time())
        rows, cursor = outbox.load_delivery_page(conn, agent, status=None, cursor=None, limit=2)
        rest, end = outbox.load_delivery_page(conn, agent, status=None, cursor=cursor, limit=2)
        delivered, _ = outbox.load_delivery_page(
            conn, agent, status=outbox.DeliveryStatus.DELIVERED, cursor=None, limit=10
        )
    assert [r.id for r in rows + rest] == sorted((r.id for r in rows + rest), reverse=True)
    assert end is None and len(rows + rest) == 3
    assert [r.id for r in delivered] == [first]
    assert "payload" not in rows[0]._mapping


def test_setting_a_webhook_makes_a_secret_once_and_removing_it_drops_the_secret(engine: Engine) -> None:
    agent = host_id(engine, None)
    with engine.begin() as conn:
        row = fetch_named(conn, hosts, "agent", "host")
        secret = outbox.save_webhook(conn, TEST_VAULT, row, URL, None)
        row = fetch_named(conn, hosts, "agent", "host")
        assert secret is not None and secret not in row.webhook_secret
        assert outbox.open_webhook_secret(TEST_VAULT, agent, row.webhook_secret) == secret
        assert outbox.save_webhook(conn, TEST_VAULT, row, "https://other.example/hook", None) is None  # kept
        row = fetch_named(conn, hosts, "agent", "host")
        assert outbox.open_webhook_secret(TEST_VAULT, agent, row.webhook_secret) == secret
        assert outbox.save_webhook(conn, TEST_VAULT, row, None, None) is None
        row = fetch_named(conn, hosts, "agent", "host")
        assert (row.webhook_url, row.webhook_secret) == (None, None)
