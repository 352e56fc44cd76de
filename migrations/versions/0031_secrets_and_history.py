"""Personal links out of the outbox bodies, history that TRUNCATE cannot empty, and the
equipo accounts that leaving the team closed.

``outbox.secret_link`` holds an invitation or reset link until its message is delivered
(the bodies hold a placeholder). On PostgreSQL, a statement-level ``BEFORE TRUNCATE``
trigger on each append-only table: the row triggers of 0001 and 0006 do not fire on
TRUNCATE, and the application's role could otherwise empty the history in one statement.
``users.left_team_at``: when removal from the last team deactivated an equipo account.

Revision ID: 0031
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None

# Each append-only table and the function its row trigger already calls (it raises).
APPEND_ONLY = {
    'ruta_transitions': 'ruta_transitions_append_only',
    'pmi_snapshots': 'pmi_snapshots_immutable',
}


def upgrade() -> None:
    op.add_column('outbox', sa.Column('secret_link', sa.String(length=500), nullable=True))
    op.add_column('users', sa.Column('left_team_at', sa.DateTime(timezone=True),
                                     nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        for table, function in APPEND_ONLY.items():
            op.execute(f"""
                CREATE TRIGGER {table}_no_truncate
                BEFORE TRUNCATE ON {table}
                FOR EACH STATEMENT EXECUTE FUNCTION {function}()
            """)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
    with op.batch_alter_table('users') as batch:
        batch.drop_column('left_team_at')
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('secret_link')
