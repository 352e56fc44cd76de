"""A crash loses no mail: each outbox row records the moment it was handed to the server
(right before its own DATA), so a stale claim without it goes back to the queue instead of
becoming «incierto».

Revision ID: 0027
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('handed_at')
