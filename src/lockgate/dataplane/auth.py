"""Host authentication: ``Authorization: Bearer <API token>`` → the access it grants, checked fresh.

Refusals (product spec §5.3, §5.4, §6.1; RFC 6750 §3):
401 no or unknown token (``WWW-Authenticate: Bearer``, with ``error="invalid_token"`` for a bad one),
401 a revoked or expired token, 403 a token for another gateway, 404 an archived gateway, 403 a disabled host,
connection or gateway, naming which, a deactivated user, and a token whose sponsor (the user it acts
as, or whoever minted a host agent's token) is deactivated or may no longer use the gateway: no
team of theirs is granted it and their role lacks "View and use all gateways".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from lockgate.dataplane.errors import REFUSED, JsonRpcError
from lockgate.domain.model import Access
from lockgate.domain.tokens import hash_token
from lockgate.policy.access_control import is_entitled

LoadAccess = Callable[[str], Awaitable[Access | None]]
"""The access a token hash grants, or None for no such token (``store.access.AccessReader.load``)."""
REALM = 'Bearer realm="lockgate"'


class AuthError(JsonRpcError):
    """A refused request, with the reason recorded in the audit and the challenge to send."""

    def __init__(self, status: int, message: str, reason: str, challenge: str | None = None) -> None:
        super().__init__(REFUSED, message, {"reason": reason}, http_status=status)
        self.reason = reason
        self.challenge = challenge


def bearer_token(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def authenticate(
    load_access: LoadAccess, key: bytes, headers: Mapping[str, str], gateway: str, now: float
) -> Access:
    """The caller's access to ``gateway`` at ``now`` (Unix seconds).

    Raises:
        AuthError: the request is refused; the message says which layer refused it.
    """
    token = bearer_token(headers)
    if token is None:
        raise AuthError(
            401, "an API token is required: Authorization: Bearer <token>", "unauthenticated", REALM
        )
    access = await load_access(hash_token(key, token))
    invalid = f'{REALM}, error="invalid_token"'
    if access is None:
        raise AuthError(401, "the API token is not valid", "invalid_token", invalid)
    if access.token_revoked:
        raise AuthError(401, "the API token has been revoked", "token_revoked", invalid)
    if access.token_expires_at is not None and access.token_expires_at <= now:
        raise AuthError(401, "the API token has expired", "token_expired", invalid)
    if access.principal.gateway != gateway:
        raise AuthError(403, f"the API token is not valid for gateway {gateway!r}", "wrong_gateway")
    if access.gateway_archived:
        raise AuthError(404, f"gateway {gateway!r} does not exist", "gateway_archived")
    if not access.gateway_enabled:
        raise AuthError(403, f"gateway {gateway!r} is disabled", "gateway_disabled")
    if not access.host_enabled:
        raise AuthError(403, f"host {access.principal.host!r} is disabled", "host_disabled")
    if not access.connection_enabled:
        raise AuthError(403, "this connection (host, gateway, user) is disabled", "connection_disabled")
    if not access.user_active:
        raise AuthError(403, f"user {access.principal.user_email!r} is deactivated", "user_deactivated")
    sponsor = access.sponsor
    if sponsor is not None and not sponsor.active:
        raise AuthError(
            403, f"the API token stands on {sponsor.email!r}, who is deactivated", "sponsor_deactivated"
        )
    if sponsor is not None and not is_entitled(sponsor.capabilities, sponsor.granted):
        message = f"the API token stands on {sponsor.email!r}, who may not use gateway {gateway!r}"
        raise AuthError(403, message + ": no team of theirs is granted it", "not_entitled")
    return access
