"""Webhook token delivery (issue 4 §5, acceptance): the agent's endpoint receives the signed token of
a new enrolment; a tampered body or signature is detectable; delivery is retried while the endpoint
is down or failing and succeeds once it is up; afterwards the outbox holds no payload; the token
appears in no log record and no admin event."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
import orjson
import pytest
from sqlalchemy import Engine, select

from lockgate.domain.declaration import Declaration
from lockgate.store import webhooks as outbox
from lockgate.store.declarative import apply_declaration
from lockgate.store.records import fetch_named
from lockgate.store.schema import admin_events, hosts, webhook_deliveries
from lockgate.store.tokens import fetch_token, save_token
from lockgate.webhooks.delivery import Attempt, WebhookDeliverer
from lockgate.webhooks.signing import WebhookVerificationError, verify
from tests.conftest import DEADLINE, TEST_VAULT, free_port
from tests.fixtures.webhook_endpoint import WebhookEndpoint, endpoint

pytestmark = pytest.mark.anyio
LOOPBACK = ["127.0.0.0/8"]
TOKEN_KEY = b"test-token-key"


@dataclass
class Enrolment:
    host_id: int
    secret: str
    token: str
    token_id: str


@dataclass
class Clock:
    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def closing(deliverer: WebhookDeliverer) -> AsyncIterator[WebhookDeliverer]:
    try:
        yield deliverer
    finally:
        await deliverer.close()


@pytest.fixture
def agent() -> Iterator[WebhookEndpoint]:
    running = endpoint()
    yield running
    running.stop()


def webhook_host(engine: Engine, url: str) -> tuple[int, str]:
    """The host ``agent`` with its webhook at ``url``, and the gateway ``g``; returns its id and secret."""
    declaration = {
        "hosts": [{"name": "agent"}],
        "gateways": [{"name": "g"}],
        "users": [{"email": "ada@example.com"}],
    }
    apply_declaration(engine, TEST_VAULT, Declaration.model_validate(declaration))
    with engine.begin() as conn:
        row = fetch_named(conn, hosts, "agent", "host")
        secret = outbox.save_webhook(conn, TEST_VAULT, row, url, None)
    assert secret is not None
    return int(row.id), secret


def enrol(engine: Engine, host_id: int, email: str = "ada@example.com") -> tuple[str, str]:
    """Mint a user's token and queue its delivery in one transaction, as the connection flow does."""
    with engine.begin() as conn:
        token_id, token = save_token(
            conn, TOKEN_KEY, "agent", "g", email, minted_by=None, private_identities=True, expires_at=None
        )
        minted = fetch_token(conn, token_id)
        data = {"host": minted.host, "gateway": minted.gateway, "user": minted.user, "token_id": token_id}
        assert outbox.enqueue_token_delivery(conn, TEST_VAULT, host_id, data | {"token": token})
    return token_id, token


def enrolment(engine: Engine, url: str) -> Enrolment:
    host_id, secret = webhook_host(engine, url)
    token_id, token = enrol(engine, host_id)
    return Enrolment(host_id, secret, token, token_id)


def the_delivery(engine: Engine) -> Any:
    with engine.connect() as conn:
        [row] = conn.execute(select(webhook_deliveries))
    return row


class Attempts:
    """Collects ``on_attempt`` reports and lets a test wait, with a deadline, for an outcome."""

    def __init__(self) -> None:
        self.seen: list[Attempt] = []
        self._changed = asyncio.Event()

    def __call__(self, attempt: Attempt) -> None:
        self.seen.append(attempt)
        self._changed.set()

    async def until(self, outcome: str) -> list[Attempt]:
        with anyio.fail_after(DEADLINE):
            while not any(a.outcome == outcome for a in self.seen):
                self._changed.clear()
                await self._changed.wait()
        return self.seen


async def test_the_agent_endpoint_receives_the_signed_token_of_a_new_enrolment(
    engine: Engine, agent: WebhookEndpoint
) -> None:
    enrolled = enrolment(engine, agent.url)
    attempts = Attempts()
    deliverer = WebhookDeliverer(engine, TEST_VAULT, allowed_networks=LOOPBACK, on_attempt=attempts)
    deliverer.start()
    try:
        deliverer.wake()
        [request] = await agent.arrivals(1)
        await attempts.until("delivered")
    finally:
        await deliverer.close()
    assert (request.method, request.path, request.headers["content-type"]) == (
        "POST",
        "/hook",
        "application/json",
    )
    body = verify(enrolled.secret, request.headers, request.body)
    assert body["type"] == "api_token.created"
    assert body["data"] == {
        "host": "agent",
        "gateway": "g",
        "user": "ada@example.com",
        "token_id": enrolled.token_id,
        "token": enrolled.token,
    }
    row = the_delivery(engine)
    assert request.headers["webhook-id"] == row.message_id
    assert (row.status, row.attempts, row.last_status, row.payload) == ("delivered", 1, 200, None)


async def test_a_tampered_body_or_signature_of_a_delivery_does_not_verify(
    engine: Engine, agent: WebhookEndpoint
) -> None:
    enrolled = enrolment(engine, agent.url)
    async with closing(WebhookDeliverer(engine, TEST_VAULT, allowed_networks=LOOPBACK)) as deliverer:
        await deliverer.deliver_due()
    [request] = agent.wait(1)
    forged = request.body.replace(enrolled.token.encode(), b"API_forged")
    with pytest.raises(WebhookVerificationError):
        verify(enrolled.secret, request.headers, forged)
    signature = request.headers["webhook-signature"]
    flipped = signature[:8] + ("A" if signature[8] != "A" else "B") + signature[9:]  # not a padding bit
    with pytest.raises(WebhookVerificationError):
        verify(enrolled.secret, request.headers | {"webhook-signature": flipped}, request.body)
    with pytest.raises(WebhookVerificationError):
        verify(outbox.new_webhook_secret(), request.headers, request.body)


async def test_a_delivery_is_retried_while_the_endpoint_is_down_and_succeeds_once_it_is_up(
    engine: Engine,
) -> None:
    port = free_port()
    enrolled = enrolment(engine, f"http://127.0.0.1:{port}/hook")
    clock = Clock()
    deliverer = WebhookDeliverer(
        engine, TEST_VAULT, allowed_networks=LOOPBACK, retry_delays=(10, 30), clock=clock
    )
    async with closing(deliverer):
        await deliverer.deliver_due()  # connection refused
        refused = the_delivery(engine)
        assert (refused.status, refused.attempts, refused.last_status) == ("pending", 1, None)
        assert refused.last_error.startswith("ConnectError")
        assert refused.next_attempt_at == clock.now + 10
        await deliverer.deliver_due()  # not due yet: nothing is attempted
        assert the_delivery(engine).attempts == 1
        up = endpoint(port=port)
        try:
            clock.now += 10
            await deliverer.deliver_due()
            [request] = up.wait(1)
        finally:
            up.stop()
    assert verify(enrolled.secret, request.headers, request.body)["data"]["token"] == enrolled.token
    delivered = the_delivery(engine)
    assert (delivered.status, delivered.attempts, delivered.last_status, delivered.last_error) == (
        "delivered",
        2,
        200,
        None,
    )
    assert delivered.payload is None


async def test_failing_answers_are_retried_in_the_background_and_the_token_is_never_logged(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    failing = endpoint([500, 503])
    attempts = Attempts()
    try:
        enrolled = enrolment(engine, failing.url)
        deliverer = WebhookDeliverer(
            engine,
            TEST_VAULT,
            allowed_networks=LOOPBACK,
            retry_delays=(0.01, 0.01, 0.01),
            on_attempt=attempts,
        )
        deliverer.start()
        try:
            deliverer.wake()
            seen = await attempts.until("delivered")
        finally:
            await deliverer.close()
        requests = failing.wait(3)
    finally:
        failing.stop()
    assert [(a.number, a.status, a.outcome) for a in seen] == [
        (1, 500, "retrying"),
        (2, 503, "retrying"),
        (3, 200, "delivered"),
    ]
    assert len({r.headers["webhook-id"] for r in requests}) == 1  # one message, retried
    assert all(verify(enrolled.secret, r.headers, r.body) for r in requests)
    assert the_delivery(engine).payload is None
    secrets = [enrolled.token, enrolled.secret, *(r.headers["webhook-signature"] for r in requests)]
    logged = [(r.getMessage(), repr(r.args), r.exc_text or "") for r in caplog.records]
    assert any("delivered" in message for message, _, _ in logged)
    for secret in secrets:
        assert all(secret not in " ".join(record) for record in logged), "a secret was logged"
        assert secret.removeprefix("whsec_") not in caplog.text
    with engine.connect() as conn:
        events = [orjson.dumps([e.before, e.after]).decode() for e in conn.execute(select(admin_events))]
    assert all(enrolled.token not in e for e in events)


async def test_after_the_last_attempt_the_delivery_has_failed_and_its_payload_is_gone(engine: Engine) -> None:
    failing = endpoint([500, 500, 500])
    try:
        enrolment(engine, failing.url)
        clock = Clock()
        deliverer = WebhookDeliverer(
            engine, TEST_VAULT, allowed_networks=LOOPBACK, retry_delays=(1,), clock=clock
        )
        async with closing(deliverer):
            await deliverer.deliver_due()
            clock.now += 1
            await deliverer.deliver_due()
            clock.now += 100
            await deliverer.deliver_due()  # given up: nothing more is sent
        assert len(failing.received) == 2
    finally:
        failing.stop()
    row = the_delivery(engine)
    assert (row.status, row.attempts, row.last_status, row.payload, row.next_attempt_at) == (
        "failed",
        2,
        500,
        None,
        None,
    )


async def test_a_refused_address_is_a_failed_attempt_and_nothing_is_sent(
    engine: Engine, agent: WebhookEndpoint
) -> None:
    enrolment(engine, agent.url)
    async with closing(WebhookDeliverer(engine, TEST_VAULT, allowed_networks=[])) as deliverer:
        await deliverer.deliver_due()
    row = the_delivery(engine)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error.startswith("EgressRefusedError") and "loopback" in row.last_error
    assert agent.received == []


async def test_a_delivery_whose_host_removed_its_webhook_fails_without_being_sent(
    engine: Engine, agent: WebhookEndpoint
) -> None:
    enrolment(engine, agent.url)
    with engine.begin() as conn:
        outbox.save_webhook(conn, TEST_VAULT, fetch_named(conn, hosts, "agent", "host"), None, None)
    async with closing(WebhookDeliverer(engine, TEST_VAULT, allowed_networks=LOOPBACK)) as deliverer:
        await deliverer.deliver_due()
    row = the_delivery(engine)
    assert (row.status, row.payload, row.last_error) == ("failed", None, "the host has no webhook any more")
    assert agent.received == []


async def test_a_redirect_is_a_failed_attempt_not_followed(engine: Engine) -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(302, headers={"location": "https://elsewhere.example/"})

    enrolment(engine, "https://agent.example/hook")
    transport = httpx.MockTransport(answer)
    async with closing(WebhookDeliverer(engine, TEST_VAULT, transport=transport)) as deliverer:
        await deliverer.deliver_due()
    row = the_delivery(engine)
    assert (row.status, row.last_status, row.last_error) == ("pending", 302, "HTTP 302")
    assert [str(r.url) for r in sent] == ["https://agent.example/hook"]


async def test_the_secret_in_force_at_sending_time_signs_a_pending_delivery(engine: Engine) -> None:
    received: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    transport = httpx.MockTransport(answer)
    enrolled = enrolment(engine, "https://agent.example/hook")
    with engine.begin() as conn:
        values, rotated = outbox.webhook_secret_values(TEST_VAULT, enrolled.host_id)
        conn.execute(hosts.update().where(hosts.c.id == enrolled.host_id).values(**values))
    async with closing(WebhookDeliverer(engine, TEST_VAULT, transport=transport)) as deliverer:
        await deliverer.deliver_due()
    [request] = received
    assert verify(rotated, dict(request.headers), request.content)["data"]["token"] == enrolled.token
    with pytest.raises(WebhookVerificationError):
        verify(enrolled.secret, dict(request.headers), request.content)
    assert the_delivery(engine).status == "delivered"


def test_a_malformed_allowed_network_is_refused_when_the_deliverer_is_built(engine: Engine) -> None:
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/99'")):
        WebhookDeliverer(engine, TEST_VAULT, allowed_networks=["10.0.0.0/99"])
