"""Final evaluation of a Ruta (metas reached or not, indicator values, lessons learned,
communication of results) and the link from a Ruta to the closed one it continues.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 22:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('final_evaluations',
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('lecciones', sa.Text(), nullable=False),
    sa.Column('comunicacion_medio', sa.Text(), nullable=False),
    sa.Column('comunicacion_fecha', sa.Date(), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('registered_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('(registered_at IS NULL) = (registered_by_id IS NULL)', name=op.f('ck_final_evaluations_registered_has_author')),
    sa.CheckConstraint('registered_at IS NULL OR length(trim(lecciones)) > 0', name=op.f('ck_final_evaluations_registered_has_lessons')),
    sa.ForeignKeyConstraint(['registered_by_id'], ['users.id'], name=op.f('fk_final_evaluations_registered_by_id_users')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_final_evaluations_ruta_id_rutas')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_final_evaluations_updated_by_id_users')),
    sa.PrimaryKeyConstraint('ruta_id', name=op.f('pk_final_evaluations'))
    )
    op.create_table('final_meta_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('meta_id', sa.Integer(), nullable=False),
    sa.Column('verdict', sa.Enum('alcanzada', 'parcialmente', 'no_alcanzada', name='final_verdict', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('valor_alcanzado', sa.Float(), nullable=True),
    sa.Column('comentario', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['meta_id'], ['pmi_metas.id'], name=op.f('fk_final_meta_results_meta_id_pmi_metas')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_final_meta_results_ruta_id_rutas')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_final_meta_results_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_final_meta_results')),
    sa.UniqueConstraint('meta_id', name=op.f('uq_final_meta_results_meta_id'))
    )
    with op.batch_alter_table('final_meta_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_final_meta_results_ruta_id'), ['ruta_id'], unique=False)

    op.create_table('final_indicator_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('indicador_id', sa.Integer(), nullable=False),
    sa.Column('valor', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['indicador_id'], ['pmi_indicadores.id'], name=op.f('fk_final_indicator_results_indicador_id_pmi_indicadores')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_final_indicator_results_ruta_id_rutas')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_final_indicator_results_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_final_indicator_results')),
    sa.UniqueConstraint('indicador_id', name=op.f('uq_final_indicator_results_indicador_id'))
    )
    with op.batch_alter_table('final_indicator_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_final_indicator_results_ruta_id'), ['ruta_id'], unique=False)

    with op.batch_alter_table('rutas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previous_ruta_id', sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_rutas_previous_ruta_id'), ['previous_ruta_id'])
        batch_op.create_foreign_key(batch_op.f('fk_rutas_previous_ruta_id_rutas'), 'rutas', ['previous_ruta_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('rutas', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_rutas_previous_ruta_id_rutas'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_rutas_previous_ruta_id'), type_='unique')
        batch_op.drop_column('previous_ruta_id')

    with op.batch_alter_table('final_indicator_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_final_indicator_results_ruta_id'))

    op.drop_table('final_indicator_results')
    with op.batch_alter_table('final_meta_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_final_meta_results_ruta_id'))

    op.drop_table('final_meta_results')
    op.drop_table('final_evaluations')
