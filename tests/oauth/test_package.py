"""The package's public surface is deliberate: a change to it shows up here."""

import lockgate.oauth


def test_the_public_api_is_pinned() -> None:
    assert sorted(lockgate.oauth.__all__) == [
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
    assert all(hasattr(lockgate.oauth, name) for name in lockgate.oauth.__all__)
