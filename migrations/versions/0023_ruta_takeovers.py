"""A revisor takes another's review over, with a reason: the log of take-overs (issue 14).

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ruta_takeovers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ruta_id', sa.Integer(), nullable=False),
        sa.Column('from_user_id', sa.Integer(), nullable=False),
        sa.Column('to_user_id', sa.Integer(), nullable=False),
        sa.Column('ruta_version', sa.Integer(), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['from_user_id'], ['users.id'], name=op.f('fk_ruta_takeovers_from_user_id_users')),
        sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_ruta_takeovers_ruta_id_rutas')),
        sa.ForeignKeyConstraint(['to_user_id'], ['users.id'], name=op.f('fk_ruta_takeovers_to_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ruta_takeovers')),
    )
    with op.batch_alter_table('ruta_takeovers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ruta_takeovers_ruta_id'), ['ruta_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ruta_takeovers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ruta_takeovers_ruta_id'))
    op.drop_table('ruta_takeovers')
