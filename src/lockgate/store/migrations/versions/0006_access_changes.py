"""access changes: one counter row that every write affecting a token's access bumps

The data plane reads ``access_changes.value`` on every request and answers from the access it read
before while the value is unchanged (``store/access.py``). Database triggers bump it in the
transaction of every insert, update or delete on the tables the access query reads, so every writer
(API, CLI, admin MCP, web, declaration, another process, an operator's own SQL) is seen on the next
call. On PostgreSQL the triggers are deferred constraint triggers: the counter row is locked only at
commit, after every other lock the transaction takes, so two writers cannot deadlock on it.

A later migration that rebuilds one of these tables (Alembic's batch mode on SQLite copies and drops
it) drops its triggers and must create them again: ``tests/store/test_access_changes.py`` fails
while a table the access query reads has none.

Revision ID: 0006_access_changes
Revises: 0005_tokens_hosts
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_access_changes"
down_revision = "0005_tokens_hosts"
branch_labels = None
depends_on = None

# As of this revision, not imported from the code, which may change: what store/access.py reads.
TABLES = (
    "api_tokens",
    "connections",
    "hosts",
    "gateways",
    "users",
    "roles",
    "team_members",
    "team_gateways",
    "gateway_servers",
    "servers",
    "identity_choices",
    "identities",
)
EVENTS = ("insert", "update", "delete")
BUMP = "UPDATE access_changes SET value = value + 1 WHERE id = 1"


def upgrade() -> None:
    op.create_table(
        "access_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("value", sa.Integer(), nullable=False),
    )
    op.execute("INSERT INTO access_changes (id, value) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bump_access_changes() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for table in TABLES:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER access_changes_{table} AFTER INSERT OR UPDATE OR DELETE"
                f" ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                " EXECUTE FUNCTION bump_access_changes()"
            )
        return
    for table in TABLES:  # SQLite: one trigger per event, each row (sqlite.org/lang_createtrigger.html)
        for event in EVENTS:
            op.execute(
                f"CREATE TRIGGER access_changes_{table}_{event} AFTER {event.upper()} ON {table}"
                f" BEGIN {BUMP}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER access_changes_{table} ON {table}")
        op.execute("DROP FUNCTION bump_access_changes()")
    else:
        for table in TABLES:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER access_changes_{table}_{event}")
    op.drop_table("access_changes")
