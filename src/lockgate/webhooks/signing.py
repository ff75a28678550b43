"""Signing and verifying webhook messages as Standard Webhooks specifies (standardwebhooks.com, spec
v1, "Signature scheme"), with the spec authors' reference library (``standardwebhooks``).

A message carries three headers:

* ``webhook-id``: the message id, the same on every retry (receivers deduplicate by it);
* ``webhook-timestamp``: when this attempt was sent, integer seconds since the Unix epoch;
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``, space-separated
  when several keys sign.

The key is the secret without its ``whsec_`` prefix, base64-decoded. A receiver recomputes the
signature over the raw body bytes it received (never a re-serialised parse), compares it in constant
time, and refuses a timestamp more than five minutes from its clock (replays).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

__all__ = ["TOLERANCE", "WebhookVerificationError", "sign", "verify"]

TOLERANCE = 300  # seconds a timestamp may be off the receiver's clock (the reference library's bound)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt at sending ``body`` (UTF-8 JSON).

    ``secret`` is ``whsec_<base64 key>``; ``timestamp`` is the attempt's time in Unix seconds.
    """
    when = datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": Webhook(secret).sign(message_id, when, body.decode()),
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> Any:
    """The JSON value of ``body`` if ``headers`` sign it with ``secret`` and their timestamp is within
    ``TOLERANCE`` seconds of now. Header names are matched case-insensitively.

    Raises:
        WebhookVerificationError: a header is missing or malformed, no ``v1`` signature matches (the
            body, id, timestamp or signature was changed, or another secret signed), or the
            timestamp is too old or too new.
    """
    webhook = Webhook(secret)
    try:
        return webhook.verify(body, dict(headers))
    except ValueError as exc:  # a malformed signature, base64, UTF-8 or JSON: the library lets these out
        raise WebhookVerificationError(f"malformed webhook: {type(exc).__name__}") from exc
