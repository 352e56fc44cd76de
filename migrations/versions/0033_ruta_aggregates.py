"""The consolidado's per-Ruta aggregates (workflow.consolidado.aggregates): what /reportes/
reads of each school instead of recomputing the whole Secretaría on every view. Created
empty: run ``ruta consolidado actualizar`` once after upgrading (the scheduler's daily job
also fills it; /reportes/ computes up to 500 missing rows itself and says when more are
missing).

Revision ID: 0033
Revises: 0032
"""

import sqlalchemy as sa
from alembic import op


revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ruta_aggregates',
        sa.Column('ruta_id', sa.Integer(), nullable=False),
        sa.Column('secretaria_id', sa.Integer(), nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('horizon_start_year', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=32), nullable=False),
        sa.Column('state_changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('catalog_id', sa.Integer(), nullable=True),
        sa.Column('last_activity_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('owes', sa.String(length=200), nullable=False),
        sa.Column('seguimiento', sa.String(length=200), nullable=False),
        sa.Column('progress_percent', sa.Float(), nullable=True),
        sa.Column('last_reminder_id', sa.Integer(), nullable=True),
        sa.Column('last_reminder_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'],
                                name=op.f('fk_ruta_aggregates_ruta_id_rutas')),
        sa.ForeignKeyConstraint(['secretaria_id'], ['secretarias.id'],
                                name=op.f('fk_ruta_aggregates_secretaria_id_secretarias')),
        sa.ForeignKeyConstraint(['school_id'], ['schools.id'],
                                name=op.f('fk_ruta_aggregates_school_id_schools')),
        sa.PrimaryKeyConstraint('ruta_id', name=op.f('pk_ruta_aggregates')),
    )
    op.create_index('ix_ruta_aggregates_scope', 'ruta_aggregates',
                    ['secretaria_id', 'horizon_start_year', 'state'])
    op.create_index(op.f('ix_ruta_aggregates_school_id'), 'ruta_aggregates', ['school_id'])


def downgrade() -> None:
    op.drop_index(op.f('ix_ruta_aggregates_school_id'), table_name='ruta_aggregates')
    op.drop_index('ix_ruta_aggregates_scope', table_name='ruta_aggregates')
    op.drop_table('ruta_aggregates')
