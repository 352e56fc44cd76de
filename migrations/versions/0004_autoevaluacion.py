"""Autoevaluación institucional: versioned catalogs, identity review, team, valoraciones.

Catalogs (``catalogs`` and their áreas, procesos and componentes) are versioned data; every
Ruta is pinned to the version it was opened with (``rutas.catalog_id``, NULL for Rutas opened
before any catalog was loaded). ``instrument_settings`` holds a Secretaría's current catalog
and its rules (evidence from level N, fortaleza from level M).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 20:40:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalogs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=60), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('scale', sa.JSON(), nullable=False),
    sa.Column('secretaria_id', sa.Integer(), nullable=True),
    sa.Column('derived_from_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('year BETWEEN 1990 AND 2100', name=op.f('ck_catalogs_year_range')),
    sa.ForeignKeyConstraint(['derived_from_id'], ['catalogs.id'], name=op.f('fk_catalogs_derived_from_id_catalogs')),
    sa.ForeignKeyConstraint(['secretaria_id'], ['secretarias.id'], name=op.f('fk_catalogs_secretaria_id_secretarias')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalogs')),
    sa.UniqueConstraint('slug', name=op.f('uq_catalogs_slug'))
    )
    with op.batch_alter_table('catalogs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalogs_secretaria_id'), ['secretaria_id'], unique=False)

    op.create_table('catalog_areas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('catalog_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['catalog_id'], ['catalogs.id'], name=op.f('fk_catalog_areas_catalog_id_catalogs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_areas')),
    sa.UniqueConstraint('catalog_id', 'code', name=op.f('uq_catalog_areas_catalog_id'))
    )
    with op.batch_alter_table('catalog_areas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_areas_catalog_id'), ['catalog_id'], unique=False)

    op.create_table('instrument_settings',
    sa.Column('secretaria_id', sa.Integer(), nullable=False),
    sa.Column('catalog_id', sa.Integer(), nullable=True),
    sa.Column('evidence_from_level', sa.Integer(), nullable=False),
    sa.Column('fortaleza_from_level', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('evidence_from_level BETWEEN 1 AND 5', name=op.f('ck_instrument_settings_evidence_from_level')),
    sa.CheckConstraint('fortaleza_from_level BETWEEN 2 AND 4', name=op.f('ck_instrument_settings_fortaleza_from_level')),
    sa.ForeignKeyConstraint(['catalog_id'], ['catalogs.id'], name=op.f('fk_instrument_settings_catalog_id_catalogs')),
    sa.ForeignKeyConstraint(['secretaria_id'], ['secretarias.id'], name=op.f('fk_instrument_settings_secretaria_id_secretarias')),
    sa.PrimaryKeyConstraint('secretaria_id', name=op.f('pk_instrument_settings'))
    )
    op.create_table('catalog_procesos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['area_id'], ['catalog_areas.id'], name=op.f('fk_catalog_procesos_area_id_catalog_areas')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_procesos')),
    sa.UniqueConstraint('area_id', 'code', name=op.f('uq_catalog_procesos_area_id'))
    )
    with op.batch_alter_table('catalog_procesos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_procesos_area_id'), ['area_id'], unique=False)

    op.create_table('catalog_componentes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proceso_id', sa.Integer(), nullable=False),
    sa.Column('catalog_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=60), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['catalog_id'], ['catalogs.id'], name=op.f('fk_catalog_componentes_catalog_id_catalogs')),
    sa.ForeignKeyConstraint(['proceso_id'], ['catalog_procesos.id'], name=op.f('fk_catalog_componentes_proceso_id_catalog_procesos')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_catalog_componentes')),
    sa.UniqueConstraint('catalog_id', 'code', name=op.f('uq_catalog_componentes_catalog_id'))
    )
    with op.batch_alter_table('catalog_componentes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_componentes_catalog_id'), ['catalog_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_componentes_proceso_id'), ['proceso_id'], unique=False)

    op.create_table('identity_reviews',
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('mision', sa.Text(), nullable=False),
    sa.Column('vision', sa.Text(), nullable=False),
    sa.Column('principios', sa.Text(), nullable=False),
    sa.Column('pei_reference', sa.String(length=500), nullable=False),
    sa.Column('mision_vigencia', sa.Enum('vigente', 'ajustar', name='mision_vigencia', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('vision_vigencia', sa.Enum('vigente', 'ajustar', name='vision_vigencia', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('principios_vigencia', sa.Enum('vigente', 'ajustar', name='principios_vigencia', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_identity_reviews_ruta_id_rutas')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_identity_reviews_updated_by_id_users')),
    sa.PrimaryKeyConstraint('ruta_id', name=op.f('pk_identity_reviews'))
    )
    op.create_table('team_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('estamento', sa.Enum('directivo', 'docente', 'padre_madre', 'estudiante', 'egresado', 'administrativo', 'sector_productivo', name='estamento', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('email = lower(email)', name=op.f('ck_team_members_email_lowercase')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_team_members_ruta_id_rutas')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_team_members_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_team_members')),
    sa.UniqueConstraint('ruta_id', 'email', name=op.f('uq_team_members_ruta_id'))
    )
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_team_members_ruta_id'), ['ruta_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_team_members_user_id'), ['user_id'], unique=False)

    op.create_table('priorizaciones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('componente_id', sa.Integer(), nullable=False),
    sa.Column('urgencia', sa.Integer(), nullable=False),
    sa.Column('tendencia', sa.Integer(), nullable=False),
    sa.Column('impacto', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('impacto BETWEEN 1 AND 5', name=op.f('ck_priorizaciones_impacto_range')),
    sa.CheckConstraint('tendencia BETWEEN 1 AND 5', name=op.f('ck_priorizaciones_tendencia_range')),
    sa.CheckConstraint('urgencia BETWEEN 1 AND 5', name=op.f('ck_priorizaciones_urgencia_range')),
    sa.ForeignKeyConstraint(['componente_id'], ['catalog_componentes.id'], name=op.f('fk_priorizaciones_componente_id_catalog_componentes')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_priorizaciones_ruta_id_rutas')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_priorizaciones_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_priorizaciones')),
    sa.UniqueConstraint('ruta_id', 'componente_id', name=op.f('uq_priorizaciones_ruta_id'))
    )
    with op.batch_alter_table('priorizaciones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_priorizaciones_ruta_id'), ['ruta_id'], unique=False)

    op.create_table('team_member_areas',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['area_id'], ['catalog_areas.id'], name=op.f('fk_team_member_areas_area_id_catalog_areas')),
    sa.ForeignKeyConstraint(['member_id'], ['team_members.id'], name=op.f('fk_team_member_areas_member_id_team_members')),
    sa.PrimaryKeyConstraint('member_id', 'area_id', name=op.f('pk_team_member_areas'))
    )
    op.create_table('valoraciones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('componente_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=True),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('comments', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('level IS NULL OR level BETWEEN 1 AND 4', name=op.f('ck_valoraciones_level_range')),
    sa.ForeignKeyConstraint(['componente_id'], ['catalog_componentes.id'], name=op.f('fk_valoraciones_componente_id_catalog_componentes')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_valoraciones_ruta_id_rutas')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_valoraciones_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_valoraciones')),
    sa.UniqueConstraint('ruta_id', 'componente_id', name=op.f('uq_valoraciones_ruta_id'))
    )
    with op.batch_alter_table('valoraciones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_valoraciones_ruta_id'), ['ruta_id'], unique=False)

    with op.batch_alter_table('rutas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('catalog_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_rutas_catalog_id'), ['catalog_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_rutas_catalog_id_catalogs'), 'catalogs', ['catalog_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('rutas', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_rutas_catalog_id_catalogs'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_rutas_catalog_id'))
        batch_op.drop_column('catalog_id')

    with op.batch_alter_table('valoraciones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_valoraciones_ruta_id'))

    op.drop_table('valoraciones')
    op.drop_table('team_member_areas')
    with op.batch_alter_table('priorizaciones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_priorizaciones_ruta_id'))

    op.drop_table('priorizaciones')
    with op.batch_alter_table('team_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_team_members_user_id'))
        batch_op.drop_index(batch_op.f('ix_team_members_ruta_id'))

    op.drop_table('team_members')
    op.drop_table('identity_reviews')
    with op.batch_alter_table('catalog_componentes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_componentes_proceso_id'))
        batch_op.drop_index(batch_op.f('ix_catalog_componentes_catalog_id'))

    op.drop_table('catalog_componentes')
    with op.batch_alter_table('catalog_procesos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_procesos_area_id'))

    op.drop_table('catalog_procesos')
    op.drop_table('instrument_settings')
    with op.batch_alter_table('catalog_areas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_areas_catalog_id'))

    op.drop_table('catalog_areas')
    with op.batch_alter_table('catalogs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalogs_secretaria_id'))

    op.drop_table('catalogs')
