"""What a host's webhook URL may be: where Lockgate POSTs the API tokens it mints for the host
(Standard Webhooks). Checked the same way by the API and the declaration."""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field


def check_webhook_url(url: str) -> str:
    """``url`` when it is an absolute http(s) URL without credentials or fragment, https unless
    the host is loopback. The empty string (which stands for "none" in an update) passes.

    Raises:
        ValueError: saying what is wrong.
    """
    if url == "":
        return url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise ValueError(f"not a URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a webhook URL is an absolute http or https URL")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise ValueError("a webhook URL holds no user name, password or fragment")
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise ValueError("a webhook URL must use https (http only for a loopback host)")
    return url


def is_loopback(hostname: str) -> bool:
    """``localhost`` or a loopback address literal (127.0.0.0/8, ::1), never a name that only looks
    like one (``127.example.com``)."""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


WebhookUrl = Annotated[str, Field(max_length=2048), AfterValidator(check_webhook_url)]
"""A webhook URL as inputs take it (``check_webhook_url``), at most 2048 characters."""
