"""Which capabilities applying a declared change needs (``policy.declaration``)."""

from lockgate.domain.capabilities import Capability
from lockgate.policy.declaration import resolve_change_capabilities


def test_changing_an_assignments_provisioning_needs_the_feature_provisioning_capability_alone() -> None:
    for field in ("provisioning", "approvals", "metadata_filter"):
        needed = resolve_change_capabilities("gateway", "update", [f"servers.time.{field}"])
        assert needed == {Capability.MANAGE_FEATURE_PROVISIONING}


def test_an_assignment_named_like_a_provisioning_field_is_still_gateway_management() -> None:
    assert resolve_change_capabilities("gateway", "update", ["servers.approvals"]) == {
        Capability.BASIC_GATEWAY_MANAGEMENT
    }


def test_creating_a_gateway_with_provisioning_needs_both_capabilities() -> None:
    needed = resolve_change_capabilities("gateway", "create", ["servers", "servers.time.provisioning"])
    assert needed == {Capability.BASIC_GATEWAY_MANAGEMENT, Capability.MANAGE_FEATURE_PROVISIONING}


def test_a_gateways_teams_need_team_gateway_provisioning() -> None:
    assert resolve_change_capabilities("gateway", "update", ["teams"]) == {
        Capability.MANAGE_TEAM_GATEWAY_PROVISIONING
    }
