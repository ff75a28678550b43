"""gateway rules: rules per gateway, the rule engines, a hash key per gateway, rule outcomes per leg

The data plane reads ``rules``, ``rule_engines`` and ``rule_keys`` once per change of the access
counter (``dataplane/rulebook.py``), so the three get its triggers (migration 0006). Each audit leg
gains ``rules``: which rules acted on it, how, and how often (never what they matched). The built-in
Super admin and Administrator roles gain "Manage integrations" (rule engines), so whoever ran the
gateways keeps configuring them.

Revision ID: 0008_gateway_rules
Revises: 0007_feature_provisioning
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_gateway_rules"
down_revision = "0007_feature_provisioning"
branch_labels = None
depends_on = None

BUMP = "UPDATE access_changes SET value = value + 1 WHERE id = 1"
EVENTS = ("insert", "update", "delete")
COUNTED = ("rules", "rule_engines", "rule_keys")
MANAGE_INTEGRATIONS = "manageIntegrations"  # as of this revision, not imported


def upgrade() -> None:
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "gateway_id", sa.Integer(), sa.ForeignKey("gateways.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("hook", sa.String(16), nullable=False),
        sa.Column("detection", sa.JSON(), nullable=False),
        sa.Column("action", sa.JSON(), nullable=True),
        sa.Column("alerts", sa.Boolean(), nullable=False),
        sa.Column("failure_mode", sa.String(16), nullable=True),
        sa.Column("methods", sa.JSON(), nullable=False),
        sa.Column("assignments", sa.JSON(), nullable=False),
        sa.Column("tools", sa.JSON(), nullable=False),
        sa.Column("store_original", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.UniqueConstraint("gateway_id", "name", name="uq_rules_gateway_name"),
    )
    op.create_table(
        "rule_engines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("header_names", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=True),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "rule_keys",
        sa.Column(
            "gateway_id",
            sa.Integer(),
            sa.ForeignKey("gateways.id", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("sealed", sa.Text(), nullable=False),
    )
    op.add_column("audit_entries", sa.Column("rules", sa.Text(), nullable=True))
    _grant_integrations(granted=True)
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table in COUNTED:
        if postgresql:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER access_changes_{table} AFTER INSERT OR UPDATE OR DELETE"
                f" ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                " EXECUTE FUNCTION bump_access_changes()"
            )
            continue
        for event in EVENTS:
            op.execute(
                f"CREATE TRIGGER access_changes_{table}_{event} AFTER {event.upper()} ON {table}"
                f" BEGIN {BUMP}; END"
            )


def downgrade() -> None:
    _grant_integrations(granted=False)
    op.drop_column("audit_entries", "rules")
    for table in reversed(COUNTED):
        op.drop_table(table)  # their triggers go with them


def _grant_integrations(*, granted: bool) -> None:
    """The built-in Super admin and Administrator roles hold "Manage integrations" (or no longer do)."""
    bind = op.get_bind()
    roles = sa.table(
        "roles", sa.column("id"), sa.column("name"), sa.column("builtin"), sa.column("capabilities", sa.JSON)
    )
    query = sa.select(roles.c.id, roles.c.capabilities).where(
        roles.c.builtin & roles.c.name.in_(["Super admin", "Administrator"])
    )
    for role_id, capabilities in bind.execute(query).all():
        held = set(capabilities or []) - {MANAGE_INTEGRATIONS}
        if granted:
            held.add(MANAGE_INTEGRATIONS)
        bind.execute(sa.update(roles).where(roles.c.id == role_id).values(capabilities=sorted(held)))
