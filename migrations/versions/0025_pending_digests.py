"""The weekly «Pendientes» digest: at most one per revisor and week (issue 14, item 1).

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pending_digests',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('week', sa.String(length=8), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('items', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('items > 0', name=op.f('ck_pending_digests_items_positive')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_pending_digests_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_digests')),
        sa.UniqueConstraint('user_id', 'week', name='uq_pending_digests_user_week'),
    )


def downgrade() -> None:
    op.drop_table('pending_digests')
