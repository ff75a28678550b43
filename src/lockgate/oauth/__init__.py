"""Lockgate as an OAuth client of upstream MCP servers (MCP authorization 2026-07-28, client side).

Pure protocol over an injected ``httpx.AsyncClient``: no settings, no store. The steps, in order:
``probe`` (is a token needed?), ``discover`` (which authorization server, for which resource),
``register`` (a client identity there), ``start_authorization`` (the URL for the user's browser),
``finish_authorization`` (the callback, exchanged for tokens) and later ``refresh``.
"""

from lockgate.oauth.challenge import Challenge, parse_challenge
from lockgate.oauth.discovery import AuthorizationServer, canonical_resource, discover, probe
from lockgate.oauth.errors import OAuthError
from lockgate.oauth.flow import (
    PendingAuthorization,
    TokenSet,
    finish_authorization,
    refresh,
    start_authorization,
)
from lockgate.oauth.registration import ClientRegistration, register

__all__ = [
    "AuthorizationServer",
    "Challenge",
    "ClientRegistration",
    "OAuthError",
    "PendingAuthorization",
    "TokenSet",
    "canonical_resource",
    "discover",
    "finish_authorization",
    "parse_challenge",
    "probe",
    "refresh",
    "register",
    "start_authorization",
]
