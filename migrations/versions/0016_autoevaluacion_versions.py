"""Versioned valoraciones and team members: a save from a stale form answers 409.

Two columns; existing rows start at version 1 (the version every form drawn before this
migration did not carry, so those forms are still accepted).

Revision ID: 0016
Revises: 0015
"""

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('valoraciones', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1',
                                      nullable=False))
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1',
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.drop_column('version')
    with op.batch_alter_table('valoraciones', schema=None) as batch_op:
        batch_op.drop_column('version')
