"""Crosswalks between instrument versions: each componente of a source version mapped to a
componente of a target version, or to none («sin equivalente»).

A Ruta's perfil compares with a previous Ruta on another version only through one of these
(componente codes are not stable across versions). ``secretaria_id`` NULL is a shared
crosswalk (shipped or loaded from the console); a Secretaría's own overrides it for the pair.
The shipped crosswalks are stored by ``ruta init-db`` (``load_shipped_catalogs``), not here.

Revision ID: 0019
Revises: 0018
"""

from alembic import op
import sqlalchemy as sa


revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('crosswalks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('secretaria_id', sa.Integer(), nullable=True),
    sa.Column('source_catalog_id', sa.Integer(), nullable=False),
    sa.Column('target_catalog_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('loaded_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('source_catalog_id <> target_catalog_id', name=op.f('ck_crosswalks_distinct_versions')),
    sa.ForeignKeyConstraint(['loaded_by_id'], ['users.id'], name=op.f('fk_crosswalks_loaded_by_id_users')),
    sa.ForeignKeyConstraint(['secretaria_id'], ['secretarias.id'], name=op.f('fk_crosswalks_secretaria_id_secretarias')),
    sa.ForeignKeyConstraint(['source_catalog_id'], ['catalogs.id'], name=op.f('fk_crosswalks_source_catalog_id_catalogs')),
    sa.ForeignKeyConstraint(['target_catalog_id'], ['catalogs.id'], name=op.f('fk_crosswalks_target_catalog_id_catalogs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crosswalks')),
    sa.UniqueConstraint('secretaria_id', 'source_catalog_id', 'target_catalog_id', name='uq_crosswalks_pair')
    )
    with op.batch_alter_table('crosswalks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crosswalks_secretaria_id'), ['secretaria_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_crosswalks_source_catalog_id'), ['source_catalog_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_crosswalks_target_catalog_id'), ['target_catalog_id'], unique=False)
        batch_op.create_index('uq_crosswalks_shared_pair', ['source_catalog_id', 'target_catalog_id'], unique=True, postgresql_where=sa.text('secretaria_id IS NULL'), sqlite_where=sa.text('secretaria_id IS NULL'))

    op.create_table('crosswalk_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('crosswalk_id', sa.Integer(), nullable=False),
    sa.Column('source_componente_id', sa.Integer(), nullable=False),
    sa.Column('target_componente_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['crosswalk_id'], ['crosswalks.id'], name=op.f('fk_crosswalk_entries_crosswalk_id_crosswalks')),
    sa.ForeignKeyConstraint(['source_componente_id'], ['catalog_componentes.id'], name=op.f('fk_crosswalk_entries_source_componente_id_catalog_componentes')),
    sa.ForeignKeyConstraint(['target_componente_id'], ['catalog_componentes.id'], name=op.f('fk_crosswalk_entries_target_componente_id_catalog_componentes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_crosswalk_entries')),
    sa.UniqueConstraint('crosswalk_id', 'source_componente_id', name='uq_crosswalk_entries_source')
    )
    with op.batch_alter_table('crosswalk_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_crosswalk_entries_crosswalk_id'), ['crosswalk_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('crosswalk_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_crosswalk_entries_crosswalk_id'))
    op.drop_table('crosswalk_entries')
    with op.batch_alter_table('crosswalks', schema=None) as batch_op:
        batch_op.drop_index('uq_crosswalks_shared_pair', postgresql_where=sa.text('secretaria_id IS NULL'), sqlite_where=sa.text('secretaria_id IS NULL'))
        batch_op.drop_index(batch_op.f('ix_crosswalks_target_catalog_id'))
        batch_op.drop_index(batch_op.f('ix_crosswalks_source_catalog_id'))
        batch_op.drop_index(batch_op.f('ix_crosswalks_secretaria_id'))
    op.drop_table('crosswalks')
