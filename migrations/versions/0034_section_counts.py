"""The consolidado's plan sections and municipal perfil kept per Ruta
(``ruta_section_counts``) and summed per comuna (``section_sums``), so /reportes/ never reads
the valoraciones or the plans (workflow.consolidado.section_counts). Created empty, with every
aggregate marked as lacking its section counts (``sections_version`` 0): run ``ruta consolidado
actualizar`` once after upgrading (the scheduler's daily job also fills them; /reportes/
computes up to 500 missing Rutas itself and says when more are missing).

Revision ID: 0034
Revises: 0033
"""

import sqlalchemy as sa
from alembic import op

revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ruta_aggregates') as batch:
        batch.add_column(sa.Column('sections_version', sa.Integer(), nullable=False,
                                   server_default='0'))
    op.create_table(
        'ruta_section_counts',
        sa.Column('ruta_id', sa.Integer(), nullable=False),
        sa.Column('section', sa.String(length=24), nullable=False),
        sa.Column('key', sa.String(length=1000), nullable=False),
        sa.Column('secretaria_id', sa.Integer(), nullable=False),
        sa.Column('horizon_start_year', sa.Integer(), nullable=False),
        sa.Column('zona', sa.String(length=20), nullable=False),
        sa.Column('comuna', sa.String(length=120), nullable=False),
        sa.Column('a', sa.Integer(), nullable=False),
        sa.Column('b', sa.Integer(), nullable=False),
        sa.Column('c', sa.Integer(), nullable=False),
        sa.Column('d', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('label', sa.Text(), nullable=False),
        sa.Column('part', sa.String(length=1000), nullable=False),
        sa.Column('sort_name', sa.String(length=300).with_variant(
            sa.String(length=300, collation='C'), 'postgresql'), nullable=False),
        sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'],
                                name=op.f('fk_ruta_section_counts_ruta_id_rutas')),
        sa.PrimaryKeyConstraint('ruta_id', 'section', 'key', name=op.f('pk_ruta_section_counts')),
    )
    op.create_index('ix_ruta_section_counts_samples', 'ruta_section_counts',
                    ['secretaria_id', 'horizon_start_year', 'section', 'part', 'sort_name',
                     'ruta_id', 'position'])
    op.create_table(
        'section_sums',
        sa.Column('secretaria_id', sa.Integer(), nullable=False),
        sa.Column('horizon_start_year', sa.Integer(), nullable=False),
        sa.Column('zona', sa.String(length=20), nullable=False),
        sa.Column('comuna', sa.String(length=120), nullable=False),
        sa.Column('section', sa.String(length=24), nullable=False),
        sa.Column('key', sa.String(length=1000), nullable=False),
        sa.Column('rutas', sa.Integer(), nullable=False),
        sa.Column('a', sa.Integer(), nullable=False),
        sa.Column('b', sa.Integer(), nullable=False),
        sa.Column('c', sa.Integer(), nullable=False),
        sa.Column('d', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('label', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['secretaria_id'], ['secretarias.id'],
                                name=op.f('fk_section_sums_secretaria_id_secretarias')),
        sa.PrimaryKeyConstraint('secretaria_id', 'horizon_start_year', 'zona', 'comuna',
                                'section', 'key', name=op.f('pk_section_sums')),
    )


def downgrade() -> None:
    op.drop_table('section_sums')
    op.drop_index('ix_ruta_section_counts_samples', table_name='ruta_section_counts')
    op.drop_table('ruta_section_counts')
    with op.batch_alter_table('ruta_aggregates') as batch:
        batch.drop_column('sections_version')
