"""Evidence files: uploaded blobs' metadata, attached to a valoración of the autoevaluación.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 21:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('evidence_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('valoracion_id', sa.Integer(), nullable=True),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=120), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('size > 0', name=op.f('ck_evidence_files_size_positive')),
    sa.CheckConstraint('length(sha256) = 64', name=op.f('ck_evidence_files_sha256_length')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_evidence_files_ruta_id_rutas')),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_evidence_files_school_id_schools')),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_evidence_files_uploaded_by_id_users')),
    sa.ForeignKeyConstraint(['valoracion_id'], ['valoraciones.id'], name=op.f('fk_evidence_files_valoracion_id_valoraciones')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_evidence_files')),
    sa.UniqueConstraint('storage_key', name=op.f('uq_evidence_files_storage_key'))
    )
    with op.batch_alter_table('evidence_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_files_ruta_id'), ['ruta_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_files_school_id'), ['school_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_files_valoracion_id'), ['valoracion_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('evidence_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_files_valoracion_id'))
        batch_op.drop_index(batch_op.f('ix_evidence_files_school_id'))
        batch_op.drop_index(batch_op.f('ix_evidence_files_ruta_id'))
    op.drop_table('evidence_files')
