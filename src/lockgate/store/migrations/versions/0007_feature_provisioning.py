"""feature provisioning: modes and a metadata filter per assignment, approvals (pins), reviews

Every existing assignment allows all of every kind (``provisioning`` defaults to ``allow_all``), so
no running installation changes behaviour; new assignments are fail-closed unless the admin says
otherwise (the control plane writes their modes). The data plane's access read also reads
``feature_approvals``, so it gets the access counter's triggers (migration 0006). ``feature_reviews``
is what the data plane found withheld and an administrator has yet to decide on: it does not change
an answer, so it has none. The built-in Super admin and Administrator roles gain "Manage feature
provisioning settings", so whoever ran the gateways keeps deciding what passes them.

Revision ID: 0007_feature_provisioning
Revises: 0006_access_changes
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_feature_provisioning"
down_revision = "0006_access_changes"
branch_labels = None
depends_on = None

KINDS = ("tools", "prompts", "resources", "resourceTemplates")
OPEN = "{" + ", ".join(f'"{kind}": "allow_all"' for kind in KINDS) + "}"
BUMP = "UPDATE access_changes SET value = value + 1 WHERE id = 1"
EVENTS = ("insert", "update", "delete")
MANAGE_FEATURE_PROVISIONING = "manageFeatureProvisioning"  # as of this revision, not imported


def upgrade() -> None:
    # plain ADD COLUMN (no batch copy), so gateway_servers keeps its 0006 triggers on SQLite
    op.add_column(
        "gateway_servers", sa.Column("provisioning", sa.JSON(), nullable=False, server_default=OPEN)
    )
    op.add_column("gateway_servers", sa.Column("metadata_filter", sa.JSON(), nullable=True))
    op.create_table(
        "feature_approvals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "assignment_id",
            sa.Integer(),
            sa.ForeignKey("gateway_servers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("pinned", sa.JSON(), nullable=False),
        sa.Column("teams", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.String(320), nullable=False),
        sa.Column("decided_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_feature_approvals_assignment", "feature_approvals", ["assignment_id", "kind", "name"])
    op.create_table(
        "feature_reviews",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "assignment_id",
            sa.Integer(),
            sa.ForeignKey("gateway_servers.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("last_seen", sa.Float(), nullable=False),
        sa.Column("decided_by", sa.String(320), nullable=True),
        sa.Column("decided_at", sa.Float(), nullable=True),
        sa.UniqueConstraint("assignment_id", "kind", "name", "digest", name="uq_feature_reviews_offer"),
    )
    _grant_feature_provisioning(granted=True)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE CONSTRAINT TRIGGER access_changes_feature_approvals AFTER INSERT OR UPDATE OR DELETE"
            " ON feature_approvals DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
            " EXECUTE FUNCTION bump_access_changes()"
        )
        return
    for event in EVENTS:
        op.execute(
            f"CREATE TRIGGER access_changes_feature_approvals_{event} AFTER {event.upper()}"
            f" ON feature_approvals BEGIN {BUMP}; END"
        )


def downgrade() -> None:
    _grant_feature_provisioning(granted=False)
    op.drop_table("feature_reviews")
    op.drop_index("ix_feature_approvals_assignment", "feature_approvals")
    op.drop_table("feature_approvals")  # its triggers go with it
    # plain DROP COLUMN (SQLite 3.35+), not a batch copy that would lose the 0006 triggers
    op.drop_column("gateway_servers", "metadata_filter")
    op.drop_column("gateway_servers", "provisioning")


def _grant_feature_provisioning(*, granted: bool) -> None:
    """The built-in Super admin and Administrator roles hold "Manage feature provisioning settings"
    (or no longer do)."""
    bind = op.get_bind()
    roles = sa.table(
        "roles", sa.column("id"), sa.column("name"), sa.column("builtin"), sa.column("capabilities", sa.JSON)
    )
    query = sa.select(roles.c.id, roles.c.capabilities).where(
        roles.c.builtin & roles.c.name.in_(["Super admin", "Administrator"])
    )
    for role_id, capabilities in bind.execute(query).all():
        held = set(capabilities or []) - {MANAGE_FEATURE_PROVISIONING}
        if granted:
            held.add(MANAGE_FEATURE_PROVISIONING)
        bind.execute(sa.update(roles).where(roles.c.id == role_id).values(capabilities=sorted(held)))
