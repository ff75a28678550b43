"""Fixtures for the end-to-end tests: a real authorization server and a real protected MCP server
(``tests/e2e/oauth_fixtures.py``)."""

from tests.e2e.oauth_fixtures import oidc_provider, protected_server

__all__ = ["oidc_provider", "protected_server"]
