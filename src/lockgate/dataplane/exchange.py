"""One client message on its way through the gateway: who sent it, in which era, and its audit legs."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lockgate.audit.recorder import AuditRecorder, Leg
from lockgate.dataplane.access import may_ask
from lockgate.domain.audit import degraded_body
from lockgate.domain.mcp import Client, Era, JsonObject
from lockgate.domain.model import Access, Assignment

PARAM_HEADER = "mcp-param-"  # the headers mirroring arguments (MCP 2026-07-28 streamable-http)


@dataclass(slots=True)
class Exchange:
    """The context every step of forwarding one client message shares.

    ``access`` is what the store said about the caller on this very request; ``client`` is what the
    front client declared and how to reach it; ``feature_name`` is filled in once routing knows it.
    ``arrival`` is the ``proxy_request`` leg while it is held back: the request steps may still
    change the body it stores (gateway rules store the rewritten message, never the matched text).
    It is recorded before any other leg of the message (``record``), at the latest by the endpoint.
    """

    correlation_id: str
    access: Access
    era: Era
    method: str
    params: JsonObject | None
    client: Client
    recorder: AuditRecorder
    request_id: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)  # the front request's, lower-cased names
    feature_name: str | None = None
    arrival: Leg | None = None
    started: float = field(default_factory=time.perf_counter)

    @property
    def enabled_assignments(self) -> list[Assignment]:
        """The assignments this user's lists show: server enabled, and the identity its scheme needs
        present, enabled and ready (product spec §4.2: a per-user server without the user's identity
        is absent from their lists)."""
        return [a for a in self.access.assignments if a.server.enabled and may_ask(a)]

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def withhold_arrival(self, reason: str) -> None:
        """The held ``proxy_request`` leg stores a note saying why (``domain.audit.degraded_body``) in
        place of the body, and none of the ``Mcp-Param-*`` headers that mirror its arguments: for a
        message a rule blocked, or one whose inspection did not end."""
        if self.arrival is None:
            return
        self.arrival.body = degraded_body(reason).encode()
        self.arrival.headers = without_param_headers(self.arrival.headers)

    def release_arrival(self) -> None:
        """Record the held ``proxy_request`` leg, once."""
        arrival, self.arrival = self.arrival, None
        if arrival is not None:
            self.recorder.record(arrival)

    def record(self, leg_type: str, *, server: str | None = None, **fields: Any) -> None:
        """Record a leg attributed to this message's user, host, gateway, method and feature (the
        held ``proxy_request`` leg first)."""
        self.release_arrival()
        principal = self.access.principal
        self.recorder.record(
            Leg(
                correlation_id=self.correlation_id,
                type=leg_type,
                method=self.method,
                feature_name=self.feature_name,
                user_email=principal.user_email,
                host=principal.host,
                gateway=principal.gateway,
                server=server,
                **fields,
            )
        )


def without_param_headers(headers: Any) -> list[tuple[str, str]]:
    """``headers`` (a mapping or pairs) without the ``Mcp-Param-*`` ones."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    return [(k, v) for k, v in pairs if not k.lower().startswith(PARAM_HEADER)]
