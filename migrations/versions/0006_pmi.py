"""The PMI: hallazgos, objetivos, metas, indicadores, actividades; versions and observations.

Snapshots of a submitted PMI are immutable: triggers refuse UPDATE and DELETE on every backend.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 20:27:16.232328
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('pmi_hallazgos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('fuente', sa.Enum('saber_3', 'saber_5', 'saber_9', 'saber_11', 'interna', name='hallazgo_fuente', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('area', sa.String(length=300), nullable=False),
    sa.Column('grado', sa.String(length=80), nullable=False),
    sa.Column('descripcion', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_pmi_hallazgos_ruta_id_rutas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pmi_hallazgos'))
    )
    with op.batch_alter_table('pmi_hallazgos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pmi_hallazgos_ruta_id'), ['ruta_id'], unique=False)

    op.create_table('pmi_objetivos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('enunciado', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_pmi_objetivos_ruta_id_rutas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pmi_objetivos'))
    )
    with op.batch_alter_table('pmi_objetivos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pmi_objetivos_ruta_id'), ['ruta_id'], unique=False)

    op.create_table('pmi_plans',
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('presupuesto', sa.BigInteger(), nullable=True),
    sa.Column('divulgacion', sa.Text(), nullable=False),
    sa.Column('divulgacion_fecha', sa.Date(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('presupuesto IS NULL OR presupuesto >= 0', name=op.f('ck_pmi_plans_presupuesto_positive')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_pmi_plans_ruta_id_rutas')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_pmi_plans_updated_by_id_users')),
    sa.PrimaryKeyConstraint('ruta_id', name=op.f('pk_pmi_plans'))
    )
    op.create_table('pmi_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_pmi_snapshots_created_by_id_users')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_pmi_snapshots_ruta_id_rutas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pmi_snapshots')),
    sa.UniqueConstraint('ruta_id', 'number', name='uq_pmi_snapshots_number')
    )
    with op.batch_alter_table('pmi_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pmi_snapshots_ruta_id'), ['ruta_id'], unique=False)

    op.create_table('pmi_aplazamientos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('componente_id', sa.Integer(), nullable=False),
    sa.Column('razon', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['componente_id'], ['catalog_componentes.id'], name=op.f('fk_pmi_aplazamientos_componente_id_catalog_componentes')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_pmi_aplazamientos_ruta_id_rutas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pmi_aplazamientos')),
    sa.UniqueConstraint('ruta_id', 'componente_id', name=op.f('uq_pmi_aplazamientos_ruta_id'))
    )
    with op.batch_alter_table('pmi_aplazamientos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pmi_aplazamientos_ruta_id'), ['ruta_id'], unique=False)

    op.create_table('pmi_metas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('objetivo_id', sa.Integer(), nullable=False),
    sa.Column('enunciado', sa.Text(), nullable=False),
    sa.Column('cantidad', sa.Float(), nullable=True),
    sa.Column('unidad', sa.String(length=120), nullable=False),
    sa.Column('fecha_limite', sa.Date(), nullable=True),
    sa.Column('linea_base', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('cantidad IS NULL OR cantidad >= 0', name=op.f('ck_pmi_metas_cantidad_positive')),
    sa.ForeignKeyConstraint(['objetivo_id'], ['pmi_objetivos.id'], name=op.f('fk_pmi_metas_objetivo_id_pmi_objetivos')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_pmi_metas_ruta_id_rutas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pmi_metas'))
    )
    with op.batch_alter_table('pmi_metas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pmi_metas_objetivo_id'), ['objetivo_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pmi_metas_ruta_id'), ['ruta_id'], unique=False)

    op.create_table('pmi_objetivo_componentes',
    sa.Column('objetivo_id', sa.Integer(), nullable=False),
    sa.Column('componente_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['componente_id'], ['catalog_componentes.id'], name=op.f('fk_pmi_objetivo_componentes_componente_id_catalog_componentes')),
    sa.ForeignKeyConstraint(['objetivo_id'], ['pmi_objetivos.id'], name=op.f('fk_pmi_objetivo_componentes_objetivo_id_pmi_objetivos')),
    sa.PrimaryKeyConstraint('objetivo_id', 'componente_id', name=op.f('pk_pmi_objetivo_componentes'))
    )
    op.create_table('pmi_objetivo_hallazgos',
    sa.Column('objetivo_id', sa.Integer(), nullable=False),
    sa.Column('hallazgo_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['hallazgo_id'], ['pmi_hallazgos.id'], name=op.f('fk_pmi_objetivo_hallazgos_hallazgo_id_pmi_hallazgos')),
    sa.ForeignKeyConstraint(['objetivo_id'], ['pmi_objetivos.id'], name=op.f('fk_pmi_objetivo_hallazgos_objetivo_id_pmi_objetivos')),
    sa.PrimaryKeyConstraint('objetivo_id', 'hallazgo_id', name=op.f('pk_pmi_objetivo_hallazgos'))
    )
    op.create_table('pmi_observations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('snapshot_id', sa.Integer(), nullable=True),
    sa.Column('element', sa.String(length=40), nullable=False),
    sa.Column('element_label', sa.String(length=120), nullable=False),
    sa.Column('criterion', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('borrador', 'enviada', 'respondida', 'resuelta', 'abierta', name='observation_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('responded_by_id', sa.Integer(), nullable=True),
    sa.Column('judged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('judged_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status <> 'respondida' OR response IS NOT NULL", name=op.f('ck_pmi_observations_answered_has_response')),
    sa.CheckConstraint("status = 'borrador' OR returned_at IS NOT NULL", name=op.f('ck_pmi_observations_sent_has_time')),
    sa.CheckConstraint('criterion BETWEEN 0 AND 8', name=op.f('ck_pmi_observations_criterion_range')),
    sa.CheckConstraint('length(trim(text)) > 0', name=op.f('ck_pmi_observations_text_present')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_pmi_observations_author_id_users')),
    sa.ForeignKeyConstraint(['judged_by_id'], ['users.id'], name=op.f('fk_pmi_observations_judged_by_id_users')),
    sa.ForeignKeyConstraint(['responded_by_id'], ['users.id'], name=op.f('fk_pmi_observations_responded_by_id_users')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_pmi_observations_ruta_id_rutas')),
    sa.ForeignKeyConstraint(['snapshot_id'], ['pmi_snapshots.id'], name=op.f('fk_pmi_observations_snapshot_id_pmi_snapshots')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pmi_observations'))
    )
    with op.batch_alter_table('pmi_observations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pmi_observations_ruta_id'), ['ruta_id'], unique=False)

    op.create_table('pmi_actividades',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('meta_id', sa.Integer(), nullable=False),
    sa.Column('descripcion', sa.Text(), nullable=False),
    sa.Column('responsable', sa.String(length=300), nullable=False),
    sa.Column('fecha_inicio', sa.Date(), nullable=True),
    sa.Column('fecha_fin', sa.Date(), nullable=True),
    sa.Column('recursos', sa.Text(), nullable=False),
    sa.Column('costo', sa.BigInteger(), nullable=True),
    sa.Column('fuente_financiacion', sa.String(length=300), nullable=False),
    sa.Column('trayectorias', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('costo IS NULL OR costo >= 0', name=op.f('ck_pmi_actividades_costo_positive')),
    sa.CheckConstraint('fecha_inicio IS NULL OR fecha_fin IS NULL OR fecha_inicio <= fecha_fin', name=op.f('ck_pmi_actividades_date_order')),
    sa.ForeignKeyConstraint(['meta_id'], ['pmi_metas.id'], name=op.f('fk_pmi_actividades_meta_id_pmi_metas')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_pmi_actividades_ruta_id_rutas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pmi_actividades'))
    )
    with op.batch_alter_table('pmi_actividades', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pmi_actividades_meta_id'), ['meta_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pmi_actividades_ruta_id'), ['ruta_id'], unique=False)

    op.create_table('pmi_indicadores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('meta_id', sa.Integer(), nullable=False),
    sa.Column('nombre', sa.String(length=300), nullable=False),
    sa.Column('formula', sa.Text(), nullable=False),
    sa.Column('unidad', sa.String(length=120), nullable=False),
    sa.Column('frecuencia', sa.String(length=120), nullable=False),
    sa.Column('fuente', sa.String(length=300), nullable=False),
    sa.Column('linea_base', sa.Float(), nullable=True),
    sa.Column('metas_anuales', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['meta_id'], ['pmi_metas.id'], name=op.f('fk_pmi_indicadores_meta_id_pmi_metas')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_pmi_indicadores_ruta_id_rutas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pmi_indicadores'))
    )
    with op.batch_alter_table('pmi_indicadores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pmi_indicadores_meta_id'), ['meta_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pmi_indicadores_ruta_id'), ['ruta_id'], unique=False)

    _make_snapshots_immutable()


IMMUTABLE_MESSAGE = "pmi_snapshots are immutable"


def _make_snapshots_immutable() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION pmi_snapshots_immutable() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{IMMUTABLE_MESSAGE}';
            END;
            $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER pmi_snapshots_no_update_or_delete
            BEFORE UPDATE OR DELETE ON pmi_snapshots
            FOR EACH ROW EXECUTE FUNCTION pmi_snapshots_immutable()
        """)
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(f"""
            CREATE TRIGGER pmi_snapshots_no_{event.lower()}
            BEFORE {event} ON pmi_snapshots
            BEGIN SELECT RAISE(ABORT, '{IMMUTABLE_MESSAGE}'); END
        """)


def _drop_immutable() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER pmi_snapshots_no_update_or_delete ON pmi_snapshots")
        op.execute("DROP FUNCTION pmi_snapshots_immutable()")
        return
    for event in ("update", "delete"):
        op.execute(f"DROP TRIGGER pmi_snapshots_no_{event}")


def downgrade() -> None:
    _drop_immutable()
    with op.batch_alter_table('pmi_indicadores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pmi_indicadores_ruta_id'))
        batch_op.drop_index(batch_op.f('ix_pmi_indicadores_meta_id'))

    op.drop_table('pmi_indicadores')
    with op.batch_alter_table('pmi_actividades', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pmi_actividades_ruta_id'))
        batch_op.drop_index(batch_op.f('ix_pmi_actividades_meta_id'))

    op.drop_table('pmi_actividades')
    with op.batch_alter_table('pmi_observations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pmi_observations_ruta_id'))

    op.drop_table('pmi_observations')
    op.drop_table('pmi_objetivo_hallazgos')
    op.drop_table('pmi_objetivo_componentes')
    with op.batch_alter_table('pmi_metas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pmi_metas_ruta_id'))
        batch_op.drop_index(batch_op.f('ix_pmi_metas_objetivo_id'))

    op.drop_table('pmi_metas')
    with op.batch_alter_table('pmi_aplazamientos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pmi_aplazamientos_ruta_id'))

    op.drop_table('pmi_aplazamientos')
    with op.batch_alter_table('pmi_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pmi_snapshots_ruta_id'))

    op.drop_table('pmi_snapshots')
    op.drop_table('pmi_plans')
    with op.batch_alter_table('pmi_objetivos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pmi_objetivos_ruta_id'))

    op.drop_table('pmi_objetivos')
    with op.batch_alter_table('pmi_hallazgos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pmi_hallazgos_ruta_id'))

    op.drop_table('pmi_hallazgos')
