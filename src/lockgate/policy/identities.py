"""Whether an assignment's identity lets the calling user reach its server (product spec §4.2, §5.4).

Pure: the data plane asks before every call and hides the features of servers it would refuse.
An identity stored before its values were checked (``lockgate.domain.upstream_values``), or whose
server no longer declares the variables it sets, is refused here rather than sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from lockgate.domain.model import Assignment, IdentityScheme, IdentityStatus, Transport
from lockgate.domain.upstream_values import UpstreamValueError, check_identity_values


@dataclass(frozen=True, slots=True)
class IdentityRefusal:
    """Why a call cannot go upstream as anyone, and whether the user can fix it by connecting."""

    reason: str  # identity_required, identity_disabled, identity_needs_reauthorization, identity_invalid
    message: str
    user_can_connect: bool


def resolve_identity_refusal(assignment: Assignment) -> IdentityRefusal | None:
    """None when the assignment has the credential its scheme needs, enabled and ready."""
    if assignment.scheme is IdentityScheme.NONE:
        return None
    server = assignment.server.name
    credential = assignment.credential
    if credential is None:
        if assignment.scheme is IdentityScheme.SHARED:
            return IdentityRefusal(
                "shared_identity_missing",
                f"no shared identity is selected for server {server!r} on this gateway; "
                "an administrator must choose one",
                user_can_connect=False,
            )
        return IdentityRefusal(
            "identity_required", f"server {server!r} needs your own identity", user_can_connect=True
        )
    if not credential.enabled:
        return IdentityRefusal(
            "identity_disabled",
            f"identity {credential.name!r} for server {server!r} is disabled",
            user_can_connect=assignment.scheme is IdentityScheme.PER_USER,
        )
    if credential.status is not IdentityStatus.READY:
        return IdentityRefusal(
            "identity_needs_reauthorization",
            f"identity {credential.name!r} for server {server!r} must be authorized again",
            user_can_connect=assignment.scheme is IdentityScheme.PER_USER,
        )
    stdio = assignment.server.transport is Transport.STDIO
    try:
        check_identity_values(stdio, credential.values, assignment.server.identity_env)
    except UpstreamValueError as exc:
        return IdentityRefusal(
            "identity_invalid",
            f"identity {credential.name!r} for server {server!r} cannot be sent: {exc}",
            user_can_connect=assignment.scheme is IdentityScheme.PER_USER,
        )
    return None
