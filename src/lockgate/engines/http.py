"""One engine call's HTTP: the POST every engine kind makes, bounded in size, time and retries
(docs/rule-engines.md, "Timeout, retries and size caps").

``EngineHttp`` lives for one ``ask``: it uses the engine's own egress-guarded client
(``EnginePools``) and carries the ask's deadline and retry budget, so the token exchange of an
adapter, the call itself and every retry of either fit in the engine's ``timeout_s`` together.

- Only ``https`` URLs, or ``http`` to an address literal (or ``localhost``) inside the operator's
  allowed networks: plain text travels only where the operator vouched for the path.
- A body over ``LIMITS.engine_payload_bytes`` is a failure without sending; an answer over it is a
  failure as soon as its ``Content-Length`` says so, or once that many bytes arrived (never more
  are read).
- Retried, after a jittered exponential backoff that ends before the deadline: a connection that
  could not be made, and the statuses that mean "try again" (429, 500, 502, 503, 504). Never a
  refusal of the egress guard, another status, or a malformed answer.
- Redirects are not followed: a 3xx is a non-2xx answer.
"""

from __future__ import annotations

import ipaddress
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import orjson

from lockgate.domain.rules import LIMITS
from lockgate.egress import EgressRefusedError, IPNetwork

RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_S = (0.1, 2.0)  # first backoff ceiling, largest backoff ceiling (seconds)
USER_AGENT = "Lockgate-RuleEngines/1"


class EngineFailure(Exception):
    """An engine could not give a verdict. ``reason`` is short and safe to store and show: it never
    holds a body, a header value or a secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_transport_url(url: str, allowed: Sequence[IPNetwork]) -> None:
    """Raises EngineFailure unless ``url`` may be called: ``https``, or ``http`` to an address
    literal or ``localhost`` inside ``allowed`` (the operator's ``egress_allowed_networks``)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme != "http":
        raise EngineFailure("the engine URL is not https")
    host = (parts.hostname or "").rstrip(".")
    names = ("127.0.0.1", "::1") if host == "localhost" else (host,)
    try:
        addresses = [ipaddress.ip_address(name) for name in names]
    except ValueError:
        raise EngineFailure("plain http is only allowed to an address inside the allowed networks") from None
    if not all(any(a.version == n.version and a in n for n in allowed) for a in addresses):
        raise EngineFailure("plain http is only allowed to an address inside the allowed networks")


class EngineHttp:
    """POSTs for one ask: ``client`` is the engine's guarded client, ``allowed`` the networks plain
    http may reach, ``headers`` the engine's configured headers (already checked; the caller's own
    headers win over them), ``retries`` how many times a retriable failure is tried again,
    ``deadline`` the ask's end (``time.monotonic()`` seconds)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        allowed: Sequence[IPNetwork],
        headers: Mapping[str, str],
        retries: int,
        deadline: float,
    ) -> None:
        self._client = client
        self._allowed = allowed
        self._headers = {name.lower(): value for name, value in headers.items()}
        self._retries = retries
        self._deadline = deadline

    async def post(self, url: str, content: bytes, headers: Mapping[str, str]) -> Any:
        """The JSON value the engine answers to ``content`` POSTed to ``url`` with ``headers``.

        Raises:
            EngineFailure: the URL may not be called, the body is too large, the engine could not be
                reached (after the retries), answered a non-2xx status, too many bytes or no JSON.
        """
        check_transport_url(url, self._allowed)
        if len(content) > LIMITS.engine_payload_bytes:
            raise EngineFailure(f"the request is over {LIMITS.engine_payload_bytes} bytes and was not sent")
        sent = {"user-agent": USER_AGENT, **self._headers, **{k.lower(): v for k, v in headers.items()}}
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                status, body = await self._attempt(url, content, sent)
            except EgressRefusedError:
                raise EngineFailure("the egress guard refused the engine's address") from None
            except (httpx.ConnectError, httpx.ConnectTimeout):
                if last or not await self._backoff(attempt):
                    raise EngineFailure("the engine could not be reached") from None
                continue
            except httpx.HTTPError as exc:
                raise EngineFailure(f"the engine call failed ({type(exc).__name__})") from None
            if status in RETRIED_STATUSES and not last and await self._backoff(attempt):
                continue
            return _parsed(status, body)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(self, url: str, content: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        cap = LIMITS.engine_payload_bytes
        async with self._client.stream("POST", url, content=content, headers=headers) as response:
            if not 200 <= response.status_code < 300:  # its body is never used: not read
                return response.status_code, b""
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise EngineFailure(f"the engine answered more than {cap} bytes")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise EngineFailure(f"the engine answered more than {cap} bytes")
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)

    async def _backoff(self, attempt: int) -> bool:
        """Sleep a jittered exponential backoff before retry ``attempt + 1``; False (without
        sleeping) when it would end past the deadline."""
        ceiling = min(BACKOFF_S[1], BACKOFF_S[0] * 2**attempt)
        delay = random.uniform(ceiling / 2, ceiling)  # jitter, not a secret
        if time.monotonic() + delay >= self._deadline:
            return False
        await anyio.sleep(delay)
        return True


def _parsed(status: int, body: bytes) -> Any:
    if not 200 <= status < 300:
        raise EngineFailure(f"the engine answered HTTP {status}")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise EngineFailure("the engine's answer is not JSON") from None
