"""identity brokering: the vault, identities, identity schemes, upstream OAuth, sign-in, webhooks

Server env and header values move from ``servers.config`` into ``servers.secrets``, sealed with the
vault handed over in ``config.attributes["vault"]``.

Revision ID: 0003
Revises: 0002
"""

import secrets
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vault_keys",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("check_value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("secrets", sa.Text(), nullable=True))
    _seal_server_secrets()
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("link_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("webhook_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("webhook_secret", sa.Text(), nullable=True))
    bind = op.get_bind()
    for (host_id,) in bind.execute(sa.text("SELECT id FROM hosts")).all():
        link = secrets.token_urlsafe(16)
        bind.execute(sa.text("UPDATE hosts SET link_id = :l WHERE id = :i"), {"l": link, "i": host_id})
    with op.batch_alter_table("hosts") as batch:
        batch.alter_column("link_id", existing_type=sa.String(length=32), nullable=False)
        batch.create_unique_constraint("uq_hosts_link_id", ["link_id"])
    op.create_table(
        "oauth_clients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=512), nullable=False),
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("token_endpoint_auth_method", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("server_id", "issuer", name="uq_oauth_clients_server_issuer"),
    )
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("availability", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("header_names", sa.JSON(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("oauth_client_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["oauth_client_id"], ["oauth_clients.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index("ix_identities_server_owner", "identities", ["server_id", "owner_id"])
    with op.batch_alter_table("gateway_servers") as batch:
        batch.add_column(sa.Column("name", sa.String(length=128), nullable=True))
        batch.add_column(
            sa.Column("identity_scheme", sa.String(length=16), nullable=False, server_default="none")
        )
        batch.add_column(sa.Column("identity_id", sa.Integer(), nullable=True))
    op.execute("UPDATE gateway_servers SET name = (SELECT name FROM servers WHERE servers.id = server_id)")
    with op.batch_alter_table("gateway_servers") as batch:
        batch.alter_column("name", existing_type=sa.String(length=128), nullable=False)
        batch.alter_column("identity_scheme", existing_type=sa.String(length=16), server_default=None)
        batch.drop_constraint("uq_gateway_servers_gateway_server", type_="unique")
        batch.create_unique_constraint("uq_gateway_servers_gateway_name", ["gateway_id", "name"])
        batch.create_foreign_key(
            "fk_gateway_servers_identity_id_identities",
            "identities",
            ["identity_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.create_table(
        "identity_choices",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["assignment_id"], ["gateway_servers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["identity_id"], ["identities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "assignment_id"),
    )
    op.create_table(
        "oauth_authorizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state_hash", sa.String(length=64), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("oauth_client_id", sa.Integer(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("return_to", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["identity_id"], ["identities.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["oauth_client_id"], ["oauth_clients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("state_hash"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["host_id"], ["hosts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])
    _grant_identity_capabilities()


def _grant_identity_capabilities() -> None:
    """The built-in Super admin and Administrator roles gain "Identity management" and "View all
    identities" (keys as of this revision, not imported from the code, which may change)."""
    bind = op.get_bind()
    roles = sa.table(
        "roles", sa.column("id"), sa.column("name"), sa.column("builtin"), sa.column("capabilities", sa.JSON)
    )
    query = sa.select(roles.c.id, roles.c.capabilities).where(
        roles.c.builtin & roles.c.name.in_(["Super admin", "Administrator"])
    )
    for role_id, capabilities in bind.execute(query).all():
        granted = sorted(set(capabilities or []) | {"identityManagement", "viewAllIdentities"})
        bind.execute(sa.update(roles).where(roles.c.id == role_id).values(capabilities=granted))


def _seal_server_secrets() -> None:
    """Move each server's env and header values into its sealed ``secrets`` column."""
    bind = op.get_bind()
    servers = sa.table("servers", sa.column("id"), sa.column("config", sa.JSON), sa.column("secrets"))
    rows = bind.execute(sa.select(servers.c.id, servers.c.config)).all()
    for server_id, stored in rows:
        config: dict[str, Any] = dict(stored)
        values = {"env": config.pop("env", None) or {}, "headers": config.pop("headers", None) or {}}
        config["env"] = sorted(values["env"])
        config["headers"] = sorted(values["headers"])
        sealed = None
        if values["env"] or values["headers"]:
            vault = context.config.attributes.get("vault")
            if vault is None:
                raise RuntimeError("sealing server secrets needs the vault's key ring")
            sealed = vault.seal(values, b"servers.secrets")
        bind.execute(
            sa.update(servers).where(servers.c.id == server_id).values(config=config, secrets=sealed)
        )


def downgrade() -> None:
    raise NotImplementedError("0003 seals secrets; restore a backup to go back")
