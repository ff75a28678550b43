"""The one error the upstream OAuth client raises."""

from __future__ import annotations

DESCRIPTION_LIMIT = 300


class OAuthError(Exception):
    """An OAuth step failed; safe to log and to show an admin (never carries a secret).

    ``error`` is an RFC 6749 §5.2 / §4.1.2.1 code when the authorization server sent one
    (``invalid_grant``, ``access_denied``, ...) or one of ours: ``discovery_failed``,
    ``resource_mismatch``, ``issuer_mismatch``, ``pkce_unsupported``, ``registration_failed``,
    ``state_mismatch``, ``iss_mismatch``, ``invalid_response`` (an unusable answer) and
    ``unreachable`` (the token endpoint could not be reached; worth retrying later).
    ``description`` is a sentence for people, cut to ``DESCRIPTION_LIMIT`` characters (it may quote
    the server's ``error_description``).
    """

    def __init__(self, error: str, description: str) -> None:
        self.error = error
        self.description = description[:DESCRIPTION_LIMIT]
        super().__init__(f"{error}: {self.description}")
