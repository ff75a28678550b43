"""Whether an assignment's identity may go upstream: stored values are checked again at call time."""

from __future__ import annotations

import pytest

from lockgate.domain.model import (
    Assignment,
    Credential,
    IdentityKind,
    IdentityScheme,
    IdentityStatus,
    Server,
    Transport,
)
from lockgate.policy.identities import resolve_identity_refusal

LOCAL = Server(
    id=1, name="local", transport=Transport.STDIO, command="python", identity_env=frozenset({"API_TOKEN"})
)


def _assignment(values: dict[str, str], server: Server = LOCAL) -> Assignment:
    credential = Credential(1, "ada/local", IdentityKind.HEADERS, True, IdentityStatus.READY, 1, values)
    return Assignment(id=1, server=server, scheme=IdentityScheme.PER_USER, credential=credential)


def test_an_identity_setting_only_declared_variables_goes_upstream() -> None:
    assert resolve_identity_refusal(_assignment({"API_TOKEN": "k"})) is None


@pytest.mark.parametrize("name", ["LD_PRELOAD", "NODE_OPTIONS", "UNDECLARED"])
def test_a_stored_stdio_identity_setting_a_refused_variable_is_refused_and_can_be_replaced(name: str) -> None:
    refused = resolve_identity_refusal(_assignment({name: "/tmp/payload.so"}))
    assert refused is not None
    assert (refused.reason, refused.user_can_connect) == ("identity_invalid", True)
    assert name in refused.message and "/tmp/payload.so" not in refused.message


def test_a_stored_identity_whose_server_no_longer_declares_its_variable_is_refused() -> None:
    undeclared = Server(id=1, name="local", transport=Transport.STDIO, command="python")
    refused = resolve_identity_refusal(_assignment({"API_TOKEN": "k"}, undeclared))
    assert refused is not None and refused.reason == "identity_invalid"
