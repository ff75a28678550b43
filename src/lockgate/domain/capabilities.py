"""Capabilities and the built-in roles (product spec §6).

A role is a named set of capabilities; each user holds exactly one role. Names are MCP Manager's
where its documentation gives them (§6.2); the ones it does not name are marked ``lockgate_name`` in
``CAPABILITIES`` and follow the same voice. Keys are the camelCase form its Admin API uses
(``basicServerManagement``, §11.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Capability(StrEnum):
    """A workspace-wide permission. The value is the key stored in roles and named in 403s."""

    IDENTITY_MANAGEMENT = "identityManagement"
    VIEW_ALL_IDENTITIES = "viewAllIdentities"
    BASIC_SERVER_MANAGEMENT = "basicServerManagement"
    VIEW_ALL_SERVERS = "viewAllServers"
    DISABLE_AND_ENABLE_SERVERS = "disableAndEnableServers"
    BASIC_GATEWAY_MANAGEMENT = "basicGatewayManagement"
    VIEW_AND_USE_ALL_GATEWAYS = "viewAndUseAllGateways"
    DISABLE_AND_ENABLE_GATEWAYS = "disableAndEnableGateways"
    ARCHIVE_AND_RESTORE_GATEWAYS = "archiveAndRestoreGateways"
    MANAGE_TEAM_GATEWAY_PROVISIONING = "manageTeamGatewayProvisioning"
    MANAGE_FEATURE_PROVISIONING = "manageFeatureProvisioning"
    CREATE_AND_MANAGE_API_TOKENS = "createAndManageApiTokens"
    DISABLE_AND_ENABLE_HOSTS = "disableAndEnableHosts"
    DISABLE_AND_ENABLE_CONNECTIONS = "disableAndEnableConnections"
    MANAGE_PEOPLE = "managePeople"
    VIEW_AND_EXPORT_LOGS = "viewAndExportLogs"
    VIEW_ALL_LOGS = "viewAllLogs"
    EXPORT_AND_APPLY_CONFIGURATION = "exportAndApplyConfiguration"
    MANAGE_INTEGRATIONS = "manageIntegrations"

    @property
    def label(self) -> str:
        """The name people read, e.g. ``Basic server management``."""
        return CAPABILITIES[self].title


@dataclass(frozen=True, slots=True)
class CapabilityInfo:
    """What a capability is called, which area of the product it belongs to and what it allows;
    whether it lets its holder make Lockgate's host run a command of their choosing
    (``runs_commands``), and the setting that names the non-public networks it lets them make
    Lockgate connect to (``reaches_networks``)."""

    title: str
    area: str
    description: str
    lockgate_name: bool = False  # True where MCP Manager's documentation names no such capability
    runs_commands: bool = False
    reaches_networks: str | None = None

    @property
    def reach(self) -> str:
        """``runs commands`` and ``reaches `LOCKGATE_...```, as the README's capability table says."""
        parts = ["runs commands"] if self.runs_commands else []
        if self.reaches_networks is not None:
            parts.append(f"reaches `{self.reaches_networks}`")
        return "; ".join(parts)


CAPABILITIES: dict[Capability, CapabilityInfo] = {
    Capability.IDENTITY_MANAGEMENT: CapabilityInfo(
        "Identity management",
        "Identities",
        "Manage other people's identities: set their availability, enable and disable them, delete "
        "them; create identities for others.",
    ),
    Capability.VIEW_ALL_IDENTITIES: CapabilityInfo(
        "View all identities",
        "Identities",
        "See every identity, not only one's own and the global ones of the servers one sees.",
    ),
    Capability.BASIC_SERVER_MANAGEMENT: CapabilityInfo(
        "Basic server management",
        "Servers",
        "Add, edit and delete servers and preview their features. A stdio server is a command Lockgate's "
        "host runs, as Lockgate's user: this capability runs commands. An http or sse server may be on "
        "loopback or in the networks LOCKGATE_SERVER_ALLOWED_NETWORKS lists.",
        runs_commands=True,
        reaches_networks="LOCKGATE_SERVER_ALLOWED_NETWORKS",
    ),
    Capability.VIEW_ALL_SERVERS: CapabilityInfo(
        "View all servers",
        "Servers",
        "See every server, not only those on gateways one's teams are granted.",
    ),
    Capability.DISABLE_AND_ENABLE_SERVERS: CapabilityInfo(
        "Disable and enable servers", "Servers", "Flip a server's break-glass toggle.", lockgate_name=True
    ),
    Capability.BASIC_GATEWAY_MANAGEMENT: CapabilityInfo(
        "Basic gateway management",
        "Gateways",
        "Create, rename and delete gateways; assign servers to them and unassign them; set each "
        "assignment's identity scheme; add, edit, order and remove a gateway's rules.",
    ),
    Capability.VIEW_AND_USE_ALL_GATEWAYS: CapabilityInfo(
        "View and use all gateways", "Gateways", "Reach every gateway, whatever one's teams are granted."
    ),
    Capability.DISABLE_AND_ENABLE_GATEWAYS: CapabilityInfo(
        "Disable and enable gateways", "Gateways", "Flip a gateway's break-glass toggle.", lockgate_name=True
    ),
    Capability.ARCHIVE_AND_RESTORE_GATEWAYS: CapabilityInfo(
        "Archive and restore gateways",
        "Gateways",
        "Archive a gateway (it refuses traffic and leaves listings) and restore it.",
        lockgate_name=True,
    ),
    Capability.MANAGE_TEAM_GATEWAY_PROVISIONING: CapabilityInfo(
        "Manage team-gateway provisioning", "Gateways", "Grant a gateway to a team and take it back."
    ),
    Capability.MANAGE_FEATURE_PROVISIONING: CapabilityInfo(
        "Manage feature provisioning settings",
        "Gateways",
        "See and set which features of each assignment on the gateways one may use pass: the mode of "
        "each feature kind, approvals and rejections with their pins and teams, the reviews of changed "
        "or new features, and the metadata filter. Approving what a server offers now previews it.",
    ),
    Capability.CREATE_AND_MANAGE_API_TOKENS: CapabilityInfo(
        "Create and manage API tokens",
        "Hosts",
        "Create, rename and delete token-based hosts; mint, list and revoke their API tokens. A host's "
        "webhook may be in the networks LOCKGATE_EGRESS_ALLOWED_NETWORKS lists.",
        reaches_networks="LOCKGATE_EGRESS_ALLOWED_NETWORKS",
    ),
    Capability.DISABLE_AND_ENABLE_HOSTS: CapabilityInfo(
        "Disable and enable hosts", "Hosts", "Flip a host's break-glass toggle."
    ),
    Capability.DISABLE_AND_ENABLE_CONNECTIONS: CapabilityInfo(
        "Disable and enable connections", "Hosts", "Flip a connection's break-glass toggle."
    ),
    Capability.MANAGE_PEOPLE: CapabilityInfo(
        "Manage people",
        "People",
        "Invite and deactivate users, set their role and teams, edit roles and teams; see every team.",
    ),
    Capability.VIEW_AND_EXPORT_LOGS: CapabilityInfo(
        "View and export logs",
        "Logging",
        "Read the traffic log and the admin events of the gateways one may use.",
    ),
    Capability.VIEW_ALL_LOGS: CapabilityInfo(
        "View all logs",
        "Logging",
        "Read the whole traffic log and every admin event, changes to people, roles, teams, servers, "
        'hosts and identities included; with "View and export logs".',
        lockgate_name=True,
    ),
    Capability.EXPORT_AND_APPLY_CONFIGURATION: CapabilityInfo(
        "Export and apply configuration",
        "Workspace settings",
        "Export the whole configuration (never its secrets), plan and apply declarative files. Each "
        "change an apply makes also needs the capability that change needs on its own.",
        lockgate_name=True,
    ),
    Capability.MANAGE_INTEGRATIONS: CapabilityInfo(
        "Manage integrations",
        "Integrations",
        "Configure, edit, and remove integrations such as rule engines, including custom providers and "
        "built-in engines. An engine may be in the networks LOCKGATE_EGRESS_ALLOWED_NETWORKS lists.",
        reaches_networks="LOCKGATE_EGRESS_ALLOWED_NETWORKS",
    ),
}


class BuiltinRole(StrEnum):
    """The three roles every workspace has (product spec §6.1)."""

    SUPER_ADMIN = "Super admin"
    ADMINISTRATOR = "Administrator"
    MEMBER = "Member"


BUILTIN_GRANTS: dict[BuiltinRole, frozenset[Capability]] = {
    # Always holds every capability; its toggles are locked on.
    BuiltinRole.SUPER_ADMIN: frozenset(Capability),
    # Runs the gateways but does not decide who is who.
    BuiltinRole.ADMINISTRATOR: frozenset(Capability) - {Capability.MANAGE_PEOPLE},
    # Uses the gateways their teams are granted; manages only their own tokens.
    BuiltinRole.MEMBER: frozenset(),
}
"""What each built-in role holds when a store is created. Administrator and Member stay editable."""
