"""Seguimiento periódico: a report per Ruta and checkpoint, its lines per actividad, the
indicator values, the revisor's itemized observations, and evidence files attached to it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 22:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('follow_up_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ruta_id', sa.Integer(), nullable=False),
    sa.Column('checkpoint_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('borrador', 'enviado', 'reconocido', 'devuelto', name='follow_up_report_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('dificultades', sa.Text(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('last_submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submissions', sa.Integer(), nullable=False),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('acknowledgement', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status = 'borrador' OR submitted_at IS NOT NULL", name=op.f('ck_follow_up_reports_sent_has_time')),
    sa.CheckConstraint('submissions >= 0', name=op.f('ck_follow_up_reports_submissions_not_negative')),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name=op.f('fk_follow_up_reports_acknowledged_by_id_users')),
    sa.ForeignKeyConstraint(['checkpoint_id'], ['follow_up_checkpoints.id'], name=op.f('fk_follow_up_reports_checkpoint_id_follow_up_checkpoints')),
    sa.ForeignKeyConstraint(['ruta_id'], ['rutas.id'], name=op.f('fk_follow_up_reports_ruta_id_rutas')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['users.id'], name=op.f('fk_follow_up_reports_submitted_by_id_users')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_follow_up_reports_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_reports')),
    sa.UniqueConstraint('ruta_id', 'checkpoint_id', name='uq_follow_up_reports_ruta_checkpoint')
    )
    with op.batch_alter_table('follow_up_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_reports_checkpoint_id'), ['checkpoint_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_reports_ruta_id'), ['ruta_id'], unique=False)

    op.create_table('follow_up_observations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('element', sa.String(length=40), nullable=False),
    sa.Column('element_label', sa.String(length=120), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('borrador', 'enviada', 'respondida', 'resuelta', 'abierta', name='follow_up_observation_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('response', sa.Text(), nullable=True),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('responded_by_id', sa.Integer(), nullable=True),
    sa.Column('judged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('judged_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status <> 'respondida' OR response IS NOT NULL", name=op.f('ck_follow_up_observations_answered_has_response')),
    sa.CheckConstraint("status = 'borrador' OR returned_at IS NOT NULL", name=op.f('ck_follow_up_observations_sent_has_time')),
    sa.CheckConstraint('length(trim(text)) > 0', name=op.f('ck_follow_up_observations_text_present')),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_follow_up_observations_author_id_users')),
    sa.ForeignKeyConstraint(['judged_by_id'], ['users.id'], name=op.f('fk_follow_up_observations_judged_by_id_users')),
    sa.ForeignKeyConstraint(['report_id'], ['follow_up_reports.id'], name=op.f('fk_follow_up_observations_report_id_follow_up_reports')),
    sa.ForeignKeyConstraint(['responded_by_id'], ['users.id'], name=op.f('fk_follow_up_observations_responded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_observations'))
    )
    with op.batch_alter_table('follow_up_observations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_observations_report_id'), ['report_id'], unique=False)

    op.create_table('follow_up_indicator_values',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('indicador_id', sa.Integer(), nullable=False),
    sa.Column('valor', sa.Float(), nullable=True),
    sa.Column('comentario', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['indicador_id'], ['pmi_indicadores.id'], name=op.f('fk_follow_up_indicator_values_indicador_id_pmi_indicadores')),
    sa.ForeignKeyConstraint(['report_id'], ['follow_up_reports.id'], name=op.f('fk_follow_up_indicator_values_report_id_follow_up_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_indicator_values')),
    sa.UniqueConstraint('report_id', 'indicador_id', name='uq_follow_up_indicator_values_report_indicador')
    )
    with op.batch_alter_table('follow_up_indicator_values', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_indicator_values_indicador_id'), ['indicador_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_indicator_values_report_id'), ['report_id'], unique=False)

    op.create_table('follow_up_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('actividad_id', sa.Integer(), nullable=False),
    sa.Column('avance', sa.Float(), nullable=False),
    sa.Column('status', sa.Enum('no_iniciada', 'en_curso', 'cumplida', 'cancelada', name='follow_up_line_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('dificultades', sa.Text(), nullable=False),
    sa.Column('recursos', sa.Text(), nullable=False),
    sa.Column('costo', sa.BigInteger(), nullable=True),
    sa.Column('razones', sa.Text(), nullable=False),
    sa.CheckConstraint('avance >= 0 AND avance <= 100', name=op.f('ck_follow_up_lines_avance_range')),
    sa.CheckConstraint('costo IS NULL OR costo >= 0', name=op.f('ck_follow_up_lines_costo_positive')),
    sa.ForeignKeyConstraint(['actividad_id'], ['pmi_actividades.id'], name=op.f('fk_follow_up_lines_actividad_id_pmi_actividades')),
    sa.ForeignKeyConstraint(['report_id'], ['follow_up_reports.id'], name=op.f('fk_follow_up_lines_report_id_follow_up_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_lines')),
    sa.UniqueConstraint('report_id', 'actividad_id', name='uq_follow_up_lines_report_actividad')
    )
    with op.batch_alter_table('follow_up_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_lines_actividad_id'), ['actividad_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_follow_up_lines_report_id'), ['report_id'], unique=False)

    with op.batch_alter_table('evidence_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('follow_up_report_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_evidence_files_follow_up_report_id'), ['follow_up_report_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_evidence_files_follow_up_report_id_follow_up_reports'), 'follow_up_reports', ['follow_up_report_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('evidence_files', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_evidence_files_follow_up_report_id_follow_up_reports'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_evidence_files_follow_up_report_id'))
        batch_op.drop_column('follow_up_report_id')

    with op.batch_alter_table('follow_up_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follow_up_lines_report_id'))
        batch_op.drop_index(batch_op.f('ix_follow_up_lines_actividad_id'))

    op.drop_table('follow_up_lines')
    with op.batch_alter_table('follow_up_indicator_values', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follow_up_indicator_values_report_id'))
        batch_op.drop_index(batch_op.f('ix_follow_up_indicator_values_indicador_id'))

    op.drop_table('follow_up_indicator_values')
    with op.batch_alter_table('follow_up_observations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follow_up_observations_report_id'))

    op.drop_table('follow_up_observations')
    with op.batch_alter_table('follow_up_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_follow_up_reports_ruta_id'))
        batch_op.drop_index(batch_op.f('ix_follow_up_reports_checkpoint_id'))

    op.drop_table('follow_up_reports')
