"""access scoping: who stands behind each API token, and "View all logs"

``api_tokens.sponsor_id`` names the user a token stands on: the data plane refuses it once they may
no longer use its gateway. Existing tokens get theirs from what is already stored: a token for a
person stands on that person; a token for a host's agent user stands on whoever minted it, as the
``tokens_create`` admin event records; one minted by the instance operator (no user) stays None.

Revision ID: 0004_access_scoping
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_access_scoping"
down_revision = "0003"
branch_labels = None
depends_on = None

# As of this revision, not imported from the code, which may change.
_AGENTS = "%@agents.lockgate.invalid"
_VIEW_ALL_LOGS = "viewAllLogs"

_PERSON = """
UPDATE api_tokens SET sponsor_id = (
    SELECT connections.user_id FROM connections JOIN users ON users.id = connections.user_id
    WHERE connections.id = api_tokens.connection_id AND users.email NOT LIKE :agents
)
"""
_MINTER = """
UPDATE api_tokens SET sponsor_id = (
    SELECT MIN(users.id) FROM admin_events JOIN users ON users.email = admin_events.actor
    WHERE admin_events.operation = 'tokens_create' AND admin_events.kind = 'api_token'
      AND admin_events.name = api_tokens.public_id
)
WHERE sponsor_id IS NULL
"""


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("sponsor_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_api_tokens_sponsor_id_users", "users", ["sponsor_id"], ["id"], ondelete="CASCADE"
        )
    bind = op.get_bind()
    bind.execute(sa.text(_PERSON), {"agents": _AGENTS})
    bind.execute(sa.text(_MINTER))
    _set_view_all_logs(granted=True)


def downgrade() -> None:
    _set_view_all_logs(granted=False)
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_constraint("fk_api_tokens_sponsor_id_users", type_="foreignkey")
        batch.drop_column("sponsor_id")


def _set_view_all_logs(*, granted: bool) -> None:
    """The built-in Super admin and Administrator roles hold "View all logs" (or no longer do), so
    they keep reading every gateway's logs, as they did before logs were scoped."""
    bind = op.get_bind()
    roles = sa.table(
        "roles", sa.column("id"), sa.column("name"), sa.column("builtin"), sa.column("capabilities", sa.JSON)
    )
    query = sa.select(roles.c.id, roles.c.capabilities).where(
        roles.c.builtin & roles.c.name.in_(["Super admin", "Administrator"])
    )
    for role_id, capabilities in bind.execute(query).all():
        held = set(capabilities or []) - {_VIEW_ALL_LOGS}
        bind.execute(
            sa.update(roles)
            .where(roles.c.id == role_id)
            .values(capabilities=sorted(held | {_VIEW_ALL_LOGS} if granted else held))
        )
