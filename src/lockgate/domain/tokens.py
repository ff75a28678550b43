"""API tokens: random, shown once, stored only as a keyed hash (product spec §5.3)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "lg_"
PERSONAL_ACCESS_TOKEN_PREFIX = "lgp_"


def mint_token() -> tuple[str, str]:
    """A new token and its public id. Returns ``(public_id, token)``.

    The token is ``lg_`` followed by 256 random bits (URL-safe base64); the public id names it in
    listings and revocation without revealing it.
    """
    return "tok_" + secrets.token_hex(6), TOKEN_PREFIX + secrets.token_urlsafe(32)


def mint_personal_access_token() -> tuple[str, str]:
    """A new personal access token for the control plane and its public id: ``(public_id, token)``.

    ``lgp_`` plus 256 random bits, so it is never mistaken for (or accepted as) a data-plane token.
    """
    return "pat_" + secrets.token_hex(6), PERSONAL_ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(key: bytes, token: str) -> str:
    """The keyed hash stored for ``token``: HMAC-SHA256 under the instance's secret key, hex encoded.

    A database dump alone cannot be used to test guesses without the key.
    """
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()
