"""Every table, in one place (SQLAlchemy Core). Migrations in ``store/migrations`` create exactly these."""

from __future__ import annotations

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
)

metadata = MetaData()

servers = Table(
    "servers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("transport", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("config", JSON, nullable=False),  # command/args/env/cwd or url/headers
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
    Column("prefix", String(64), nullable=True),
    Column("position", Integer, nullable=False),
    UniqueConstraint("gateway_id", "server_id", name="uq_gateway_servers_gateway_server"),
)

hosts = Table(
    "hosts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
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
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
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
    Index("ix_audit_entries_correlation_id", "correlation_id"),
    Index("ix_audit_entries_created_at", "created_at"),
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
