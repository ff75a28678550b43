"""control plane: roles, teams, personal access tokens, admin events, row versions

Revision ID: 0002
Revises: 0001
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The built-in grants as they stood when this migration was written (a migration must not change
# meaning when the code's constants do).
_ALL = [
    "basicServerManagement",
    "viewAllServers",
    "disableAndEnableServers",
    "basicGatewayManagement",
    "viewAndUseAllGateways",
    "disableAndEnableGateways",
    "archiveAndRestoreGateways",
    "manageTeamGatewayProvisioning",
    "createAndManageApiTokens",
    "disableAndEnableHosts",
    "disableAndEnableConnections",
    "managePeople",
    "viewAndExportLogs",
    "exportAndApplyConfiguration",
]
_BUILTIN = [
    ("Super admin", _ALL),
    ("Administrator", [c for c in _ALL if c != "managePeople"]),
    ("Member", []),
]


def upgrade() -> None:
    roles = op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    now = time.time()
    op.bulk_insert(
        roles,
        [
            {"name": name, "builtin": True, "capabilities": caps, "version": 1, "created_at": now}
            for name, caps in _BUILTIN
        ],
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    for table in ("servers", "gateways", "hosts"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("role_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.execute("UPDATE users SET role_id = (SELECT id FROM roles WHERE name = 'Member')")
    with op.batch_alter_table("users") as batch:
        batch.alter_column("role_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_users_role_id_roles", "roles", ["role_id"], ["id"])
    op.create_table(
        "team_members",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )
    op.create_table(
        "team_gateways",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("gateway_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("team_id", "gateway_id"),
    )
    op.create_table(
        "personal_access_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "admin_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("correlation_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=320), nullable=False),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_admin_events_created_at", "admin_events", ["created_at"])
    op.create_index("ix_admin_events_correlation_id", "admin_events", ["correlation_id"])


def downgrade() -> None:
    op.drop_table("admin_events")
    op.drop_table("personal_access_tokens")
    op.drop_table("team_gateways")
    op.drop_table("team_members")
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("fk_users_role_id_roles", type_="foreignkey")
        batch.drop_column("version")
        batch.drop_column("active")
        batch.drop_column("role_id")
    for table in ("servers", "gateways", "hosts"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")
    op.drop_table("teams")
    op.drop_table("roles")
