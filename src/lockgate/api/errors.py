"""The control plane's errors: each knows its HTTP status and its code in the error envelope.

Every surface (JSON API, admin MCP endpoint, CLI) reports these the same way::

    {"error": {"code": "forbidden", "message": "Capability 'Manage people' is required.",
               "capability": "managePeople", "correlation_id": "…"}}
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    """A refusal with a message for people; ``field`` names an offending input field (dotted path),
    ``capability`` the capability a 403 lacks."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, capability: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.capability = capability

    def envelope(self, correlation_id: str) -> dict[str, Any]:
        """The error as the API answers it."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        if self.capability is not None:
            error["capability"] = self.capability
        error["correlation_id"] = correlation_id
        return {"error": error}


class BadRequest(ApiError):
    status = 400
    code = "invalid_request"


class Unauthenticated(ApiError):
    status = 401
    code = "unauthenticated"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    """Carries the methods the resource does allow, for the ``Allow`` header (RFC 9110 §15.5.6)."""

    status = 405
    code = "method_not_allowed"

    def __init__(self, method: str, allowed: list[str]) -> None:
        super().__init__(f"{method} is not allowed here; use {', '.join(allowed)}")
        self.allowed = allowed


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PreconditionFailed(ApiError):
    status = 412
    code = "precondition_failed"


class UnprocessableContent(ApiError):
    """Well-formed input that a policy refuses (RFC 9110 §15.5.21), e.g. a server URL outside the
    networks servers may reach."""

    status = 422
    code = "unprocessable_content"


class MisdirectedRequest(ApiError):
    status = 421
    code = "misdirected_request"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class UpstreamUnavailable(ApiError):
    status = 502
    code = "upstream_unavailable"


class ServiceUnavailable(ApiError):
    """What the operation needs does not run in this process (e.g. rule engines from the local CLI)."""

    status = 503
    code = "service_unavailable"


ERRORS: tuple[type[ApiError], ...] = (
    BadRequest,
    Unauthenticated,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    MisdirectedRequest,
    UnprocessableContent,
    UpstreamUnavailable,
    ServiceUnavailable,
)
