"""Hosts' webhooks and their outbox: newly minted user tokens waiting to be delivered to the host's
webhook (issue 4 §5; product spec §5.3, the per-user token pattern of seed 004).

A delivery is written in the transaction that mints its token, so it exists exactly when the token
does; its body (which holds the token) is sealed by the vault to its row and cleared once delivered
or given up. ``WebhookDeliverer`` (``lockgate.webhooks.delivery``) sends what is due.

Claiming takes a lease: a claimed delivery is not due again until ``lease`` seconds have passed, so
two Lockgate processes sharing a store do not send one delivery twice at once, and a delivery whose
sender died is retried once its lease ends (at-least-once delivery; receivers deduplicate by
``webhook-id``).
"""

from __future__ import annotations

import base64
import datetime
import secrets
import time
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Row, Select, func, select, update

from lockgate.domain.actor import Actor
from lockgate.store.people import load_user_actor
from lockgate.store.records import page
from lockgate.store.rows import insert_returning_id
from lockgate.store.schema import hosts, roles, users, webhook_deliveries
from lockgate.vault import Vault, place

TOKEN_CREATED = "api_token.created"
TOKEN_FIELDS = ("host", "gateway", "user", "token_id", "token")


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # due at next_attempt_at
    DELIVERED = "delivered"  # a 2xx answer; the payload is gone
    FAILED = "failed"  # every attempt failed, or it could not be sent; the payload is gone


def new_webhook_secret() -> str:
    """A signing secret as Standard Webhooks writes it: ``whsec_`` and 32 random bytes in base64
    (the spec allows 24 to 64 bytes)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    """A Standard Webhooks message id (``webhook-id``): ``msg_`` and 144 random bits."""
    return "msg_" + secrets.token_urlsafe(18)


def webhook_values(
    vault: Vault, host: Row[Any], url: str | None, set_by: int | None
) -> tuple[dict[str, Any], str | None]:
    """The ``hosts`` columns that make ``url`` the host's webhook, set by user ``set_by`` (None: the
    instance operator), and the signing secret made for it, which is returned this once: made only
    when the host had none, so changing the URL keeps the secret the agent already holds. ``url``
    None removes the webhook and its secret."""
    if url is None:
        return {"webhook_url": None, "webhook_secret": None, "webhook_set_by": None}, None
    if host.webhook_secret is not None:
        return {"webhook_url": url, "webhook_set_by": set_by}, None
    values, secret = webhook_secret_values(vault, host.id)
    return {"webhook_url": url, "webhook_set_by": set_by, **values}, secret


def webhook_secret_values(vault: Vault, host_id: int) -> tuple[dict[str, Any], str]:
    """The ``hosts`` columns holding a new signing secret (sealed), and that secret, returned this
    once. Deliveries still pending are signed with it when they are sent."""
    secret = new_webhook_secret()
    return {"webhook_secret": vault.seal(secret, place("hosts", host_id, "webhook_secret"))}, secret


def save_webhook(
    conn: Connection, vault: Vault, host: Row[Any], url: str | None, set_by: int | None
) -> str | None:
    """Write ``webhook_values`` to the host, its version unchanged: for a host inserted or already
    updated (``update_row``) in this transaction. Returns the new secret, if one was made."""
    values, secret = webhook_values(vault, host, url, set_by)
    conn.execute(update(hosts).where(hosts.c.id == host.id).values(**values))
    return secret


def load_webhook_setter(conn: Connection, host_id: int) -> Actor | None:
    """Who last set the host's webhook URL, as an actor read now (their role's capabilities, their
    teams' gateways); None for the instance operator, a webhook set before this was recorded, or
    a host without a webhook."""
    row = conn.execute(
        select(users.c.id, users.c.email, roles.c.name.label("role"), roles.c.capabilities)
        .join(hosts, hosts.c.webhook_set_by == users.c.id)
        .join(roles, roles.c.id == users.c.role_id)
        .where(hosts.c.id == host_id)
    ).first()
    return None if row is None else load_user_actor(conn, row)


def open_webhook_secret(vault: Vault, host_id: int, sealed: str) -> str:
    """The host's signing secret.

    Raises:
        VaultError: see ``Vault.open``.
    """
    return str(vault.open(sealed, place("hosts", host_id, "webhook_secret")))


def enqueue_token_delivery(conn: Connection, vault: Vault, host_id: int, data: dict[str, Any]) -> bool:
    """Queue the delivery of a newly minted user token to the host's webhook, in ``conn`` (the
    transaction that mints the token). Returns False, writing nothing, when the host has no webhook.

    ``data`` holds ``host`` (name), ``gateway`` (name), ``user`` (email), ``token_id`` (the public
    id) and ``token`` (the token itself). The body sent is the Standard Webhooks payload shape,
    ``{"type": "api_token.created", "timestamp": <ISO 8601, UTC>, "data": {...}}``, sealed at
    ``webhook_deliveries.<id>.payload``. Wake the deliverer after the transaction commits.

    Raises:
        ValueError: ``data`` lacks one of those keys or has others.
    """
    if set(data) != set(TOKEN_FIELDS):
        raise ValueError(f"a token delivery holds exactly {', '.join(TOKEN_FIELDS)}")
    url = conn.execute(select(hosts.c.webhook_url).where(hosts.c.id == host_id)).scalar()
    if not url:
        return False
    now = time.time()
    delivery = {
        "host_id": host_id,
        "message_id": new_message_id(),
        "event": TOKEN_CREATED,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    delivery_id = insert_returning_id(conn, webhook_deliveries, delivery)
    stamp = datetime.datetime.fromtimestamp(now, tz=datetime.UTC).isoformat(timespec="milliseconds")
    body = {"type": TOKEN_CREATED, "timestamp": stamp.replace("+00:00", "Z"), "data": dict(data)}
    sealed = vault.seal(body, place("webhook_deliveries", delivery_id, "payload"))
    conn.execute(
        update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(payload=sealed)
    )
    return True


def open_payload(vault: Vault, delivery_id: int, sealed: str) -> Any:
    """A delivery's body as a JSON value.

    Raises:
        VaultError: see ``Vault.open``.
    """
    return vault.open(sealed, place("webhook_deliveries", delivery_id, "payload"))


_DUE: Select[Any] = (
    select(
        webhook_deliveries.c.id,
        webhook_deliveries.c.message_id,
        webhook_deliveries.c.host_id,
        webhook_deliveries.c.payload,
        webhook_deliveries.c.attempts,
        hosts.c.name.label("host"),
        hosts.c.webhook_url,
        hosts.c.webhook_secret,
    )
    .join(hosts, hosts.c.id == webhook_deliveries.c.host_id)
    .where(webhook_deliveries.c.status == DeliveryStatus.PENDING.value)
)


def claim_due_deliveries(conn: Connection, now: float, lease: float, limit: int) -> list[Row[Any]]:
    """Up to ``limit`` pending deliveries due at ``now`` (Unix seconds), oldest first, each leased
    for ``lease`` seconds (its ``next_attempt_at`` moved on, so no other claim takes it meanwhile).
    Each row has ``id``, ``message_id``, ``host_id``, ``host`` (name), ``payload`` (sealed),
    ``attempts`` (made so far), and the host's ``webhook_url`` and ``webhook_secret`` (sealed) as
    they are now."""
    due = conn.execute(
        _DUE.where(webhook_deliveries.c.next_attempt_at <= now).order_by(webhook_deliveries.c.id).limit(limit)
    ).all()
    claimed: list[Row[Any]] = []
    for row in due:
        taken = conn.execute(
            update(webhook_deliveries)
            .where(
                (webhook_deliveries.c.id == row.id)
                & (webhook_deliveries.c.status == DeliveryStatus.PENDING.value)
                & (webhook_deliveries.c.next_attempt_at <= now)
            )
            .values(next_attempt_at=now + lease)
        ).rowcount
        if taken:
            claimed.append(row)
    return claimed


def load_next_due(conn: Connection) -> float | None:
    """When the earliest pending delivery is due (Unix seconds), None when none is pending."""
    query = select(func.min(webhook_deliveries.c.next_attempt_at)).where(
        webhook_deliveries.c.status == DeliveryStatus.PENDING.value
    )
    value = conn.execute(query).scalar()
    return None if value is None else float(value)


def record_delivered(conn: Connection, delivery_id: int, status: int, now: float) -> None:
    """Record the attempt that the webhook answered with a 2xx ``status``: delivered, payload gone."""
    conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id)
        .values(
            status=DeliveryStatus.DELIVERED.value,
            attempts=webhook_deliveries.c.attempts + 1,
            last_status=status,
            last_error=None,
            payload=None,
            next_attempt_at=None,
            delivered_at=now,
        )
    )


def record_failed_attempt(
    conn: Connection, delivery_id: int, *, status: int | None, error: str, retry_at: float | None
) -> None:
    """Record a failed attempt: the HTTP ``status`` answered (None: no answer) and ``error`` (never
    a secret: a status line or an exception's name and message). It is due again at ``retry_at``
    (Unix seconds); None gives up: failed, payload gone."""
    values: dict[str, Any] = {
        "attempts": webhook_deliveries.c.attempts + 1,
        "last_status": status,
        "last_error": error[:500],
        "next_attempt_at": retry_at,
    }
    if retry_at is None:
        values.update(status=DeliveryStatus.FAILED.value, payload=None)
    conn.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id).values(**values))


def load_delivery_page(
    conn: Connection, host_id: int, *, status: DeliveryStatus | None, cursor: str | None, limit: int
) -> tuple[list[Row[Any]], str | None]:
    """A page of the host's deliveries, newest first, without their payloads.

    Raises:
        ValueError: a malformed cursor.
    """
    columns = [c for c in webhook_deliveries.c if c.name != "payload"]
    query = select(*columns).where(webhook_deliveries.c.host_id == host_id)
    if status is not None:
        query = query.where(webhook_deliveries.c.status == status.value)
    return page(conn, query, webhook_deliveries.c.id, cursor, limit, descending=True)
