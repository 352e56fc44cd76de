"""PMI coherence: meta types, result and process indicators, hallazgo data, extensible sources.

- ``pmi_metas.tipo``: every existing meta becomes «alcanzar un valor» (its cantidad was always
  the final value, which is what the checks compared the indicator's last target with);
- ``pmi_indicadores.tipo`` and ``binario``: the first indicator of each meta (lowest id)
  becomes its result indicator, any other one a process indicator (before, every indicator
  had to end at the meta; now exactly one does); none is binary;
- ``pmi_hallazgos``: ``fuente`` becomes a plain code (the shipped codes keep their values:
  saber_x stays saber_x), so a Secretaría's own sources (``pmi_fuentes``) fit; the data
  (año, valor and unidad, comparación) and the componentes a hallazgo points to are new and
  stay empty on existing rows (the checks ask for them only on plans being formulated);
- ``pmi_objetivos.razon_fortaleza``: empty.

Revision ID: 0012
Revises: 0011
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pmi_fuentes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('secretaria_id', sa.Integer(), nullable=False),
    sa.Column('nombre', sa.String(length=120), nullable=False),
    sa.Column('externa', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_pmi_fuentes_created_by_id_users')),
    sa.ForeignKeyConstraint(['secretaria_id'], ['secretarias.id'], name=op.f('fk_pmi_fuentes_secretaria_id_secretarias')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pmi_fuentes')),
    sa.UniqueConstraint('secretaria_id', 'nombre', name='uq_pmi_fuentes_nombre')
    )
    with op.batch_alter_table('pmi_fuentes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pmi_fuentes_secretaria_id'), ['secretaria_id'], unique=False)

    op.create_table('pmi_hallazgo_componentes',
    sa.Column('hallazgo_id', sa.Integer(), nullable=False),
    sa.Column('componente_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['componente_id'], ['catalog_componentes.id'], name=op.f('fk_pmi_hallazgo_componentes_componente_id_catalog_componentes')),
    sa.ForeignKeyConstraint(['hallazgo_id'], ['pmi_hallazgos.id'], name=op.f('fk_pmi_hallazgo_componentes_hallazgo_id_pmi_hallazgos')),
    sa.PrimaryKeyConstraint('hallazgo_id', 'componente_id', name=op.f('pk_pmi_hallazgo_componentes'))
    )

    with op.batch_alter_table('pmi_hallazgos', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_pmi_hallazgos_hallazgo_fuente'), type_='check')
        batch_op.alter_column('fuente', existing_type=sa.String(length=32),
                              type_=sa.String(length=40), existing_nullable=False)
        batch_op.add_column(sa.Column('fuente_nombre', sa.String(length=300), server_default='', nullable=False))
        batch_op.add_column(sa.Column('anio', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('valor', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('valor_unidad', sa.Enum('porcentaje', 'puntaje_500', 'puntaje_100', 'nivel', name='hallazgo_valor_unidad', native_enum=False, create_constraint=True, length=32), nullable=True))
        batch_op.add_column(sa.Column('comparacion', sa.Enum('municipal', 'nacional', 'etc', 'anio_anterior', name='hallazgo_comparacion', native_enum=False, create_constraint=True, length=32), nullable=True))
        batch_op.add_column(sa.Column('comparacion_valor', sa.Float(), nullable=True))
        batch_op.create_check_constraint(batch_op.f('ck_pmi_hallazgos_valor_with_unit'), '(valor IS NULL) = (valor_unidad IS NULL)')
        batch_op.create_check_constraint(batch_op.f('ck_pmi_hallazgos_comparison_with_value'), '(comparacion IS NULL) = (comparacion_valor IS NULL)')

    with op.batch_alter_table('pmi_objetivos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('razon_fortaleza', sa.Text(), server_default='', nullable=False))

    with op.batch_alter_table('pmi_metas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tipo', sa.Enum('alcanzar', 'aumentar_en', 'reducir_en', 'reducir_a', 'mantener', name='meta_tipo', native_enum=False, create_constraint=True, length=32), server_default='alcanzar', nullable=False))

    with op.batch_alter_table('pmi_indicadores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tipo', sa.Enum('resultado', 'proceso', name='indicador_tipo', native_enum=False, create_constraint=True, length=32), server_default='resultado', nullable=False))
        batch_op.add_column(sa.Column('binario', sa.Boolean(), server_default=sa.text('false'), nullable=False))

    # One result indicator per meta: the first one; the others become process indicators.
    op.execute("UPDATE pmi_indicadores SET tipo = 'proceso' WHERE id > (SELECT MIN(other.id) "
               "FROM pmi_indicadores AS other WHERE other.meta_id = pmi_indicadores.meta_id)")


def downgrade() -> None:
    with op.batch_alter_table('pmi_indicadores', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_pmi_indicadores_indicador_tipo'), type_='check')
        batch_op.drop_column('binario')
        batch_op.drop_column('tipo')
    with op.batch_alter_table('pmi_metas', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_pmi_metas_meta_tipo'), type_='check')
        batch_op.drop_column('tipo')
    with op.batch_alter_table('pmi_objetivos', schema=None) as batch_op:
        batch_op.drop_column('razon_fortaleza')
    # Hallazgos from sources the old list lacks become internal evaluations.
    op.execute("UPDATE pmi_hallazgos SET fuente = 'interna' WHERE fuente NOT IN "
               "('saber_3', 'saber_5', 'saber_9', 'saber_11', 'interna')")
    with op.batch_alter_table('pmi_hallazgos', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_pmi_hallazgos_comparison_with_value'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_pmi_hallazgos_valor_with_unit'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_pmi_hallazgos_hallazgo_comparacion'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_pmi_hallazgos_hallazgo_valor_unidad'), type_='check')
        batch_op.drop_column('comparacion_valor')
        batch_op.drop_column('comparacion')
        batch_op.drop_column('valor_unidad')
        batch_op.drop_column('valor')
        batch_op.drop_column('anio')
        batch_op.drop_column('fuente_nombre')
        batch_op.alter_column('fuente', existing_type=sa.String(length=40),
                              type_=sa.Enum('saber_3', 'saber_5', 'saber_9', 'saber_11', 'interna', name='hallazgo_fuente', native_enum=False, create_constraint=True, length=32),
                              existing_nullable=False)
    op.drop_table('pmi_hallazgo_componentes')
    with op.batch_alter_table('pmi_fuentes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pmi_fuentes_secretaria_id'))
    op.drop_table('pmi_fuentes')
