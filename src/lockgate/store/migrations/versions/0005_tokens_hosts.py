"""API tokens: an optional expiry, and whether a token may call as its user's private identities;
who set each host's webhook URL

A token minted through the control plane by someone other than its user stops using that user's
private identities: the admin event of its minting names who minted it (the minter's identity
management rights at the time are not recorded, so this errs on the safe side; such a token can be
minted again). Tokens a user got through the connection link, or minted for themselves, keep them.
Webhooks set before this revision record no one (``webhook_set_by`` NULL) and keep receiving every
token of their host until their URL is next set.

Revision ID: 0005_tokens_hosts
Revises: 0004_access_scoping
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_tokens_hosts"
down_revision = "0004_access_scoping"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.Float(), nullable=True))
        batch.add_column(
            sa.Column("private_identities", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.get_bind().execute(
        sa.text(
            "UPDATE api_tokens SET private_identities = :no WHERE EXISTS ("
            " SELECT 1 FROM admin_events e, connections c, users u"
            " WHERE e.operation = 'tokens_create' AND e.kind = 'api_token'"
            " AND e.name = api_tokens.public_id AND c.id = api_tokens.connection_id"
            " AND u.id = c.user_id AND e.actor <> u.email)"
        ),
        {"no": False},
    )
    with op.batch_alter_table("hosts") as batch:  # no foreign key: see store/schema.py
        batch.add_column(sa.Column("webhook_set_by", sa.Integer(), nullable=True))


def downgrade() -> None:
    # not in batch mode: on SQLite that rebuilds the table, and dropping the old one would cascade
    # to every connection and token (SQLite 3.35+ drops a column in place)
    op.drop_column("hosts", "webhook_set_by")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("private_identities")
        batch.drop_column("expires_at")
