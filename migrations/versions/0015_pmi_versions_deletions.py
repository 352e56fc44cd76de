"""PMI elements never lose work: a version per element and per plan, and deletions kept for
«Deshacer».

- ``version`` on ``pmi_plans``, ``pmi_hallazgos``, ``pmi_objetivos``, ``pmi_metas``,
  ``pmi_indicadores``, ``pmi_actividades`` and ``pmi_aplazamientos``: 1 for every existing
  row (each is in its first known version; forms drawn before this have no version and are
  accepted);
- ``pmi_deletions``: new and empty (what a deletion took with it, to undo it).

Revision ID: 0015
Revises: 0014
"""

from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

VERSIONED = ('pmi_plans', 'pmi_hallazgos', 'pmi_objetivos', 'pmi_metas', 'pmi_indicadores',
             'pmi_actividades', 'pmi_aplazamientos')


def upgrade() -> None:
    for table in VERSIONED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('version', sa.Integer(), server_default=sa.text('1'),
                                          nullable=False))

    op.create_table('pmi_deletions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('element_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=300), nullable=False),
    sa.Column('summary', sa.Text(), server_default='', nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('deleted_by_id', sa.Integer(), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('restored_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('restored_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['deleted_by_id'], ['users.id'], name=op.f('fk_pmi_deletions_deleted_by_id_users')),
    sa.ForeignKeyConstraint(['restored_by_id'], ['users.id'], name=op.f('fk_pmi_deletions_restored_by_id_users')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_pmi_deletions_ruta_id_rutas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pmi_deletions'))
    )
    with op.batch_alter_table('pmi_deletions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pmi_deletions_ruta_id'), ['ruta_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('pmi_deletions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pmi_deletions_ruta_id'))
    op.drop_table('pmi_deletions')
    for table in reversed(VERSIONED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('version')
