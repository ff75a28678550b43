"""Every table, in one place (SQLAlchemy Core). Migrations in ``store/migrations`` create exactly these."""

from __future__ import annotations

import json

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    true,
)

from lockgate.domain.features import FeatureKind
from lockgate.domain.provisioning import Mode

metadata = MetaData()

OPEN_PROVISIONING = json.dumps({kind.value: Mode.ALLOW_ALL.value for kind in FeatureKind})
"""The provisioning column's default: every kind allowed, as before provisioning existed."""

servers = Table(
    "servers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("transport", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("config", JSON, nullable=False),  # command/args/cwd or url, and the env/header names
    Column("secrets", Text, nullable=True),  # sealed {"env": {...}, "headers": {...}} (lockgate.vault)
    Column("revision", String(64), nullable=False),
    Column("version", Integer, nullable=False, default=1),  # ETag; bumped by every change
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

gateways = Table(
    "gateways",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("archived", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

gateway_servers = Table(
    "gateway_servers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("gateway_id", ForeignKey("gateways.id", ondelete="CASCADE"), nullable=False),
    Column("server_id", ForeignKey("servers.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),  # the assignment's name on its gateway; default the server's
    Column("prefix", String(64), nullable=True),
    Column("position", Integer, nullable=False),
    Column("identity_scheme", String(16), nullable=False, default="none"),  # domain.model.IdentityScheme
    Column("identity_id", ForeignKey("identities.id", ondelete="SET NULL"), nullable=True),  # shared scheme
    # {feature kind: mode} (domain.provisioning); assignments made before migration 0007 allow all
    Column("provisioning", JSON, nullable=False, server_default=OPEN_PROVISIONING),
    Column(
        "metadata_filter", JSON, nullable=True
    ),  # {"drop": [...], "max_description": n, "overrides": [...]}
    UniqueConstraint("gateway_id", "name", name="uq_gateway_servers_gateway_name"),
)

feature_approvals = Table(
    "feature_approvals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("assignment_id", ForeignKey("gateway_servers.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(24), nullable=False),  # domain.features.FeatureKind
    Column("name", Text, nullable=False),  # a tool or prompt name, a resource URI or a uriTemplate
    Column("decision", String(16), nullable=False),  # domain.provisioning.Decision
    Column("definition", JSON, nullable=False),  # as the server offered it when decided
    Column("digest", String(64), nullable=False),  # domain.provisioning.definition_digest
    Column("pinned", JSON, nullable=False),  # PinField names
    # team ids it is limited to (empty: everyone). Not a join table: a deleted team then leaves an
    # entry that applies to no one, rather than one that applies to everyone.
    Column("teams", JSON, nullable=False),
    Column("decided_by", String(320), nullable=False),
    Column("decided_at", Float, nullable=False),
    Index("ix_feature_approvals_assignment", "assignment_id", "kind", "name"),
)

feature_reviews = Table(
    "feature_reviews",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("assignment_id", ForeignKey("gateway_servers.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("name", Text, nullable=False),
    Column("digest", String(64), nullable=False),  # of the offered definition
    Column("reason", String(32), nullable=True),  # domain.provisioning.Withheld; None: findings only
    Column("definition", JSON, nullable=False),  # as offered
    Column("findings", JSON, nullable=False),  # screening findings: kind, severity, location, evidence
    Column("status", String(16), nullable=False),  # open | approved | rejected | noted (nothing withheld)
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("decided_by", String(320), nullable=True),
    Column("decided_at", Float, nullable=True),
    UniqueConstraint("assignment_id", "kind", "name", "digest", name="uq_feature_reviews_offer"),
)

hosts = Table(
    "hosts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("link_id", String(32), nullable=False, unique=True),  # the shareable connection link
    Column("webhook_url", Text, nullable=True),  # where newly minted user tokens are delivered
    Column("webhook_secret", Text, nullable=True),  # sealed signing secret (Standard Webhooks)
    # the users.id of who last set webhook_url: it receives only tokens for gateways they may use
    # (None: the instance operator, or set before this was recorded). No foreign key: adding one
    # rebuilds the table on SQLite, whose drop would cascade to every connection and token.
    Column("webhook_set_by", Integer, nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", Float, nullable=False),
)

roles = Table(
    "roles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("builtin", Boolean, nullable=False, default=False),
    Column("capabilities", JSON, nullable=False),  # list of Capability keys
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", Float, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("role_id", ForeignKey("roles.id"), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("password_hash", String(255), nullable=True),  # argon2id (RFC 9106), for local sign-in
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", Float, nullable=False),
)

teams = Table(
    "teams",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", Float, nullable=False),
)

team_members = Table(
    "team_members",
    metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
)

team_gateways = Table(
    "team_gateways",
    metadata,
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("gateway_id", ForeignKey("gateways.id", ondelete="CASCADE"), primary_key=True),
)

personal_access_tokens = Table(
    "personal_access_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("public_id", String(32), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # HMAC-SHA256, hex
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
)

connections = Table(
    "connections",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host_id", ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False),
    Column("gateway_id", ForeignKey("gateways.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("host_id", "gateway_id", "user_id", name="uq_connections_host_gateway_user"),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("public_id", String(32), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # HMAC-SHA256, hex
    Column("connection_id", ForeignKey("connections.id", ondelete="CASCADE"), nullable=False),
    # who stands behind the token: valid only while they may use its gateway; None for the operator's
    Column("sponsor_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    Column("expires_at", Float, nullable=True),  # None: never expires
    # whether it calls as its user's private identities: minted by the user themselves (the
    # connection link) or by someone who may manage identities (policy.tokens)
    Column("private_identities", Boolean, nullable=False, server_default=true()),
)

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("correlation_id", String(36), nullable=False),
    Column("type", String(40), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("method", String(128)),
    Column("feature_name", String(512)),
    Column("user_email", String(320)),
    Column("host", String(128)),
    Column("gateway", String(128)),
    Column("server", String(128)),
    Column("status", Integer),
    Column("duration_ms", Float),
    Column("error", Text),
    Column("body", Text),
    Column("headers", Text),
    Column("rules", Text),  # JSON list of domain.rules.RuleOutcome.to_json(): what rules did on this leg
    Index("ix_audit_entries_correlation_id", "correlation_id"),
    Index("ix_audit_entries_created_at", "created_at"),
)

rules = Table(
    "rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("gateway_id", ForeignKey("gateways.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("position", Integer, nullable=False),  # the gateway's order: lower runs first
    Column("enabled", Boolean, nullable=False, default=True),
    Column("hook", String(16), nullable=False),  # domain.rules.Hook
    # {"method": "regex", "patterns": [...], "presets": [...]} | {"method": "presidio", "entities": [...],
    # "threshold": t, "allowlist": [...]} | {"method": "engine", "engine": name}
    Column("detection", JSON, nullable=False),
    Column("action", JSON, nullable=True),  # {"kind": ..., settings}; None for an engine rule
    Column("alerts", Boolean, nullable=False, default=False),
    Column("failure_mode", String(16), nullable=True),  # domain.rules.FailureMode; None for regex
    Column("methods", JSON, nullable=False),  # among domain.rules.SCANNABLE_METHODS
    Column("assignments", JSON, nullable=False),  # assignment names; [] = all
    Column("tools", JSON, nullable=False),  # tool names; [] = all
    Column("store_original", Boolean, nullable=False, default=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    UniqueConstraint("gateway_id", "name", name="uq_rules_gateway_name"),
)

rule_engines = Table(
    "rule_engines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("kind", String(24), nullable=False),  # domain.rules.EngineKind
    Column("url", Text, nullable=True),
    Column("settings", JSON, nullable=False),  # the provider's own non-secret fields
    Column("header_names", JSON, nullable=False),  # names of the sealed headers, shown
    Column("secrets", Text, nullable=True),  # sealed {"secret": ..., "headers": {...}}
    Column("timeout_s", Float, nullable=False),
    Column("retries", Integer, nullable=False),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

rule_keys = Table(
    "rule_keys",
    metadata,
    # the gateway's key for the hash action, sealed; made when its first rule is saved
    Column(
        "gateway_id", ForeignKey("gateways.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    ),
    Column("sealed", Text, nullable=False),
)

admin_events = Table(
    "admin_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("correlation_id", String(36), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("actor", String(320), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("name", String(320), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Index("ix_admin_events_created_at", "created_at"),
    Index("ix_admin_events_correlation_id", "correlation_id"),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(160), nullable=False, unique=True),
    Column("server_id", ForeignKey("servers.id", ondelete="CASCADE"), nullable=False),
    Column("owner_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=True),  # None: the operator's
    Column("kind", String(16), nullable=False),  # domain.model.IdentityKind
    Column("availability", String(16), nullable=False),  # domain.model.Availability
    Column("enabled", Boolean, nullable=False, default=True),
    Column("status", String(32), nullable=False),  # domain.model.IdentityStatus
    Column("header_names", JSON, nullable=False),  # the names of the sealed headers, shown; never values
    Column("secret", Text, nullable=True),  # sealed {"headers": {...}} or the OAuth token set
    Column("expires_at", Float, nullable=True),  # the OAuth access token's expiry
    Column("scope", Text, nullable=True),
    Column("oauth_client_id", ForeignKey("oauth_clients.id", ondelete="SET NULL"), nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_identities_server_owner", "server_id", "owner_id"),
)

identity_choices = Table(
    "identity_choices",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("assignment_id", ForeignKey("gateway_servers.id", ondelete="CASCADE"), primary_key=True),
    Column("identity_id", ForeignKey("identities.id", ondelete="CASCADE"), nullable=False),
)

oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("server_id", ForeignKey("servers.id", ondelete="CASCADE"), nullable=False),
    Column("issuer", String(512), nullable=False),
    Column("client_id", Text, nullable=False),
    Column("secret", Text, nullable=True),  # sealed client_secret
    Column("token_endpoint_auth_method", String(64), nullable=False),
    Column("kind", String(24), nullable=False),  # pre_registered | metadata_document | dynamic
    Column("metadata", JSON, nullable=False),  # the authorization server's metadata (RFC 8414)
    Column("resource", Text, nullable=False),  # RFC 8707 resource indicator of the server
    Column("created_at", Float, nullable=False),
    UniqueConstraint("server_id", "issuer", name="uq_oauth_clients_server_issuer"),
)

oauth_authorizations = Table(
    "oauth_authorizations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("state_hash", String(64), nullable=False, unique=True),  # HMAC-SHA256 of the state, hex
    Column("identity_id", ForeignKey("identities.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("oauth_client_id", ForeignKey("oauth_clients.id", ondelete="CASCADE"), nullable=False),
    Column("secret", Text, nullable=True),  # sealed {"code_verifier": ...}
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=True),
    Column("return_to", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # HMAC-SHA256 of the cookie, hex
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("host_id", ForeignKey("hosts.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", String(64), nullable=False, unique=True),  # Standard Webhooks webhook-id
    Column("event", String(64), nullable=False),
    Column("payload", Text, nullable=True),  # sealed JSON body; cleared once delivered or given up
    Column("status", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", Text, nullable=True),  # never secret: status line or connection error
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float, nullable=True),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

vault_keys = Table(
    "vault_keys",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("check_value", Text, nullable=False),  # sealed with this key version alone (Vault.check_value)
    Column("created_at", Float, nullable=False),
)

access_changes = Table(
    "access_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1: one row
    # bumped by database triggers in the transaction of every write to a table the data plane's
    # access query reads (migration 0006), so an unchanged value means an unchanged answer
    Column("value", Integer, nullable=False),
)
