"""Lockgate's Client ID Metadata Document: the client identity authorization servers fetch from
Lockgate itself instead of registering it (draft-ietf-oauth-client-id-metadata-document; MCP
authorization 2026-07-28 §Client ID Metadata Documents). Offered only when the public URL is https,
as the draft requires of a ``client_id``."""

from __future__ import annotations

from typing import Any

CLIENT_NAME = "Lockgate"
METADATA_DOCUMENT_PATH = "/oauth/client-metadata.json"
CALLBACK_PATH = "/oauth/callback"


def callback_url(public_url: str) -> str:
    """The one fixed redirect URI of every authorization Lockgate starts."""
    return public_url.rstrip("/") + CALLBACK_PATH


def metadata_document_url(public_url: str) -> str | None:
    """The document's URL, which is also the ``client_id``; None unless ``public_url`` is https."""
    if not public_url.startswith("https://"):
        return None
    return public_url.rstrip("/") + METADATA_DOCUMENT_PATH


def client_metadata_document(public_url: str) -> dict[str, Any] | None:
    """The document served at ``METADATA_DOCUMENT_PATH`` (RFC 7591 §2 client metadata with
    ``client_id`` its own URL): a public client (``none``: PKCE protects the code) using the
    authorization code and refresh token grants; None unless ``public_url`` is https."""
    client_id = metadata_document_url(public_url)
    if client_id is None:
        return None
    return {
        "client_id": client_id,
        "client_name": CLIENT_NAME,
        "client_uri": public_url.rstrip("/"),
        "redirect_uris": [callback_url(public_url)],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "web",
    }
